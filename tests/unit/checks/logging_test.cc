#include "checks/types/logging.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checks/rooted_fs.h"
#include "tests/support/fakes.h"

namespace drift::checks::logging {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

std::string Str(const Finding& f) {
  return fmt::format("{} | {} | {} | {}", f.cause, f.observed, f.expected,
                     SeverityName(f.severity));
}

std::string ValueOf(const std::vector<Observation>& obs, std::string_view key) {
  for (const Observation& o : obs) {
    if (o.key == key) return o.value;
  }
  return "<absent>";
}

CheckPtr Make(std::string_view params) {
  ConfigNode root = ConfigNode::Parse(
      fmt::format("checks:\n- name: log\n  type: logging\n  params:\n{}", params), "drift.yml");
  ConfigNode check = root.Child("checks").Items()[0];
  return kType.create(Params(check, check.Find("params"), std::nullopt));
}

std::string FactoryError(std::string_view params) {
  try {
    Make(params);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

// A journal whose writes fail, as when journald's socket is gone.
class UnwritableJournal final : public Journal {
 public:
  Status Write(std::string_view, std::string_view, Deadline) const override {
    return Err("sd_journal_send: Connection refused");
  }
  Result<std::vector<std::string>> ReadSince(std::string_view, WallTime, Deadline) const override {
    return std::vector<std::string>{};
  }
};

class LoggingTest : public ::testing::Test {
 protected:
  LoggingTest() {
    services_.Set("systemd-journald.service", "active");
    services_.Set("rsyslog.service", "active");
  }
  Host host() const { return Host{fs_, commands_, services_, journal_, clock_}; }
  static Deadline Later() { return steady_clock::now() + seconds(10); }

  testing::FakeClock clock_;
  RootedFileSystem fs_{std::string(DRIFT_FIXTURES_DIR) + "/hosts"};
  testing::FakeCommandRunner commands_;
  testing::FakeServiceManager services_;
  testing::FakeJournal journal_{clock_};
};

TEST(LoggingType, Metadata) {
  EXPECT_EQ(kType.name, "logging");
  EXPECT_EQ(kType.default_severity, Severity::kHigh);
  ASSERT_EQ(kType.default_controls.size(), 2u);
  EXPECT_EQ(kType.default_controls[0].framework, "hipaa");
  EXPECT_EQ(kType.default_controls[0].id, "164.312(b)");
  EXPECT_EQ(kType.default_controls[1].framework, "hipaa");
  EXPECT_EQ(kType.default_controls[1].id, "164.308(a)(1)(ii)(D)");
  EXPECT_EQ(kType.default_action, "restart_logging_services");
  EXPECT_TRUE(kType.measures.empty());
}

TEST(ParseCanaryLine, AcceptsExactlyTheCanaryFormat) {
  EXPECT_EQ(ParseCanaryLine("drift_exporter canary check=0a1b2c3d nonce=0123456789abcdef"),
            (CanaryLine{"0a1b2c3d", "0123456789abcdef"}));
  EXPECT_EQ(FormatCanaryLine("0a1b2c3d", "0123456789abcdef"),
            "drift_exporter canary check=0a1b2c3d nonce=0123456789abcdef");
}

TEST(ParseCanaryLine, RejectsAnythingElse) {
  for (std::string_view line : {
           "", "drift_exporter started", "drift_exporter canary check=0a1b2c3d",
           "drift_exporter canary check=0a1b2c3 nonce=0123456789abcdef",     // short instance
           "drift_exporter canary check=0a1b2c3dd nonce=0123456789abcdef",   // long instance
           "drift_exporter canary check=0a1b2c3d nonce=0123456789abcde",     // short nonce
           "drift_exporter canary check=0a1b2c3d nonce=0123456789abcdef0",   // long nonce
           "drift_exporter canary check=0A1B2C3D nonce=0123456789abcdef",    // upper case
           "drift_exporter canary check=0a1b2c3g nonce=0123456789abcdef",    // not hex
           "drift_exporter canary check=0a1b2c3d nonse=0123456789abcdef",    // wrong key
           "drift_exporter canary check=0a1b2c3d  nonce=0123456789abcde",    // two spaces
           " drift_exporter canary check=0a1b2c3d nonce=0123456789abcdef",   // leading space
           "drift_exporter canary check=0a1b2c3d nonce=0123456789abcdef\n",  // trailing newline
       }) {
    EXPECT_EQ(ParseCanaryLine(line), std::nullopt) << line;
  }
}

TEST_F(LoggingTest, CompliantWritesACanaryAndReadsItBack) {
  CheckPtr check = Make("    services: [systemd-journald.service, rsyslog.service]\n");
  CheckResult r = check->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason,
            "systemd-journald.service, rsyslog.service active; the journal recorded a canary in "
            "the last 1h");
  EXPECT_EQ(ValueOf(r.observations, "systemd-journald.service"), "active");
  EXPECT_EQ(ValueOf(r.observations, "rsyslog.service"), "active");
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"), "1 canary line(s) in the last 1h");

  // Exactly one line, under the default identifier, in the documented format, and the same line
  // the observations name.
  Result<std::vector<std::string>> lines =
      journal_.ReadSince("drift_exporter", clock_.Now() - seconds(1), Later());
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 1u);
  std::optional<CanaryLine> canary = ParseCanaryLine((*lines)[0]);
  ASSERT_TRUE(canary.has_value()) << (*lines)[0];
  EXPECT_EQ(ValueOf(r.observations, "canary_written"), (*lines)[0]);

  // The next run writes a new nonce under the same instance token.
  ASSERT_EQ(check->Run(host(), Later()).verdict, Verdict::kCompliant);
  lines = journal_.ReadSince("drift_exporter", clock_.Now() - seconds(1), Later());
  ASSERT_EQ(lines->size(), 2u);
  std::optional<CanaryLine> second = ParseCanaryLine((*lines)[1]);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->instance, canary->instance);
  EXPECT_NE(second->nonce, canary->nonce);
}

