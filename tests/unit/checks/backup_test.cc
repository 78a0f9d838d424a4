#include "checks/types/backup.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "common/rfc3339.h"
#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::backup {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using testing::ExpectFinding;
using testing::FakeClock;
using testing::FixtureHost;
using testing::Later;
using testing::MakeCheck;
using testing::Measures;
using testing::Pairs;
using testing::TestHost;

WallTime T(std::string_view rfc3339) { return *ParseRfc3339(rfc3339); }

// ---------------------------------------------------------------------------------------------
// ParseBackupStatus

TEST(BackupParseStatus, ReadsTimestampsAndStatus) {
  BackupStatus s = *ParseBackupStatus(
      R"({"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-20T04:00:00+01:00",
          "status": "success", "job": "restic", "bytes": 12})");
  EXPECT_EQ(s.last_backup, T("2024-03-01T02:00:00Z"));
  EXPECT_EQ(s.last_restore_test, T("2024-02-20T03:00:00Z"));
  EXPECT_EQ(s.status, "success");
}

TEST(BackupParseStatus, StatusIsOptional) {
  BackupStatus s = *ParseBackupStatus(
      R"({"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-20T03:00:00Z"})");
  EXPECT_EQ(s.status, std::nullopt);
  BackupStatus null_status = *ParseBackupStatus(
      R"({"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-20T03:00:00Z",
          "status": null})");
  EXPECT_EQ(null_status.status, std::nullopt);
}

TEST(BackupParseStatus, RejectsMalformedStatus) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {R"({"last_backup": "2024-03-01T02:00:00Z",})", "not valid JSON"},
      {"{\"last_backup\": \"\xff\"}", "not valid JSON"},
      {R"([])", "expected a JSON object, got array"},
      {R"("2024-03-01T02:00:00Z")", "expected a JSON object, got string"},
      {R"({"last_restore_test": "2024-02-20T03:00:00Z"})", "last_backup: missing"},
      {R"({"last_backup": null, "last_restore_test": "2024-02-20T03:00:00Z"})",
       "last_backup: missing"},
      {R"({"last_backup": 1709258400, "last_restore_test": "2024-02-20T03:00:00Z"})",
       "last_backup: expected an RFC 3339 string, got number"},
      {R"({"last_backup": "yesterday", "last_restore_test": "2024-02-20T03:00:00Z"})",
       "last_backup: invalid RFC 3339 timestamp \"yesterday\": expected "
       "YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or an offset like +02:00"},
      {R"({"last_backup": "2024-03-01T02:00:00Z"})", "last_restore_test: missing"},
      {R"({"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-30T03:00:00Z"})",
       "last_restore_test: invalid RFC 3339 timestamp \"2024-02-30T03:00:00Z\": day 30 out of "
       "range for 2024-02"},
      {R"({"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-20T03:00:00Z",
           "status": true})",
       "status: expected a string, got boolean"},
  };
  for (const auto& [text, message] : cases) {
    Result<BackupStatus> r = ParseBackupStatus(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().message, message) << text;
  }
}

