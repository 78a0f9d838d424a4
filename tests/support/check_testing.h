#pragma once

// Helpers shared by the check tests: building a check from YAML the way the loader does, a Host
// made of the fakes, and compact renderings of results to compare with one EXPECT_EQ.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "checks/check.h"
#include "common/config_node.h"
#include "tests/support/config_testing.h"
#include "tests/support/fakes.h"
#include "tests/support/memory_fs.h"
#include "tests/support/temp_dir.h"

namespace drift::testing {

// A deadline no test reaches unless it means to.
inline Deadline Later() { return std::chrono::steady_clock::now() + std::chrono::seconds(10); }

// Builds a check of `type` the way the loader does: from the YAML of its params (lines indented
// by four spaces) and optionally of its baseline entry, then rejecting every key nobody read. The
// params start on line 5 of "drift.yml"; the baseline is "baseline.yml". Throws ConfigError.
inline checks::CheckPtr MakeCheck(const checks::CheckType& type, std::string_view params_yaml,
                                  std::optional<std::string> baseline_yaml = std::nullopt) {
  ConfigNode root = ConfigNode::Parse(fmt::format("checks:\n- name: {}\n  type: {}\n  params:\n{}",
                                                  type.name, type.name, params_yaml),
                                      "drift.yml");
  ConfigNode check = root.Child("checks").Items()[0];
  check.Child("name");  // read by the loader, not by the type
  check.Child("type");
  std::optional<ConfigNode> baseline;
  if (baseline_yaml) baseline = ConfigNode::Parse(*baseline_yaml, "baseline.yml");
  checks::CheckPtr made = type.create(checks::Params(check, check.Find("params"), baseline));
  root.Finish();
  if (baseline) baseline->Finish();
  return made;
}

// The message of the ConfigError that MakeCheck throws for these arguments, or "no error".
inline std::string MakeCheckError(const checks::CheckType& type, std::string_view params_yaml,
                                  std::optional<std::string> baseline_yaml = std::nullopt) {
  return ConfigErrorOf([&] { MakeCheck(type, params_yaml, std::move(baseline_yaml)); });
}

// A params block (and optionally a baseline entry) and the exact ConfigError it must cause.
struct BadParams {
  std::string params;
  std::string error;
  std::optional<std::string> baseline = std::nullopt;
};

// Expects MakeCheck to reject every case with exactly its message.
inline void ExpectRejected(const checks::CheckType& type, const std::vector<BadParams>& cases) {
  for (const BadParams& c : cases) {
    EXPECT_EQ(MakeCheckError(type, c.params, c.baseline), c.error) << c.params;
  }
}

// What a check type declares besides its factory and pinned keys.
struct TypeDefaults {
  std::string_view name;
  checks::Severity severity;
  std::vector<checks::ControlRef> controls;
  std::string_view action;
  std::vector<std::string_view> measures;  // metric names, in order
};

// Expects `type` to declare `expected`, field by field, and a HELP text for every measure.
inline void ExpectTypeDefaults(const checks::CheckType& type, const TypeDefaults& expected) {
  EXPECT_EQ(type.name, expected.name);
  EXPECT_EQ(type.default_severity, expected.severity);
  ASSERT_EQ(type.default_controls.size(), expected.controls.size());
  for (std::size_t i = 0; i < expected.controls.size(); ++i) {
    EXPECT_EQ(type.default_controls[i].framework, expected.controls[i].framework) << i;
    EXPECT_EQ(type.default_controls[i].id, expected.controls[i].id) << i;
  }
  EXPECT_EQ(type.default_action, expected.action);
  ASSERT_EQ(type.measures.size(), expected.measures.size());
  for (std::size_t i = 0; i < expected.measures.size(); ++i) {
    EXPECT_EQ(type.measures[i].name, expected.measures[i]) << i;
    EXPECT_FALSE(type.measures[i].help.empty()) << type.measures[i].name;
  }
}

// The fakes and a file system, assembled into a Host. The clock stands at 2023-11-14T22:13:20Z.
struct TestHost {
  // Files come from a copy in memory of the directory `root` (a fixture host), made now.
  explicit TestHost(const std::string& root)
      : memory(std::make_unique<MemoryFileSystem>(root)), fs(*memory) {}
  // Files come from `files`, which must outlive this.
  explicit TestHost(const checks::FileSystem& files) : fs(files) {}

  checks::Host host() const {
    return checks::Host{fs, commands, services, journal, clock, monotonic};
  }

  std::unique_ptr<MemoryFileSystem> memory;  // what `fs` is, unless given one
  const checks::FileSystem& fs;
  FakeCommandRunner commands;
  FakeServiceManager services;
  FakeClock clock;
  FakeJournal journal{clock};
  InstantMonotonicClock monotonic;
};

// How one case scripts the host's commands, and the reason of the error the check must give.
struct ScriptedError {
  std::function<void(FakeCommandRunner&)> script;
  std::string reason;
};

// Runs `check` once per case, on `host` with its commands answered by a runner that the case
// scripts, and expects an error result with exactly the case's reason and no findings.
inline void ExpectScriptedErrors(const checks::Check& check, const TestHost& host,
                                 const std::vector<ScriptedError>& cases) {
  for (const ScriptedError& c : cases) {
    FakeCommandRunner runner;
    c.script(runner);
    checks::CheckResult r = check.Run(
        checks::Host{host.fs, runner, host.services, host.journal, host.clock, host.monotonic},
        Later());
    EXPECT_EQ(r.verdict, checks::Verdict::kError) << c.reason;
    EXPECT_EQ(r.reason, c.reason);
    EXPECT_TRUE(r.findings.empty()) << c.reason;
  }
}

// "cause | observed | expected | severity".
inline std::string Str(const checks::Finding& f) {
  return fmt::format("{} | {} | {} | {}", f.cause, f.observed, f.expected,
                     checks::SeverityName(f.severity));
}

// "key=value;" for each observation, in order.
inline std::string Str(const std::vector<checks::Observation>& observations) {
  std::string out;
  for (const checks::Observation& o : observations) out += fmt::format("{}={};", o.key, o.value);
  return out;
}

// The observations as (key, value) pairs, in order.
inline std::vector<std::pair<std::string, std::string>> Pairs(
    const std::vector<checks::Observation>& observations) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const checks::Observation& o : observations) out.emplace_back(o.key, o.value);
  return out;
}

// The measures as (metric name, value) pairs, in order.
inline std::vector<std::pair<std::string, double>> Measures(const checks::CheckResult& r) {
  std::vector<std::pair<std::string, double>> out;
  for (const checks::MeasureValue& m : r.measures) out.emplace_back(std::string(m.name), m.value);
  return out;
}

// Expects `f` to be this finding, at the check type's default severity.
inline void ExpectFinding(const checks::Finding& f, std::string_view cause,
                          std::string_view observed, std::string_view expected) {
  EXPECT_EQ(f.cause, cause);
  EXPECT_EQ(f.observed, observed);
  EXPECT_EQ(f.expected, expected);
  EXPECT_EQ(f.severity, checks::Severity::kNone);
}

}  // namespace drift::testing