TEST_F(LoggingTest, DefaultsWatchJournaldAndUseTheConfiguredIdentifier) {
  CheckPtr check = Make("    identifier: compliance.canary\n");
  CheckResult r = check->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason,
            "systemd-journald.service active; the journal recorded a canary in the last 1h");
  EXPECT_EQ(ValueOf(r.observations, "rsyslog.service"), "<absent>");
  EXPECT_EQ(journal_.ReadSince("compliance.canary", clock_.Now(), Later())->size(), 1u);
  EXPECT_TRUE(journal_.ReadSince("drift_exporter", clock_.Now(), Later())->empty());
}

TEST_F(LoggingTest, EachInstanceHasItsOwnToken) {
  CheckPtr a = Make("    window: 5m\n");
  CheckPtr b = Make("    window: 5m\n");
  ASSERT_EQ(a->Run(host(), Later()).verdict, Verdict::kCompliant);
  ASSERT_EQ(b->Run(host(), Later()).verdict, Verdict::kCompliant);
  auto lines = journal_.ReadSince("drift_exporter", clock_.Now(), Later());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_NE(ParseCanaryLine((*lines)[0])->instance, ParseCanaryLine((*lines)[1])->instance);
}

TEST_F(LoggingTest, InactiveServicesAreOneFindingEach) {
  services_.Set("rsyslog.service", "failed");
  services_.Set("systemd-journald.service", "inactive");
  CheckResult r =
      Make("    services: [systemd-journald.service, rsyslog.service]\n")->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "service_inactive: observed systemd-journald.service: inactive, expected active; "
            "service_inactive: observed rsyslog.service: failed, expected active");
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(Str(r.findings[0]),
            "service_inactive | systemd-journald.service: inactive | active | none");
  EXPECT_EQ(Str(r.findings[1]), "service_inactive | rsyslog.service: failed | active | none");
}

TEST_F(LoggingTest, EarlierCanaryInTheWindowCountsWhenTheNewOneLags) {
  CheckPtr check = Make("    window: 10m\n");
  ASSERT_EQ(check->Run(host(), Later()).verdict, Verdict::kCompliant);
  journal_.DropWrites(true);
  clock_.Advance(std::chrono::minutes(9));
  CheckResult r = check->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"), "1 canary line(s) in the last 10m");
}

