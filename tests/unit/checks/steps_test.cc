#include "checks/steps.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "tests/support/check_testing.h"

namespace drift::checks {
namespace {

using testing::Later;
using testing::Str;

// OneLine's own tests are in tests/unit/common/strings_test.cc.
TEST(ReasonTest, IsBoundedToMaxReasonBytes) {
  const std::string reason = CheckResult::Error(std::string(600, 'x')).reason;
  EXPECT_EQ(reason.size(), kMaxReasonBytes);
  EXPECT_EQ(reason.substr(kMaxReasonBytes - 4), "x\xe2\x80\xa6");
}

// What RunChecked says of `output` from "nft -s list ruleset", run with `options`.
std::string RunCheckedReason(const CommandOutput& output, RunOptions options = {}) {
  testing::FakeCommandRunner runner;
  runner.Script("nft -s list ruleset", output);
  Command command{{"nft", "-s", "list", "ruleset"}};
  Result<CommandOutput> ran = RunChecked(runner, command, Deadline::max(), options);
  return ran.ok() ? "ok" : ran.error().message;
}

TEST(RunCheckedTest, SaysEachFailureOneWay) {
  const RunOptions nft{.name = "nft -s list ruleset"};
  EXPECT_EQ(RunCheckedReason(testing::Exited(0, "table ip x {}\n"), nft), "ok");
  EXPECT_EQ(RunCheckedReason(testing::TimedOut("partial"), nft),
            "nft -s list ruleset timed out after 10s");
  CommandOutput flood = testing::KilledBy(9, "table");
  flood.truncated = true;
  EXPECT_EQ(RunCheckedReason(flood, nft),
            "nft -s list ruleset printed more than 1048576 bytes (output truncated)");
  EXPECT_EQ(RunCheckedReason(testing::KilledBy(11), nft),
            "nft -s list ruleset was killed by signal 11");
  EXPECT_EQ(RunCheckedReason(testing::Exited(1, "", "Error: one\n\n  two\n"), nft),
            "nft -s list ruleset exited with status 1: Error: one; two");
  EXPECT_EQ(RunCheckedReason(testing::Exited(3, "out only"), nft),
            "nft -s list ruleset exited with status 3");
  // Without a name, the argv names the command.
  EXPECT_EQ(RunCheckedReason(testing::Exited(3, "")), "nft -s list ruleset exited with status 3");
}

TEST(RunCheckedTest, QuotesABoundedStderr) {
  const std::string reason = RunCheckedReason(testing::Exited(1, "", std::string(1000, 'e')));
  EXPECT_EQ(reason, "nft -s list ruleset exited with status 1: " +
                        std::string(kMaxStderrInReason - 3, 'e') + "\xe2\x80\xa6");
}

TEST(RunCheckedTest, AnyExitStatusReturnsTheOutput) {
  const RunOptions any{.any_exit_status = true};
  EXPECT_EQ(RunCheckedReason(testing::Exited(4, "inactive\n"), any), "ok");
  // A signal or a timeout is still a failure.
  EXPECT_EQ(RunCheckedReason(testing::KilledBy(9), any),
            "nft -s list ruleset was killed by signal 9");
  EXPECT_EQ(ExitStatusReason("x", testing::Exited(2, "", "bad\n")), "x exited with status 2: bad");
}

TEST(RunCheckedTest, SystemdToolsSayWhenSystemdIsNotRunning) {
  const std::string no_systemd =
      "System has not been booted with systemd as init system (PID 1). Can't operate.\n";
  EXPECT_EQ(RunCheckedReason(testing::Exited(1, "", no_systemd), {.systemd = true}),
            "systemd is not running here (container?)");
  EXPECT_EQ(RunCheckedReason(testing::Exited(1, "", no_systemd)),
            "nft -s list ruleset exited with status 1: System has not been booted with systemd as "
            "init system (PID 1). Can't operate.");
}

TEST(RunCheckedTest, ARunnerErrorSaysWhetherTheProgramIsMissing) {
  const Command command{{"nft", "-s", "list", "ruleset"}};
  const RunOptions nft{.name = "nft -s list ruleset"};
  testing::FakeCommandRunner runner;
  runner.NotInstalled("nft");
  Result<CommandOutput> ran = RunChecked(runner, command, Deadline::max(), nft);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.error().message, "nft is not installed (not found in command path /fake/bin)");
  EXPECT_EQ(ran.error().sys_errno, ENOENT);

