#include "healing/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/sha256.h"
#include "common/strings.h"

namespace drift::healing {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kMaxArgvBytes = 64 << 10;

// The identities a list names: user names or certificate SANs, one line each.
std::vector<std::string> ReadIdentities(const ConfigNode& node) {
  std::vector<std::string> names = node.AsStringList();
  for (const std::string& name : names) {
    if (name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
          return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        })) {
      node.Fail(fmt::format("expected user names or certificate names, got {:?}", name));
    }
  }
  return names;
}

// "02:00" -> 120 minutes.
std::chrono::minutes ReadTimeOfDay(const ConfigNode& node) {
  const std::string text = node.AsString();
  unsigned h = 0;
  unsigned m = 0;
  char tail = 0;
  if (text.size() != 5 || text[2] != ':' ||
      std::sscanf(text.c_str(), "%2u:%2u%c", &h, &m, &tail) != 2 || h > 23 || m > 59) {
    node.Fail(fmt::format("expected a time of day as HH:MM (00:00 to 23:59), got {:?}", text));
  }
  return std::chrono::minutes(h * 60 + m);
}

MaintenanceWindow ReadWindow(const ConfigNode& node) {
  ConfigNode name_node = node.Child("name");
  std::string name = name_node.AsString();
  if (!IsLowerSnakeName(name)) {
    name_node.Fail(fmt::format(
        "expected a window name in lower case letters, digits and '_', got {:?}", name));
  }
  ConfigNode days_node = node.Child("days");
  unsigned days = 0;
  for (const std::string& day : days_node.AsStringList()) {
    std::optional<unsigned> bit = ParseWeekday(day);
    if (!bit) {
      days_node.Fail(
          fmt::format("expected days as mon, tue, wed, thu, fri, sat, sun; got {:?}", day));
    }
    days |= *bit;
  }
  if (days == 0) days_node.Fail("expected at least one day");
  const std::chrono::minutes start = ReadTimeOfDay(node.Child("start"));
  ConfigNode duration_node = node.Child("duration");
  const milliseconds duration = duration_node.AsDuration();
  if (duration % std::chrono::minutes(1) != milliseconds(0)) {
    duration_node.Fail("expected whole minutes");
  }
  ConfigNode zone_node = node.Child("time_zone");
  Result<MaintenanceWindow> window = MaintenanceWindow::Make(
      std::move(name), days, start, std::chrono::duration_cast<std::chrono::minutes>(duration),
      zone_node.AsString());
  if (!window.ok()) {
    // The time zone, or the duration: name the key the message is about.
    if (window.error().message.starts_with("unknown time zone")) {
      zone_node.Fail(window.error().message);
    }
    duration_node.Fail(window.error().message);
  }
  return *window;
}

std::vector<Step> ReadSteps(const ConfigNode& node) {
  std::vector<Step> steps;
  for (const ConfigNode& item : node.Items()) {
    if (!item.IsMap()) item.Fail("expected a step: a mapping with argv and optionally timeout");
    Step step;
    ConfigNode argv = item.Child("argv");
    step.argv = argv.AsStringList();
    if (step.argv.empty()) argv.Fail("expected the program and its arguments, at least one");
    // A path to the program, never a name to look up: absolute, or relative to the
    // configuration's folder like the exporter's other files.
    if (step.argv[0].find('/') == std::string::npos) {
      argv.Fail(
          fmt::format("expected a path to the program, got {:?} (steps never search PATH "
                      "and never run a shell)",
                      step.argv[0]));
    }
    step.argv[0] = argv.Items().front().AsPath().lexically_normal().string();
    std::size_t bytes = 0;
    for (const std::string& arg : step.argv) bytes += arg.size() + 1;
    if (bytes > kMaxArgvBytes) argv.Fail("the arguments are longer than 64 KiB");
    step.timeout = item.GetDuration("timeout", step.timeout);
    if (step.timeout <= milliseconds(0) || step.timeout > std::chrono::hours(6)) {
      item.Child("timeout").Fail("expected a timeout above 0 and at most 6h");
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

Tier ReadTier(const ConfigNode& node) {
  const std::string name = node.AsString();
  for (Tier t : {Tier::kAuto, Tier::kApproval, Tier::kManual}) {
    if (TierName(t) == name) return t;
  }
  node.Fail(fmt::format("expected auto, approval or manual, got {:?}", name));
}

Runbook ReadRunbook(const std::string& name, const ConfigNode& node,
                    const std::set<std::string>& windows) {
  if (!node.IsMap()) node.Fail("expected a runbook: a mapping with tier and steps");
  Runbook r;
  r.name = name;
  r.description = node.GetString("description", "");
  r.tier = ReadTier(node.Child("tier"));
  std::optional<ConfigNode> steps = node.Find("steps");
  if (steps) r.steps = ReadSteps(*steps);
  if (r.steps.empty() && r.tier != Tier::kManual) {
    (steps ? *steps : node)
        .Fail("expected at least one step; a runbook that runs nothing has tier manual");
  }
  if (auto rollback = node.Find("rollback")) {
    r.rollback = ReadSteps(*rollback);
    if (r.tier == Tier::kManual && !r.rollback.empty()) {
      rollback->Fail("a manual runbook never runs, so it has nothing to roll back");
    }
  }
  r.dry_run = node.GetBool("dry_run", false);
  if (auto causes = node.Find("manual_causes")) r.manual_causes = causes->AsStringList();
  if (auto w = node.Find("windows")) {
    r.windows = w->AsStringList();
    for (const std::string& window : r.windows) {
      if (!windows.contains(window)) {
        w->Fail(fmt::format(
            "unknown maintenance window {:?}; healing.maintenance_windows names: "
            "{}",
            window,
            windows.empty() ? std::string("none") : fmt::format("{}", fmt::join(windows, ", "))));
      }
    }
  }
  return r;
}

}  // namespace

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kAuto:
      return "auto";
    case Tier::kApproval:
      return "approval";
    case Tier::kManual:
      return "manual";
  }
  return "approval";
}

