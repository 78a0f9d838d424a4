#include "exporter/state.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace drift::exporter
