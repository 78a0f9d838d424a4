#include "checks/command_journal.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace drift::checks {
namespace {

using testing::FakeCommandRunner;

const Deadline kDeadline = Deadline::max();
const std::string kLogger = "logger --tag drift-canary --priority user.notice -- canary 42";
const std::string kJournalctl =
    "journalctl --no-pager --quiet --output=cat --identifier=drift-canary --since=@1700000000";
// 1700000000.75 s: the half-second is rounded down so nothing logged since is missed.
const WallTime kSince = WallTime(std::chrono::milliseconds(1'700'000'000'750));

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
  FakeCommandRunner runner;
  runner.Script(kLogger, 1, "", "logger: socket /dev/log: No such file or directory\n");
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "canary 42", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "logger: exit code 1: logger: socket /dev/log: No such file or directory");
}

TEST(CommandJournalTest, LoggerTimeoutIsAnError) {
  FakeCommandRunner runner;
  CommandOutput hung;
  hung.timed_out = true;
  hung.signal = 9;
  runner.Script(kLogger, hung);
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "canary 42", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "logger: timed out");
}

TEST(CommandJournalTest, LoggerNotRunnableIsAnError) {
  FakeCommandRunner runner;
  CommandJournal journal(runner);
  Status s = journal.Write("drift-canary", "canary 42", kDeadline);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "logger: " + kLogger + ": command not found (unscripted)");
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
  FakeCommandRunner runner;
  runner.Script(kJournalctl, 0, "one\ntwo");
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  EXPECT_EQ(*lines, (std::vector<std::string>{"one", "two"}));
}

TEST(CommandJournalTest, NoMessagesIsAnEmptyList) {
  FakeCommandRunner runner;
  runner.Script(kJournalctl, 0, "");
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  EXPECT_TRUE(lines->empty());
}

TEST(CommandJournalTest, JournalctlFailureIsAnError) {
  FakeCommandRunner runner;
  runner.Script(kJournalctl, 1, "",
                "No journal files were opened due to insufficient permissions.\n");
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message,
            "journalctl: exit code 1: No journal files were opened due to insufficient "
            "permissions.");
}

TEST(CommandJournalTest, JournalctlTimeoutIsAnError) {
  FakeCommandRunner runner;
  CommandOutput hung;
  hung.timed_out = true;
  hung.signal = 9;
  hung.out = "canary 42\n";
  runner.Script(kJournalctl, hung);
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message, "journalctl: timed out");
}

TEST(CommandJournalTest, TruncatedOutputIsAnError) {
  FakeCommandRunner runner;
  CommandOutput flood;
  flood.exit_code = -1;
  flood.signal = 9;  // the runner kills a flood
  flood.truncated = true;
  flood.out = "canary 41\n";
  runner.Script(kJournalctl, flood);
  CommandJournal journal(runner);
  auto lines = journal.ReadSince("drift-canary", kSince, kDeadline);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.error().message,
            "journalctl: output larger than 1048576 bytes; the answer would be incomplete");
}

}  // namespace
}  // namespace drift::checks