TEST(BackupParseStatus, DeepNestingIsRejectedWithoutCrashing) {
  std::string deep(100'000, '[');
  EXPECT_EQ(ParseBackupStatus(deep).error().message, "not valid JSON");
  deep += std::string(100'000, ']');
  EXPECT_EQ(ParseBackupStatus(deep).error().message, "expected a JSON object, got array");
}

// ---------------------------------------------------------------------------------------------
// Factory

TEST(BackupFactory, DescribesTheType) {
  testing::ExpectTypeDefaults(
      kType, {"backup",
              Severity::kHigh,
              {{"hipaa", "164.308(a)(7)(ii)(A)"}, {"hipaa", "164.310(d)(2)(iv)"}},
              "run_backup_job",
              {"drift_backup_age_seconds", "drift_backup_restore_test_age_seconds"}});
}

TEST(BackupFactory, RejectsBadParams) {
  testing::ExpectRejected(
      kType,
      {
          {"", "drift.yml:2:3: checks[0].params.status_file: required key missing"},
          {"    max_age: 1d\n",
           "drift.yml:5:5: checks[0].params.status_file: required key missing"},
          {"    status_file: var/lib/backup/status.json\n",
           "drift.yml:5:18: checks[0].params.status_file: expected an absolute host path, got "
           "\"var/lib/backup/status.json\""},
          {"    status_file: [/a]\n",
           "drift.yml:5:18: checks[0].params.status_file: expected a string, got a list"},
          {"    status_file: /s.json\n    max_age: 0s\n",
           "drift.yml:6:14: checks[0].params.max_age: zero duration \"0s\"; expected a positive "
           "duration"},
          {"    status_file: /s.json\n    restore_test_max_age: monthly\n",
           "drift.yml:6:27: checks[0].params.restore_test_max_age: invalid duration "
           "\"monthly\"; expected e.g. 30s, 5m, 1h30m"},
          {"    status_file: /s.json\n    status: /t.json\n",
           "drift.yml:6:5: checks[0].params.status: unknown key; expected one of: max_age, "
           "restore_test_max_age, status_file"},
      });
}

// ---------------------------------------------------------------------------------------------
// Run()

constexpr std::string_view kStatusParams = "    status_file: /var/lib/backup/status.json\n";

TEST(BackupRun, FreshBackupAndRestoreTestAreCompliant) {
  TestHost t(FixtureHost("backup-fresh"));
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "last backup 2h13m20s ago, last restore test 13d20h13m20s ago");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(Pairs(r.observations), (std::vector<std::pair<std::string, std::string>>{
                                       {"status_file", "/var/lib/backup/status.json"},
                                       {"last_backup", "2023-11-14T20:00:00Z"},
                                       {"last_backup_age", "2h13m20s"},
                                       {"last_restore_test", "2023-11-01T02:00:00Z"},
                                       {"last_restore_test_age", "13d20h13m20s"},
                                       {"status", "success"},
                                   }));
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_backup_age_seconds", 8000},
                             {"drift_backup_restore_test_age_seconds", 13 * 86400 + 72800}}));
  EXPECT_TRUE(t.commands.commands_ran().empty());
  EXPECT_EQ(t.memory->files_read(), std::vector<std::string>{"/var/lib/backup/status.json"});
}

TEST(BackupRun, OldBackupIsDrift) {
  TestHost t(FixtureHost("backup-fresh"));
  t.clock.Advance(days(1));
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "backup_too_old: observed 1d2h13m20s, expected at most 1d");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "backup_too_old", "1d2h13m20s", "at most 1d");
  // Measured also when drifted.
  EXPECT_EQ(Measures(r)[0],
            (std::pair<std::string, double>{"drift_backup_age_seconds", 86400 + 8000}));
}

TEST(BackupRun, OldRestoreTestIsDrift) {
  TestHost t(FixtureHost("backup-fresh"));
  CheckResult r = MakeCheck(kType, std::string(kStatusParams) +
                                       "    restore_test_max_age: 7d\n    max_age: 3h\n")
                      ->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "restore_test_too_old: observed 13d20h13m20s, expected at most 7d");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "restore_test_too_old", "13d20h13m20s", "at most 7d");
}

TEST(BackupRun, FailedLastRunIsDriftAlongsideAge) {
  TestHost t(FixtureHost("backup-failed"));
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "backup_too_old: observed 2d20h43m19s, expected at most 1d; last_backup_failed: "
            "observed failed, expected success");
  ASSERT_EQ(r.findings.size(), 2u);
  ExpectFinding(r.findings[0], "backup_too_old", "2d20h43m19s", "at most 1d");
  ExpectFinding(r.findings[1], "last_backup_failed", "failed", "success");
  EXPECT_EQ(Pairs(r.observations)[1],
            (std::pair<std::string, std::string>{"last_backup", "2023-11-12T01:30:00.250Z"}));
  EXPECT_EQ(Measures(r)[0],
            (std::pair<std::string, double>{"drift_backup_age_seconds", 2 * 86400 + 74599.75}));
}

