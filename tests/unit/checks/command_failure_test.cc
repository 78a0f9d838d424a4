// Every check type that runs a program says each way the program can fail in the same words
// (RunChecked, checks/steps.h; the table in docs/configuration.md): a failure reads the same on
// pages, in metrics' reasons, alerts and evidence, whichever check met it.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "checks/command_journal.h"
#include "checks/registry.h"
#include "checks/systemctl.h"
#include "tests/support/check_testing.h"

namespace drift::checks {
namespace {

using testing::FakeCommandRunner;

// Types that run no program, and why: a new type must be added here or to Targets() below.
const std::map<std::string_view, std::string_view> kRunsNoProgram = {
    {"backup", "reads the backup tool's status file"},
    {"file", "stats and hashes files through the FileSystem"},
};

const std::string kSha = std::string(64, 'a');

// One program a check type runs, failing while everything else it runs succeeds.
struct Target {
  std::string type;
  std::string params;       // the check's params YAML, indented by four spaces
  std::string fixture;      // the host tree, under tests/fixtures/hosts
  std::string argv;         // the failing command, as the fake runner keys it
  bool by_program = false;  // argv is a program answered whatever its arguments (see below)
  std::string program;      // argv[0]
  std::string name;         // how reasons name the command
  int timeout_seconds = 10;
  std::size_t max_output_bytes = 1 << 20;
  std::string reason;  // the check's reason, with {} where the failure's wording stands
  Verdict verdict = Verdict::kError;
  std::map<std::string, CommandOutput> others = {};  // commands that succeed, by argv
};

CommandOutput Active() { return testing::Exited(0, "active\n"); }

std::vector<Target> Targets() {
  const std::string journald = "systemctl is-active -- systemd-journald.service";
  const std::string journalctl =
      "journalctl --no-pager --quiet --output=cat --identifier=drift_exporter "
      "--since=@1699996400";  // the fake clock's now less the default one-hour window
  return {
      {.type = "patching",
       .params = "    os: debian\n",
       .fixture = "debian-compliant",
       .argv = "apt-get --simulate --quiet --quiet upgrade",
       .program = "apt-get",
       .name = "apt-get --simulate upgrade",
       .timeout_seconds = 60,
       .reason = "{}"},
      {.type = "av_edr",
       .params = fmt::format("    service: clamav-daemon.service\n    binary: /usr/sbin/clamd\n"
                             "    binary_sha256: {}\n",
                             kSha),
       .fixture = "av_edr_healthy",
       .argv = "systemctl is-active -- clamav-daemon.service",
       .program = "systemctl",
       .name = "systemctl is-active clamav-daemon.service",
       .max_output_bytes = 64 * 1024,
       .reason = "cannot read the state of clamav-daemon.service: {}"},
      {.type = "logging",
       .params = "    window: 1h\n",
       .fixture = "av_edr_healthy",
       .argv = journald,
       .program = "systemctl",
       .name = "systemctl is-active systemd-journald.service",
       .max_output_bytes = 64 * 1024,
       .reason = "cannot read the state of systemd-journald.service: {}"},
      {.type = "logging",
       .params = "    window: 1h\n",
       .fixture = "av_edr_healthy",
       .argv = journalctl,
       .program = "journalctl",
       .name = "journalctl",
       .reason = "cannot read the journal: {}",
       .others = {{journald, Active()}}},
      {.type = "logging",
       .params = "    window: 1h\n",
       .fixture = "av_edr_healthy",
       .argv = "logger",
       .by_program = true,
       .program = "logger",
       .name = "logger",
       .max_output_bytes = 64 * 1024,
       // A canary that cannot be written is drift of the logging pipeline, not an error.
       .reason = "canary_write_failed: observed {}, expected the canary written to the journal",
       .verdict = Verdict::kDrifted,
       .others = {{journald, Active()}}},
      {.type = "firewall",
       .params = fmt::format("    ruleset_sha256: {}\n", kSha),
       .fixture = "av_edr_healthy",
       .argv = "systemctl is-active -- nftables.service",
       .program = "systemctl",
       .name = "systemctl is-active nftables.service",
       .max_output_bytes = 64 * 1024,
       .reason = "cannot read the state of nftables.service: {}"},
      {.type = "firewall",
       .params = fmt::format("    ruleset_sha256: {}\n", kSha),
       .fixture = "av_edr_healthy",
       .argv = "nft -s list ruleset",
       .program = "nft",
       .name = "nft -s list ruleset",
       .reason = "{}",
       .others = {{"systemctl is-active -- nftables.service", Active()}}},
      {.type = "encryption",
       .params = "    volumes: [home]\n",
       .fixture = "encryption-mixed",
       .argv = "cryptsetup status -- home",
       .program = "cryptsetup",
       .name = "cryptsetup status",
       .reason = "home: not listed in /sys/block/dm-*/dm/name, and {}"},
  };
}

// One way a program can fail: what the runner answers, and the wording every check gives.
struct Kind {
  std::string_view what;
  std::function<Result<CommandOutput>(const Target&)> answer;
  std::function<std::string(const Target&)> wording;
};

std::vector<Kind> Kinds() {
  return {
      {"not installed",
       [](const Target& t) -> Result<CommandOutput> {
         return Error{t.program + " is not installed (not found in command path /fake/bin)",
                      ENOENT};
       },
       [](const Target& t) {
         return t.program + " is not installed (not found in command path /fake/bin)";
       }},
      {"could not start",
       [](const Target&) -> Result<CommandOutput> {
         return Error{"cannot create a pipe: Too many open files", EMFILE};
       },
       [](const Target& t) {
         return t.name + " could not start: cannot create a pipe: Too many open files";
       }},
      {"timed out", [](const Target&) -> Result<CommandOutput> { return testing::TimedOut("par"); },
       [](const Target& t) {
         return fmt::format("{} timed out after {}s", t.name, t.timeout_seconds);
       }},
      {"output truncated",
       [](const Target&) -> Result<CommandOutput> {
         CommandOutput flood = testing::KilledBy(9, "active\n");
         flood.truncated = true;
         return flood;
       },
       [](const Target& t) {
         return fmt::format("{} printed more than {} bytes (output truncated)", t.name,
                            t.max_output_bytes);
       }},
      {"killed by a signal",
       [](const Target&) -> Result<CommandOutput> { return testing::KilledBy(11); },
       [](const Target& t) { return t.name + " was killed by signal 11"; }},
      {"non-zero exit",
       [](const Target&) -> Result<CommandOutput> {
         return testing::Exited(2, "", "first problem\n\n  second problem\n");
       },
       [](const Target& t) {
         return t.name + " exited with status 2: first problem; second problem";
       }},
  };
}

// Answers every run of one program with one answer and the rest through the fake runner: the
// logging check's canary line holds a fresh nonce, so logger's argv cannot be scripted exactly.
class ProgramAnswer final : public CommandRunner {
 public:
  ProgramAnswer(const FakeCommandRunner& rest, std::string program, Result<CommandOutput> answer)
      : rest_(rest), program_(std::move(program)), answer_(std::move(answer)) {}
  Result<CommandOutput> Run(const Command& command, Deadline deadline) const override {
    if (!command.argv.empty() && command.argv.front() == program_) return answer_;
    return rest_.Run(command, deadline);
  }

