#include "exporter/state.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace drift::exporter {
namespace {

using checks::CheckResult;
using checks::Finding;
using checks::Severity;
using checks::Verdict;
using std::chrono::seconds;

const WallTime kT0 = WallTime(seconds(1'700'000'000));

std::shared_ptr<CheckSpec> Spec(int threshold = 1, Severity severity = Severity::kHigh,
                                bool configured = false) {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = std::string(1, 'c');  // not = "c": a GCC 12 -Wrestrict false positive at -O2
  spec->drift_threshold = threshold;
  spec->severity = severity;
  spec->severity_configured = configured;
  return spec;
}

CheckResult Drifted(Severity cause = Severity::kNone) {
  CheckResult r;
  r.verdict = Verdict::kDrifted;
  r.findings.push_back(Finding{"cause", "o", "e", cause});
  return r;
}

CheckResult Compliant() {
  CheckResult r;
  r.verdict = Verdict::kCompliant;
  return r;
}

TEST(Advance, DriftStartsAgesAndClears) {
  CheckState s;
  s.spec = Spec();
  s = Advance(s, Compliant(), kT0, 0.1);
  EXPECT_TRUE(s.known && s.success && !s.drifted);
  s = Advance(s, Drifted(), kT0 + seconds(10), 0.1);
  EXPECT_TRUE(s.drifted);
  EXPECT_EQ(s.severity, Severity::kHigh);
  EXPECT_EQ(s.drift_since, kT0 + seconds(10));
  s = Advance(s, Drifted(), kT0 + seconds(20), 0.1);
  EXPECT_EQ(s.drift_since, kT0 + seconds(10)) << "a continuing drift keeps its start";
  s = Advance(s, Compliant(), kT0 + seconds(30), 0.1);
  EXPECT_FALSE(s.drifted);
  EXPECT_EQ(s.severity, Severity::kNone);
  EXPECT_EQ(s.drift_streak, 0);
  EXPECT_EQ(s.runs, 4u);
}

TEST(Advance, ThresholdNeedsConsecutiveDriftedRuns) {
  CheckState s;
  s.spec = Spec(3);
  s = Advance(s, Drifted(), kT0, 0);
  s = Advance(s, Drifted(), kT0 + seconds(1), 0);
  EXPECT_FALSE(s.drifted);
  EXPECT_EQ(s.severity, Severity::kNone);
  s = Advance(s, Compliant(), kT0 + seconds(2), 0);
  s = Advance(s, Drifted(), kT0 + seconds(3), 0);
  s = Advance(s, Drifted(), kT0 + seconds(4), 0);
  EXPECT_FALSE(s.drifted) << "the compliant run reset the streak";
  s = Advance(s, Drifted(), kT0 + seconds(5), 0);
  EXPECT_TRUE(s.drifted);
  EXPECT_EQ(s.drift_since, kT0 + seconds(3)) << "age counts from the streak's first drifted run";
}

TEST(Advance, ErrorKeepsLastVerdictAndNeverReadsCompliant) {
  CheckState s;
  s.spec = Spec();
  s = Advance(s, CheckResult::Error("boom"), kT0, 0);
  EXPECT_TRUE(s.ran);
  EXPECT_FALSE(s.known) << "no verdict yet: drifted must not be exported as 0";
  EXPECT_FALSE(s.success);
  s = Advance(s, Drifted(), kT0 + seconds(1), 0);
  s = Advance(s, CheckResult::Error("boom"), kT0 + seconds(2), 0);
  EXPECT_TRUE(s.drifted);
  EXPECT_FALSE(s.success);
  EXPECT_EQ(s.result.reason, "boom");
  s = Advance(s, Drifted(), kT0 + seconds(3), 0);
  EXPECT_EQ(s.drift_streak, 2) << "errors neither count nor reset";
  EXPECT_EQ(s.drift_since, kT0 + seconds(1));
}

TEST(DriftSeverity, CausesOverrideDefaultButConfiguredOverridesAll) {
  EXPECT_EQ(DriftSeverity(*Spec(1, Severity::kHigh), Drifted(Severity::kCritical)),
            Severity::kCritical);
  EXPECT_EQ(DriftSeverity(*Spec(1, Severity::kHigh), Drifted()), Severity::kHigh);
  EXPECT_EQ(DriftSeverity(*Spec(1, Severity::kLow, true), Drifted(Severity::kCritical)),
            Severity::kLow);
}

TEST(CauseSeverity, ACauseKeepsItsOwnUnlessTheCheckConfiguresOne) {
  const Finding plain{"cause", "o", "e", Severity::kNone};
  const Finding critical{"cause", "o", "e", Severity::kCritical};
  EXPECT_EQ(CauseSeverity(*Spec(1, Severity::kHigh), critical), Severity::kCritical);
  EXPECT_EQ(CauseSeverity(*Spec(1, Severity::kHigh), plain), Severity::kHigh);
  EXPECT_EQ(CauseSeverity(*Spec(1, Severity::kLow, true), critical), Severity::kLow);
}

// The status is derived in one place; every page, metric, log line, alert and record asks it.
TEST(CheckStatus, DerivedFromTheRunsAndTheLastVerdict) {
  CheckState s;
  s.spec = Spec(2);
  EXPECT_EQ(s.Status(), CheckStatus::kPending) << "no run finished yet";
  s = Advance(s, CheckResult::Error("boom"), kT0, 0);
  EXPECT_EQ(s.Status(), CheckStatus::kError) << "an error before any verdict";
  s = Advance(s, Compliant(), kT0 + seconds(1), 0);
  EXPECT_EQ(s.Status(), CheckStatus::kCompliant);
  s = Advance(s, Drifted(), kT0 + seconds(2), 0);
  EXPECT_EQ(s.Status(), CheckStatus::kCompliant) << "below the drift threshold";
  s = Advance(s, Drifted(), kT0 + seconds(3), 0);
  EXPECT_EQ(s.Status(), CheckStatus::kDrifted);
  s = Advance(s, CheckResult::Error("boom"), kT0 + seconds(4), 0);
  EXPECT_EQ(s.Status(), CheckStatus::kError) << "an error is never drifted nor compliant";
  EXPECT_TRUE(s.drifted) << "while the last known verdict stays";

  // on_scrape: a run still going at the scrape's deadline fails that scrape, even the first.
  CheckState overdue;
  overdue.spec = Spec();
  overdue.overdue = "still running";
  EXPECT_EQ(overdue.Status(), CheckStatus::kError);
  overdue = Advance(overdue, Compliant(), kT0, 0);
  overdue.overdue = "still running";
  EXPECT_EQ(overdue.Status(), CheckStatus::kError);
}

TEST(CheckStatus, EveryStatusHasItsName) {
  std::vector<std::string_view> names;
  for (CheckStatus status : kAllCheckStatuses) names.push_back(Name(status));
  EXPECT_EQ(names, (std::vector<std::string_view>{"compliant", "drifted", "error", "pending"}))
      << "in the order drift_checks{state} lists them";
}

// Severity and drift age count only while drifted, never before the threshold nor after the
// drift ended; an error keeps both, as it keeps the verdict.
TEST(CheckState, SeverityAndDriftAgeCountOnlyWhileDrifted) {
  CheckState s;
  s.spec = Spec(2, Severity::kHigh);
  s = Advance(s, Drifted(Severity::kCritical), kT0, 0);
  EXPECT_EQ(s.CurrentSeverity(), Severity::kNone);
  EXPECT_EQ(s.DriftAge(kT0 + seconds(5)), seconds(0));
  s = Advance(s, Drifted(Severity::kCritical), kT0 + seconds(10), 0);
  EXPECT_EQ(s.CurrentSeverity(), Severity::kCritical);
  EXPECT_EQ(s.DriftAge(kT0 + seconds(25)), seconds(25)) << "from the streak's first run";
  EXPECT_EQ(s.DriftAge(kT0 - seconds(5)), seconds(0)) << "never negative (a clock step)";
  s = Advance(s, CheckResult::Error("boom"), kT0 + seconds(30), 0);
  EXPECT_EQ(s.CurrentSeverity(), Severity::kCritical);
  EXPECT_EQ(s.DriftAge(kT0 + seconds(40)), seconds(40));
  CheckState stale = s;
  stale.drifted = false;  // a severity left behind counts for nothing
  EXPECT_EQ(stale.CurrentSeverity(), Severity::kNone);
  EXPECT_EQ(stale.DriftAge(kT0 + seconds(40)), seconds(0));
  s = Advance(s, Compliant(), kT0 + seconds(50), 0);
  EXPECT_EQ(s.CurrentSeverity(), Severity::kNone);
  EXPECT_EQ(s.DriftAge(kT0 + seconds(60)), seconds(0));
}

}  // namespace
}  // namespace drift::exporter