std::string RunbookDigest(const Runbook& r) {
  // Length-prefixed fields: no two runbooks serialise the same.
  std::string text;
  auto add = [&text](std::string_view field) {
    text += fmt::format("{}:{};", field.size(), field);
  };
  add(TierName(r.tier));
  for (const auto* steps : {&r.steps, &r.rollback}) {
    add(std::to_string(steps->size()));
    for (const Step& s : *steps) {
      add(std::to_string(s.timeout.count()));
      add(std::to_string(s.argv.size()));
      for (const std::string& a : s.argv) add(a);
    }
  }
  for (const auto* list : {&r.windows, &r.manual_causes}) {
    add(std::to_string(list->size()));
    for (const std::string& x : *list) add(x);
  }
  add(r.dry_run ? "dry_run" : "run");
  return ToHex(Sha256Of(text));
}

HealingConfig ReadHealingConfig(const ConfigNode& node) {
  HealingConfig c;
  c.enabled = true;
  if (node.IsNull()) return c;
  if (!node.IsMap()) node.Fail("expected a mapping");
  if (auto n = node.Find("webhook_callers")) c.webhook_callers = ReadIdentities(*n);
  if (auto n = node.Find("approvers")) c.approvers = ReadIdentities(*n);
  c.allow_unauthenticated = node.GetBool("allow_unauthenticated", false);
  c.instance = node.GetString("instance", "");
  c.dry_run = node.GetBool("dry_run", false);
  c.cooldown = node.GetDuration("cooldown", c.cooldown);
  c.max_attempts = static_cast<int>(node.GetInt("max_attempts", c.max_attempts, 1, 1000));
  c.attempts_window = node.GetDuration("attempts_window", c.attempts_window);
  if (c.attempts_window <= milliseconds(0)) {
    node.Child("attempts_window").Fail("expected a duration above 0");
  }
  c.approval_expiry = node.GetDuration("approval_expiry", c.approval_expiry);
  if (c.approval_expiry < std::chrono::seconds(5) || c.approval_expiry > std::chrono::days(30)) {
    node.Child("approval_expiry").Fail("expected a duration from 5s to 30d");
  }
  c.max_output_bytes = static_cast<std::size_t>(node.GetInt(
      "max_output_bytes", static_cast<std::int64_t>(c.max_output_bytes), 1024, 16 << 20));
  if (auto windows = node.Find("maintenance_windows")) {
    std::set<std::string> names;
    for (const ConfigNode& item : windows->Items()) {
      MaintenanceWindow w = ReadWindow(item);
      if (!names.insert(w.name()).second) {
        item.Child("name").Fail(fmt::format("duplicate window name {:?}", w.name()));
      }
      c.maintenance_windows.push_back(std::move(w));
    }
  }
  return c;
}

std::map<std::string, Runbook> ReadRunbooks(const ConfigNode& node, const HealingConfig& config) {
  std::map<std::string, Runbook> runbooks;
  if (node.IsNull()) return runbooks;
  if (!node.IsMap()) node.Fail("expected a mapping of runbook names to runbooks");
  std::set<std::string> windows;
  for (const MaintenanceWindow& w : config.maintenance_windows) windows.insert(w.name());
  for (const auto& [name, body] : node.Entries()) {
    if (!IsLowerSnakeName(name)) {
      body.Fail(fmt::format(
          "expected a runbook name in lower case letters, digits and '_', got {:?}", name));
    }
    runbooks.emplace(name, ReadRunbook(name, body, windows));
  }
  return runbooks;
}

}  // namespace drift::healing