TEST_F(LoggingTest, CanaryMissingOnceTheWindowHasPassed) {
  CheckPtr check = Make("    window: 10m\n");
  ASSERT_EQ(check->Run(host(), Later()).verdict, Verdict::kCompliant);
  journal_.DropWrites(true);
  clock_.Advance(std::chrono::minutes(11));
  steady_clock::time_point start = steady_clock::now();
  CheckResult r = check->Run(host(), Later());
  // Re-read three times, 250 ms apart, before concluding the line is missing.
  EXPECT_GE(steady_clock::now() - start, milliseconds(750));
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "canary_missing: observed no canary line in the last 10m, expected the canary written "
            "by this exporter");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            "canary_missing | no canary line in the last 10m | the canary written by this "
            "exporter | none");
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"), "0 canary line(s) in the last 10m");
}

TEST_F(LoggingTest, RereadsStopAtTheDeadline) {
  journal_.DropWrites(true);
  steady_clock::time_point start = steady_clock::now();
  CheckResult r = Make("")->Run(host(), start + milliseconds(300));
  // One re-read fits before the deadline, a second would not.
  EXPECT_LT(steady_clock::now() - start, milliseconds(500));
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].cause, "canary_missing");
}

TEST_F(LoggingTest, AnotherInstancesCanaryDoesNotCount) {
  ASSERT_TRUE(journal_
                  .Write("drift_exporter",
                         "drift_exporter canary check=00000000 nonce=0000000000000000", Later())
                  .ok());
  ASSERT_TRUE(journal_.Write("drift_exporter", "some other message", Later()).ok());
  journal_.DropWrites(true);
  CheckResult r = Make("")->Run(host(), steady_clock::now() + milliseconds(100));
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].cause, "canary_missing");
}

TEST_F(LoggingTest, FailedWriteIsDrift) {
  UnwritableJournal journal;
  CheckResult r = Make("")->Run(Host{fs_, commands_, services_, journal, clock_}, Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "canary_write_failed: observed sd_journal_send: Connection refused, expected the "
            "canary written to the journal");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            "canary_write_failed | sd_journal_send: Connection refused | the canary written to "
            "the journal | none");
}

TEST_F(LoggingTest, ServiceQueryFailureIsAnError) {
  CheckResult r = Make("    services: [syslog-ng.service]\n")->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of syslog-ng.service: systemctl: cannot query "
            "syslog-ng.service");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_TRUE(journal_.ReadSince("drift_exporter", clock_.Now(), Later())->empty());
}

TEST_F(LoggingTest, JournalReadFailureIsAnError) {
  journal_.FailReads(true);
  CheckResult r = Make("")->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot read the journal: journalctl: failed to read the journal");
}

TEST_F(LoggingTest, KnownDriftStandsWhenTheJournalCannotBeRead) {
  services_.Set("rsyslog.service", "failed");
  journal_.FailReads(true);
  CheckResult r = Make("    services: [rsyslog.service]\n")->Run(host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | rsyslog.service: failed | active | none");
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"),
            "unknown: cannot read the journal: journalctl: failed to read the journal");
}

TEST(LoggingFactory, RejectsBadParams) {
  struct Case {
    std::string params;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"    services: []\n",
       "drift.yml:5:15: checks[0].params.services: expected a non-empty list of systemd unit "
       "names"},
      {"    services: rsyslog.service\n",
       "drift.yml:5:15: checks[0].params.services: expected a list, got \"rsyslog.service\""},
      {"    services:\n    - rsyslog.service\n    - -rsyslog.service\n",
       "drift.yml:7:7: checks[0].params.services[1]: expected a systemd unit name like "
       "nftables.service"},
      {"    services: [rsyslog.service, rsyslog.service]\n",
       "drift.yml:5:33: checks[0].params.services[1]: duplicate unit; list each unit once"},
      {"    window: 0s\n",
       "drift.yml:5:13: checks[0].params.window: zero duration \"0s\"; expected a positive "
       "duration"},
      {"    identifier: 'drift exporter'\n",
       "drift.yml:5:17: checks[0].params.identifier: expected a syslog identifier of 1 to 64 "
       "characters from A-Z a-z 0-9 _ . -"},
      {"    identifier: ''\n",
       "drift.yml:5:17: checks[0].params.identifier: expected a syslog identifier of 1 to 64 "
       "characters from A-Z a-z 0-9 _ . -"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FactoryError(c.params), c.error) << c.params;
  }
}

}  // namespace
}  // namespace drift::checks::logging
