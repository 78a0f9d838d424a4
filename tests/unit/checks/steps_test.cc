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

TEST(OneLineTest, JoinsLinesAndTrims) {
  EXPECT_EQ(OneLine("  one line  \n"), "one line");
  EXPECT_EQ(OneLine("first\nsecond\r\n\n  third\n"), "first; second; third");
  // A line that ends a sentence, or introduces the next, is followed by a space only.
  EXPECT_EQ(OneLine("Can't operate.\nFailed to connect to bus:\n  Host is down"),
            "Can't operate. Failed to connect to bus: Host is down");
  EXPECT_EQ(OneLine(""), "");
  EXPECT_EQ(OneLine("\n \n\t\n"), "");
}

TEST(OneLineTest, ControlCharactersCannotBreakARow) {
  EXPECT_EQ(OneLine("a\tb\x1b[31mred\x7f\rc"), "a b?[31mred??c");
}

TEST(OneLineTest, IsBoundedWithoutSplittingACharacter) {
  EXPECT_EQ(OneLine(std::string(600, 'x')).size(), kMaxReasonBytes);
  EXPECT_EQ(OneLine(std::string(600, 'x')).substr(kMaxReasonBytes - 4), "x...");
  EXPECT_EQ(OneLine("abcdef", 6), "abcdef");
  EXPECT_EQ(OneLine("abcdefg", 6), "abc...");
  // "é" is two bytes: the cut backs off to before it rather than leave half.
  EXPECT_EQ(OneLine("ab\xc3\xa9zzzz", 6), "ab...");
}

TEST(RunFailureTest, NotInstalledReadsAsTheRunnerSaysIt) {
  EXPECT_EQ(RunFailure("nft -s list ruleset",
                       Error{"nft is not installed (not found in command path /usr/sbin)", ENOENT}),
            "nft is not installed (not found in command path /usr/sbin)");
  EXPECT_EQ(RunFailure("nft -s list ruleset", Error{"cannot create a pipe: Too many open files"}),
            "nft -s list ruleset: cannot create a pipe: Too many open files");
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
