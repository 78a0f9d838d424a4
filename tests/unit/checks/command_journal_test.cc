#include "checks/command_journal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace drift::checks {
namespace {

using testing::Exited;
using testing::FakeCommandRunner;
using testing::TimedOut;

const Deadline kDeadline = Deadline::max();
const std::string kLogger = "logger --tag drift-canary --priority user.notice -- canary 42";
const std::string kJournalctl =
    "journalctl --no-pager --quiet --output=cat --identifier=drift-canary --since=@1700000000";
// 1700000000.75 s: the half-second is rounded down so nothing logged since is missed.
const WallTime kSince = WallTime(std::chrono::milliseconds(1'700'000'000'750));

// What writing "canary 42" as drift-canary returns when logger answers with `output`.
Status WriteWhen(const CommandOutput& output) {
  FakeCommandRunner runner;
  runner.Script(kLogger, output);
  return CommandJournal(runner).Write("drift-canary", "canary 42", kDeadline);
}

// What reading drift-canary's lines since kSince returns when journalctl answers with `output`.
Result<std::vector<std::string>> ReadWhen(const CommandOutput& output) {
  FakeCommandRunner runner;
  runner.Script(kJournalctl, output);
  return CommandJournal(runner).ReadSince("drift-canary", kSince, kDeadline);
}

TEST(CommandJournalTest, WritesThroughLogger) {
  FakeCommandRunner runner;
  runner.Script(kLogger, 0, "");
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "canary 42", kDeadline);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(runner.commands_ran(),
            (std::vector<std::vector<std::string>>{{"logger", "--tag", "drift-canary", "--priority",
                                                    "user.notice", "--", "canary 42"}}));
}

TEST(CommandJournalTest, AMessageLikeAnOptionStaysAMessage) {
  FakeCommandRunner runner;
  runner.Script("logger --tag drift-canary --priority user.notice -- --help $(id)", 0, "");
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "--help $(id)", kDeadline);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(runner.commands_ran().at(0).back(), "--help $(id)");
}

TEST(CommandJournalTest, LoggerFailureIsAnErrorWithStderr) {
  Status s = WriteWhen(Exited(1, "", "logger: socket /dev/log: No such file or directory\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "logger exited with status 1: logger: socket /dev/log: No such file or directory");
}

TEST(CommandJournalTest, LoggerTimeoutIsAnError) {
  Status s = WriteWhen(TimedOut());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "logger timed out after 10s");
}

TEST(CommandJournalTest, LoggerNotRunnableIsAnError) {
  FakeCommandRunner runner;
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "canary 42", kDeadline);
  ASSERT_FALSE(s.ok());
  // The fake says of an unscripted command what the runner says of a missing program (ENOENT).
  EXPECT_EQ(s.error().message, "logger is not installed (unscripted: " + kLogger + ")");
}

TEST(CommandJournalTest, LoggerNotInstalledSaysSo) {
  FakeCommandRunner runner;
  runner.NotInstalled("logger");
  Status s = CommandJournal(runner).Write("drift-canary", "canary 42", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "logger is not installed (not found in command path /fake/bin)");
}

TEST(CommandJournalTest, JournalctlWithoutSystemdSaysSoInOneLine) {
  auto lines = ReadWhen(Exited(1, "",
                               "System has not been booted with systemd as init system (PID 1). "
                               "Can't operate.\nFailed to connect to bus: Host is down\n"));
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message, "systemd is not running here (container?)");
  lines = ReadWhen(Exited(1, "", "first problem\n\n\tsecond problem\n"));
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message,
            "journalctl exited with status 1: first problem; second problem");
}

TEST(CommandJournalTest, RejectsBadIdentifiersWithoutRunningAnything) {
  FakeCommandRunner runner;
  CommandJournal journal(runner);
  Status s = journal.Write("", "x", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "journal identifier is empty");
  s = journal.Write("a=b", "x", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "journal identifier \"a=b\" contains '=' or whitespace");
  auto read = journal.ReadSince("drift canary", kSince, kDeadline);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().message, "journal identifier \"drift canary\" contains '=' or whitespace");
  EXPECT_FALSE(journal.ReadSince("a\tb", kSince, kDeadline).ok());
  EXPECT_FALSE(journal.ReadSince("a\nb", kSince, kDeadline).ok());
  EXPECT_TRUE(runner.commands_ran().empty());
}

TEST(CommandJournalTest, ReadsLinesSinceTheWholeSecond) {
  FakeCommandRunner runner;
  runner.Script(kJournalctl, 0, "canary 41\n\ncanary 42\n");
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  EXPECT_EQ(*lines, (std::vector<std::string>{"canary 41", "", "canary 42"}));
  EXPECT_EQ(runner.commands_ran(), (std::vector<std::vector<std::string>>{
                                       {"journalctl", "--no-pager", "--quiet", "--output=cat",
                                        "--identifier=drift-canary", "--since=@1700000000"}}));
}

TEST(CommandJournalTest, ALastLineWithoutNewlineIsKept) {
  auto lines = ReadWhen(Exited(0, "one\ntwo"));
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  EXPECT_EQ(*lines, (std::vector<std::string>{"one", "two"}));
}

TEST(CommandJournalTest, NoMessagesIsAnEmptyList) {
  auto lines = ReadWhen(Exited(0, ""));
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  EXPECT_TRUE(lines->empty());
}

TEST(CommandJournalTest, JournalctlFailureIsAnError) {
  auto lines =
      ReadWhen(Exited(1, "", "No journal files were opened due to insufficient permissions.\n"));
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message,
            "journalctl exited with status 1: No journal files were opened due to insufficient "
            "permissions.");
}

TEST(CommandJournalTest, JournalctlTimeoutIsAnError) {
  auto lines = ReadWhen(TimedOut("canary 42\n"));
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message, "journalctl timed out after 10s");
}

TEST(CommandJournalTest, TruncatedOutputIsAnError) {
  CommandOutput flood = testing::KilledBy(9, "canary 41\n");  // the runner kills a flood
  flood.truncated = true;
  auto lines = ReadWhen(flood);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message, "journalctl printed more than 1048576 bytes (output truncated)");
}

}  // namespace
}  // namespace drift::checks