  testing::FakeCommandRunner broken;
  broken.Fail("nft -s list ruleset", Error{"cannot create a pipe: Too many open files", EMFILE});
  ran = RunChecked(broken, command, Deadline::max(), nft);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.error().message,
            "nft -s list ruleset could not start: cannot create a pipe: Too many open files");
  EXPECT_EQ(ran.error().sys_errno, EMFILE);

  // A runner that says only that the program is missing.
  broken.Fail("nft -s list ruleset", Error{"no such program", ENOENT});
  ran = RunChecked(broken, command, Deadline::max(), nft);
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.error().message, "nft is not installed (no such program)");
}

// When the check's deadline stops a command before its own timeout, the reason gives the time
// the command had.
TEST(RunCheckedTest, ATimeoutNamesTheLimitThatApplied) {
  testing::FakeCommandRunner runner;
  runner.Script("sleep 60", testing::TimedOut());
  Command command{{"sleep", "60"}};
  command.timeout = std::chrono::seconds(60);
  Result<CommandOutput> ran = RunChecked(runner, command, Deadline{}, {});
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.error().message, "sleep 60 timed out after 0s");
  ran = RunChecked(runner, command, Deadline::max(), {});
  ASSERT_FALSE(ran.ok());
  EXPECT_EQ(ran.error().message, "sleep 60 timed out after 60s");
}

TEST(NoSystemdReasonTest, RecognisesWhatSystemdToolsPrint) {
  EXPECT_EQ(NoSystemdReason("System has not been booted with systemd as init system (PID 1). "
                            "Can't operate.\nFailed to connect to bus: Host is down\n"),
            "systemd is not running here (container?)");
  EXPECT_EQ(NoSystemdReason("Failed to connect to bus: Permission denied\nmore\n"),
            "systemd is not running here (container?), or its bus is unreachable: Failed to "
            "connect to bus: Permission denied");
  EXPECT_EQ(NoSystemdReason("Access denied\n"), "");
}

TEST(CheckServiceActiveTest, AUnitThatIsNotInstalledSaysSo) {
  testing::TestHost t(testing::FixtureHost("av_edr_healthy"));
  t.services.Set("rsyslog.service", std::string(kUnitNotFound));
  t.services.Set("auditd.service", "failed");
  std::vector<Observation> observations;
  std::vector<Finding> findings;
  for (const char* unit : {"rsyslog.service", "auditd.service"}) {
    ASSERT_TRUE(CheckServiceActive(t.host(), unit, Later(), ServiceRecord::kByUnit, Severity::kNone,
                                   observations, findings)
                    .ok());
  }
  EXPECT_EQ(Str(observations), "rsyslog.service=not installed;auditd.service=failed;");
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(Str(findings[0]),
            "service_inactive | rsyslog.service is not installed | active | none");
  EXPECT_EQ(Str(findings[1]), "service_inactive | auditd.service: failed | active | none");
}

// Every reason leaves Error() and Conclude() as one bounded line, whatever went in.
TEST(ReasonTest, ErrorAndConcludeMakeReasonsOneLine) {
  EXPECT_EQ(CheckResult::Error("cannot run x:\nline two\n").reason, "cannot run x: line two");
  EXPECT_EQ(CheckResult::Error(std::string(2000, 'e')).reason.size(), kMaxReasonBytes);
  CheckResult drifted =
      Conclude({{"canary_write_failed", "logger: exit code 1\nsecond", "written"}}, {}, {}, "");
  EXPECT_EQ(drifted.reason,
            "canary_write_failed: observed logger: exit code 1; second, expected written");
  EXPECT_EQ(Conclude({}, {}, {}, "all\nfine").reason, "all; fine");
}

}  // namespace
}  // namespace drift::checks