 private:
  const FakeCommandRunner& rest_;
  std::string program_;
  Result<CommandOutput> answer_;
};

TEST(CommandFailureTest, EveryTypeIsWalkedOrListedAsRunningNoProgram) {
  std::set<std::string_view> walked;
  for (const Target& t : Targets()) {
    ASSERT_NE(FindCheckType(t.type), nullptr) << t.type;
    walked.insert(FindCheckType(t.type)->name);
  }
  for (const CheckType* type : AllCheckTypes()) {
    EXPECT_NE(walked.count(type->name) + kRunsNoProgram.count(type->name), 0u)
        << type->name << " runs a program (add it to Targets()) or not (add it to kRunsNoProgram)";
    EXPECT_FALSE(walked.count(type->name) != 0 && kRunsNoProgram.count(type->name) != 0)
        << type->name << " is both walked and listed as running no program";
  }
  for (const auto& [name, why] : kRunsNoProgram) {
    EXPECT_NE(FindCheckType(name), nullptr) << name << " is not a registered type";
  }
}

// Services and the journal go through their production implementations, so that systemctl,
// journalctl and logger are run through the scripted runner as on a host.
TEST(CommandFailureTest, EveryFailureReadsTheSameInEveryCheck) {
  for (const Target& t : Targets()) {
    const CheckType* type = FindCheckType(t.type);
    ASSERT_NE(type, nullptr) << t.type;
    CheckPtr check = testing::MakeCheck(*type, t.params);
    testing::MemoryFileSystem fs(testing::FixtureHost(t.fixture));
    testing::FakeClock clock;
    testing::InstantMonotonicClock monotonic;
    for (const Kind& kind : Kinds()) {
      FakeCommandRunner fake;
      for (const auto& [argv, output] : t.others) fake.Script(argv, output);
      Result<CommandOutput> answer = kind.answer(t);
      Result<CommandOutput> logger_answer = testing::Exited(0, "");
      std::string answered_program = "logger";
      if (t.by_program) {
        logger_answer = answer;
        answered_program = t.program;
      } else if (answer.ok()) {
        fake.Script(t.argv, *answer);
      } else {
        fake.Fail(t.argv, answer.error());
      }
      ProgramAnswer runner(fake, answered_program, logger_answer);
      SystemctlServiceManager services(runner);
      CommandJournal journal(runner);
      CheckResult r =
          check->Run(Host{fs, runner, services, journal, clock, monotonic}, testing::Later());
      const std::string where = fmt::format("{} / {}: {}", t.type, t.argv, kind.what);
      EXPECT_EQ(r.verdict, t.verdict) << where;
      EXPECT_EQ(r.reason, fmt::format(fmt::runtime(t.reason), kind.wording(t))) << where;
    }
  }
}

}  // namespace
}  // namespace drift::checks
