#include "checks/systemctl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace drift::checks {
namespace {

using testing::Exited;
using testing::FakeCommandRunner;

const Deadline kDeadline = Deadline::max();
const std::string kNft = "systemctl is-active -- nftables.service";

// nftables.service's state as read when systemctl answers with `output`.
Result<std::string> NftStateWhen(const CommandOutput& output) {
  FakeCommandRunner runner;
  runner.Script(kNft, output);
  return SystemctlServiceManager(runner).ActiveState("nftables.service", kDeadline);
}

TEST(SystemctlServiceManagerTest, ReturnsTheStateItPrinted) {
  FakeCommandRunner runner;
  runner.Script(kNft, 0, "active\n");
  SystemctlServiceManager services(runner);
  auto state = services.ActiveState("nftables.service", kDeadline);
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(*state, "active");
  EXPECT_EQ(runner.commands_ran(), (std::vector<std::vector<std::string>>{
                                       {"systemctl", "is-active", "--", "nftables.service"}}));
}

// is-active exits non-zero for every state but active; the state printed is the answer.
TEST(SystemctlServiceManagerTest, JudgesByStdoutNotTheExitCode) {
  const std::vector<std::string> states = {"reloading",    "inactive",    "failed",    "activating",
                                           "deactivating", "maintenance", "refreshing"};
  for (const std::string& s : states) {
    auto state = NftStateWhen(Exited(3, "  " + s + " \r\nignored second line\n"));
    ASSERT_TRUE(state.ok()) << s << ": " << state.error().message;
    EXPECT_EQ(*state, s);
  }
}

TEST(SystemctlServiceManagerTest, BusFailureIsAnErrorWithStderr) {
  auto state = NftStateWhen(Exited(1, "", "Failed to connect to bus: No such file or directory\n"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message,
            "systemd is not running here (container?), or its bus is unreachable: Failed to "
            "connect to bus: No such file or directory");
}

// What systemctl says in a container without systemd: two lines that would break a table row.
TEST(SystemctlServiceManagerTest, NoSystemdSaysSoInOneLine) {
  auto state = NftStateWhen(Exited(1, "",
                                   "System has not been booted with systemd as init system (PID "
                                   "1). Can't operate.\nFailed to connect to bus: Host is down\n"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message, "systemd is not running here (container?)");
}

// For a unit without a unit file, systemctl prints "inactive" and exits 4 (LSB: status unknown).
TEST(SystemctlServiceManagerTest, AUnitWithoutAUnitFileIsNotFound) {
  auto state = NftStateWhen(Exited(4, "inactive\n"));
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(*state, kUnitNotFound);
  state = NftStateWhen(Exited(1, "", "Unit nftables.service could not be found.\n"));
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(*state, kUnitNotFound);
  // An installed unit that is merely stopped exits 3.
  state = NftStateWhen(Exited(3, "inactive\n"));
  ASSERT_TRUE(state.ok()) << state.error().message;
  EXPECT_EQ(*state, "inactive");
}

TEST(SystemctlServiceManagerTest, SystemctlNotInstalledSaysSo) {
  FakeCommandRunner runner;
  runner.NotInstalled("systemctl");
  auto state = SystemctlServiceManager(runner).ActiveState("nftables.service", kDeadline);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message,
            "systemctl is not installed (not found in command path /fake/bin)");
}

TEST(SystemctlServiceManagerTest, MultiLineStderrBecomesOneLine) {
  auto state = NftStateWhen(Exited(1, "", "Failed to get properties:\n  Access denied\nretry\n"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message,
            "systemctl is-active nftables.service exited with status 1: Failed to get "
            "properties: Access denied; retry");
}

TEST(SystemctlServiceManagerTest, AnUnknownWordIsAnError) {
  auto state = NftStateWhen(Exited(4, "unknown\n"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message,
            "systemctl is-active nftables.service printed no unit state but: unknown");
}

TEST(SystemctlServiceManagerTest, NoOutputIsAnError) {
  auto state = NftStateWhen(Exited(1, ""));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message, "systemctl is-active nftables.service exited with status 1");
}

TEST(SystemctlServiceManagerTest, TimeoutIsAnError) {
  // Whatever arrived before the kill is not an answer.
  auto state = NftStateWhen(testing::TimedOut("act"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message, "systemctl is-active nftables.service timed out after 10s");
}

TEST(SystemctlServiceManagerTest, TruncationIsAnError) {
  CommandOutput flood = Exited(0, "active\n");
  flood.truncated = true;
  auto state = NftStateWhen(flood);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message,
            "systemctl is-active nftables.service printed more than 65536 bytes (output "
            "truncated)");
}

TEST(SystemctlServiceManagerTest, ARunnerErrorNamesTheUnit) {
  FakeCommandRunner runner;  // unscripted: as if systemctl were missing
  SystemctlServiceManager services(runner);
  auto state = services.ActiveState("nftables.service", kDeadline);
  ASSERT_FALSE(state.ok());
  // A program that cannot be found (ENOENT) is named, with the runner's detail.
  EXPECT_EQ(state.error().message,
            "systemctl is not installed (unscripted: systemctl is-active -- nftables.service)");
}

TEST(SystemctlServiceManagerTest, AnInvalidUnitNameRunsNothing) {
  FakeCommandRunner runner;
  SystemctlServiceManager services(runner);
  auto state = services.ActiveState("--all", kDeadline);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().message, "systemctl is-active \"--all\": invalid unit name");
  EXPECT_TRUE(runner.commands_ran().empty());
}

TEST(IsValidUnitNameTest, AcceptsSystemdUnitNames) {
  for (const char* name : {"nftables.service", "getty@tty1.service", "getty@.service",
                           "systemd-fsck@dev-disk-by\\x2duuid-1.service",
                           "dev-mapper-crypt:root.device", "A_Z.0-9", "a"}) {
    EXPECT_TRUE(IsValidUnitName(name)) << name;
  }
  EXPECT_TRUE(IsValidUnitName(std::string(255, 'a')));
}

TEST(IsValidUnitNameTest, RejectsEverythingElse) {
  for (const char* name :
       {"", "-x.service", "-.mount", ".hidden.service", "a b.service", "a/b.service", "a;b",
        "$(id).service", "x\n.service", "é.service", "a*.service"}) {
    EXPECT_FALSE(IsValidUnitName(name)) << name;
  }
  EXPECT_FALSE(IsValidUnitName(std::string(256, 'a')));
  EXPECT_FALSE(IsValidUnitName(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace drift::checks