TEST(BackupRun, MissingStatusFileIsDrift) {
  TestHost t(FixtureHost("backup-fresh"));
  CheckResult r =
      MakeCheck(kType, "    status_file: /var/lib/backup/missing.json\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "status_file_missing: observed missing, expected a status file at "
            "/var/lib/backup/missing.json");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "status_file_missing", "missing",
                "a status file at /var/lib/backup/missing.json");
  EXPECT_TRUE(r.measures.empty());
}

TEST(BackupRun, TruncatedStatusFileIsDrift) {
  TestHost t(FixtureHost("backup-corrupt"));
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "status_file_invalid: observed not valid JSON, expected a JSON object with RFC 3339 "
            "last_backup and last_restore_test");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "status_file_invalid", "not valid JSON",
                "a JSON object with RFC 3339 last_backup and last_restore_test");
}

// A status file written into an in-memory root, for contents no fixture needs to keep.
class BackupTempTest : public ::testing::Test {
 protected:
  void Write(std::string_view content) { root_.AddFile("/var/lib/backup/status.json", content); }
  testing::MemoryFileSystem root_;
};

TEST_F(BackupTempTest, TimestampsInTheFutureAreInvalid) {
  const WallTime now = FakeClock().Now();
  Write(fmt::format(R"({{"last_backup": "{}", "last_restore_test": "{}"}})",
                    FormatRfc3339(now + hours(2)), FormatRfc3339(now + days(3) + minutes(6))));
  TestHost t(root_);
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "status_file_invalid: observed last_backup is 2h in the future, last_restore_test is "
            "3d6m in the future, expected timestamps no later than now");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "status_file_invalid",
                "last_backup is 2h in the future, last_restore_test is 3d6m in the future",
                "timestamps no later than now");
  EXPECT_TRUE(r.measures.empty());
}

TEST_F(BackupTempTest, SmallClockSkewCountsAsJustNow) {
  const WallTime now = FakeClock().Now();
  Write(fmt::format(R"({{"last_backup": "{}", "last_restore_test": "{}", "status": "success"}})",
                    FormatRfc3339(now + minutes(4)), FormatRfc3339(now - days(1))));
  TestHost t(root_);
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "last backup 0s ago, last restore test 1d ago");
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_backup_age_seconds", 0},
                             {"drift_backup_restore_test_age_seconds", 86400}}));
}

TEST_F(BackupTempTest, OddStatusValuesAreQuotedAndShortened) {
  const WallTime now = FakeClock().Now();
  Write(fmt::format(R"({{"last_backup": "{}", "last_restore_test": "{}", "status": "{}"}})",
                    FormatRfc3339(now), FormatRfc3339(now), "partial\\nsee log"));
  TestHost t(root_);
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "last_backup_failed: observed \"partial\\nsee log\", expected success");
}

TEST_F(BackupTempTest, OversizedStatusFileIsAnError) {
  Write(std::string((1 << 20) + 1, ' '));
  TestHost t(root_);
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the backup status file: /var/lib/backup/status.json: larger than 1048576 "
            "bytes");
}

TEST(BackupRun, StatusPathThatIsADirectoryIsAnError) {
  TestHost t(FixtureHost("backup-fresh"));
  CheckResult r = MakeCheck(kType, "    status_file: /var/lib/backup\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot read the backup status file: /var/lib/backup: Is a directory");
}

// Permission errors cannot be staged on disk when tests run as root; the in-memory file system
// answers as a RootedFileSystem does for EACCES.
TEST(BackupRun, UnreadableStatusFileIsAnErrorNotDrift) {
  testing::MemoryFileSystem denied;
  denied.AddFile("/var/lib/backup/status.json", "{}");
  denied.Deny("/var/lib/backup/status.json");
  TestHost t(denied);
  CheckResult r = MakeCheck(kType, kStatusParams)->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the backup status file: /var/lib/backup/status.json: Permission denied");
  EXPECT_TRUE(r.findings.empty());
}

}  // namespace
}  // namespace drift::checks::backup
