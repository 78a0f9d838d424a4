#include "checks/types/logging.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::logging {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Later;
using testing::MakeCheck;
using testing::Str;

std::string ValueOf(const std::vector<Observation>& obs, std::string_view key) {
  for (const Observation& o : obs) {
    if (o.key == key) return o.value;
  }
  return "<absent>";
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
    t_.services.Set("systemd-journald.service", "active");
    t_.services.Set("rsyslog.service", "active");
  }

  testing::MemoryFileSystem files_;  // empty: the check reads no files
  testing::TestHost t_{files_};
};

TEST(LoggingType, Metadata) {
  testing::ExpectTypeDefaults(kType, {"logging",
                                      Severity::kHigh,
                                      {{"hipaa", "164.312(b)"}, {"hipaa", "164.308(a)(1)(ii)(D)"}},
                                      "restart_logging_services",
                                      {}});
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
  CheckPtr check = MakeCheck(kType, "    services: [systemd-journald.service, rsyslog.service]\n");
  CheckResult r = check->Run(t_.host(), Later());
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
      t_.journal.ReadSince("drift_exporter", t_.clock.Now() - seconds(1), Later());
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 1u);
  std::optional<CanaryLine> canary = ParseCanaryLine((*lines)[0]);
  ASSERT_TRUE(canary.has_value()) << (*lines)[0];
  EXPECT_EQ(ValueOf(r.observations, "canary_written"), (*lines)[0]);

  // The next run writes a new nonce under the same instance token.
  ASSERT_EQ(check->Run(t_.host(), Later()).verdict, Verdict::kCompliant);
  lines = t_.journal.ReadSince("drift_exporter", t_.clock.Now() - seconds(1), Later());
  ASSERT_EQ(lines->size(), 2u);
  std::optional<CanaryLine> second = ParseCanaryLine((*lines)[1]);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->instance, canary->instance);
  EXPECT_NE(second->nonce, canary->nonce);
}

TEST_F(LoggingTest, DefaultsWatchJournaldAndUseTheConfiguredIdentifier) {
  CheckPtr check = MakeCheck(kType, "    identifier: compliance.canary\n");
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason,
            "systemd-journald.service active; the journal recorded a canary in the last 1h");
  EXPECT_EQ(ValueOf(r.observations, "rsyslog.service"), "<absent>");
  EXPECT_EQ(t_.journal.ReadSince("compliance.canary", t_.clock.Now(), Later())->size(), 1u);
  EXPECT_TRUE(t_.journal.ReadSince("drift_exporter", t_.clock.Now(), Later())->empty());
}

TEST_F(LoggingTest, EachInstanceHasItsOwnToken) {
  CheckPtr a = MakeCheck(kType, "    window: 5m\n");
  CheckPtr b = MakeCheck(kType, "    window: 5m\n");
  ASSERT_EQ(a->Run(t_.host(), Later()).verdict, Verdict::kCompliant);
  ASSERT_EQ(b->Run(t_.host(), Later()).verdict, Verdict::kCompliant);
  auto lines = t_.journal.ReadSince("drift_exporter", t_.clock.Now(), Later());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_NE(ParseCanaryLine((*lines)[0])->instance, ParseCanaryLine((*lines)[1])->instance);
}

TEST_F(LoggingTest, InactiveServicesAreOneFindingEach) {
  t_.services.Set("rsyslog.service", "failed");
  t_.services.Set("systemd-journald.service", "inactive");
  CheckResult r = MakeCheck(kType, "    services: [systemd-journald.service, rsyslog.service]\n")
                      ->Run(t_.host(), Later());
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
  CheckPtr check = MakeCheck(kType, "    window: 10m\n");
  ASSERT_EQ(check->Run(t_.host(), Later()).verdict, Verdict::kCompliant);
  t_.journal.DropWrites(true);
  t_.clock.Advance(std::chrono::minutes(9));
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"), "1 canary line(s) in the last 10m");
}

TEST_F(LoggingTest, CanaryMissingOnceTheWindowHasPassed) {
  CheckPtr check = MakeCheck(kType, "    window: 10m\n");
  ASSERT_EQ(check->Run(t_.host(), Later()).verdict, Verdict::kCompliant);
  t_.journal.DropWrites(true);
  t_.clock.Advance(std::chrono::minutes(11));
  const Deadline start = t_.monotonic.Now();
  CheckResult r = check->Run(t_.host(), start + seconds(10));
  // Re-read three times, 250 ms apart, before concluding the line is missing.
  EXPECT_EQ(t_.monotonic.Now() - start, milliseconds(750));
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
  t_.journal.DropWrites(true);
  const Deadline start = t_.monotonic.Now();
  CheckResult r = MakeCheck(kType, "")->Run(t_.host(), start + milliseconds(300));
  // One re-read fits before the deadline, a second would not.
  EXPECT_EQ(t_.monotonic.Now() - start, milliseconds(250));
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].cause, "canary_missing");
}

TEST_F(LoggingTest, AnotherInstancesCanaryDoesNotCount) {
  ASSERT_TRUE(t_.journal
                  .Write("drift_exporter",
                         "drift_exporter canary check=00000000 nonce=0000000000000000", Later())
                  .ok());
  ASSERT_TRUE(t_.journal.Write("drift_exporter", "some other message", Later()).ok());
  t_.journal.DropWrites(true);
  CheckResult r = MakeCheck(kType, "")->Run(t_.host(), t_.monotonic.Now() + milliseconds(100));
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].cause, "canary_missing");
}

TEST_F(LoggingTest, FailedWriteIsDrift) {
  UnwritableJournal journal;
  CheckResult r = MakeCheck(kType, "")->Run(
      Host{t_.fs, t_.commands, t_.services, journal, t_.clock, t_.monotonic}, Later());
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
  CheckResult r = MakeCheck(kType, "    services: [syslog-ng.service]\n")->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of syslog-ng.service: systemctl: cannot query "
            "syslog-ng.service");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_TRUE(t_.journal.ReadSince("drift_exporter", t_.clock.Now(), Later())->empty());
}

TEST_F(LoggingTest, JournalReadFailureIsAnError) {
  t_.journal.FailReads(true);
  CheckResult r = MakeCheck(kType, "")->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot read the journal: journalctl: failed to read the journal");
}

TEST_F(LoggingTest, KnownDriftStandsWhenTheJournalCannotBeRead) {
  t_.services.Set("rsyslog.service", "failed");
  t_.journal.FailReads(true);
  CheckResult r = MakeCheck(kType, "    services: [rsyslog.service]\n")->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | rsyslog.service: failed | active | none");
  EXPECT_EQ(ValueOf(r.observations, "canary_seen"),
            "unknown: cannot read the journal: journalctl: failed to read the journal");
}

TEST(LoggingFactory, RejectsBadParams) {
  testing::ExpectRejected(
      kType,
      {
          {"    services: []\n",
           "drift.yml:5:15: checks[0].params.services: expected a non-empty list of systemd unit "
           "names"},
          {"    services: rsyslog.service\n",
           "drift.yml:5:15: checks[0].params.services: expected a list, got \"rsyslog.service\""},
          {"    services:\n    - rsyslog.service\n    - -rsyslog.service\n",
           "drift.yml:7:7: checks[0].params.services[1]: expected a systemd unit name like "
           "nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got "
           "\"-rsyslog.service\""},
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
      });
}

}  // namespace
}  // namespace drift::checks::logging
