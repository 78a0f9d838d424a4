#include "healing/policy.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/duration.h"
#include "common/rfc3339.h"

namespace drift::healing {
namespace {

using std::chrono::milliseconds;

milliseconds Since(WallTime then, WallTime now) {
  return std::chrono::duration_cast<milliseconds>(now - then);
}

}  // namespace

std::string_view DecisionName(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kRun:
      return "run";
    case DecisionKind::kAwaitApproval:
      return "await_approval";
    case DecisionKind::kWaitForWindow:
      return "wait_for_window";
    case DecisionKind::kManual:
      return "manual";
    case DecisionKind::kSkip:
      return "skip";
    case DecisionKind::kSuspend:
      return "suspend";
  }
  return "skip";
}

CheckHistory Pruned(CheckHistory history, milliseconds window, WallTime now) {
  std::erase_if(history.attempts, [&](WallTime t) { return Since(t, now) >= window; });
  return history;
}

std::optional<WallTime> RunWindow(const Runbook& runbook, const HealingConfig& config,
                                  WallTime now) {
  if (runbook.windows.empty()) return std::nullopt;
  std::optional<WallTime> next;
  for (const MaintenanceWindow& w : config.maintenance_windows) {
    if (std::find(runbook.windows.begin(), runbook.windows.end(), w.name()) ==
        runbook.windows.end()) {
      continue;
    }
    if (w.Contains(now)) return std::nullopt;
    const WallTime start = w.NextStart(now);
    if (!next || start < *next) next = start;
  }
  return next;
}

Decision Decide(const Runbook& runbook, const HealingConfig& config, const CheckHistory& history,
                WallTime now, const std::vector<std::string>& causes,
                std::optional<WallTime> drift_started) {
  Decision d;
  d.dry_run = config.dry_run || runbook.dry_run;
  auto decide = [&d](DecisionKind kind, std::string reason) {
    d.kind = kind;
    d.reason = std::move(reason);
    return d;
  };
  if (history.suspended_at) {
    return decide(DecisionKind::kSkip,
                  fmt::format("healing of this check is suspended since {} ({}); `drift_exporter "
                              "heal reset` resumes it",
                              FormatRfc3339(*history.suspended_at), history.suspended_reason));
  }
  if (history.busy) {
    return decide(DecisionKind::kSkip, "an action for this check is already waiting or running");
  }
  if (runbook.tier == Tier::kManual) {
    return decide(
        DecisionKind::kManual,
        fmt::format("runbook {} is manual: it is recorded and shown, never run", runbook.name));
  }
  for (const std::string& cause : causes) {
    if (std::find(runbook.manual_causes.begin(), runbook.manual_causes.end(), cause) !=
        runbook.manual_causes.end()) {
      return decide(DecisionKind::kManual,
                    fmt::format("the drift's cause {} is never healed by runbook {} "
                                "(manual_causes): a person must look",
                                cause, runbook.name));
    }
  }
  if (history.last_healed) {
    const WallTime back = drift_started ? std::min(*drift_started, now) : now;
    if (back < *history.last_healed) {
      return decide(
          DecisionKind::kSkip,
          fmt::format("the alert's drift started at {}, before runbook {} healed the "
                      "check at {}: a stale alert",
                      FormatRfc3339(back), runbook.name, FormatRfc3339(*history.last_healed)));
    }
    if (Since(*history.last_healed, back) < config.cooldown) {
      return decide(DecisionKind::kSuspend,
                    fmt::format("the drift came back {} after runbook {} healed it, within the "
                                "cooldown of {}: a reconciliation loop",
                                FormatDuration(Since(*history.last_healed, back)), runbook.name,
                                FormatDuration(config.cooldown)));
    }
  }
  const CheckHistory recent = Pruned(history, config.attempts_window, now);
  if (static_cast<int>(recent.attempts.size()) >= config.max_attempts) {
    const WallTime oldest = *std::min_element(recent.attempts.begin(), recent.attempts.end());
    return decide(DecisionKind::kSkip,
                  fmt::format("{} attempts within {} (max_attempts); the next is allowed from {}",
                              recent.attempts.size(), FormatDuration(config.attempts_window),
                              FormatRfc3339(oldest + config.attempts_window)));
  }
  if (history.last_failed && Since(*history.last_failed, now) < config.cooldown) {
    return decide(DecisionKind::kSkip,
                  fmt::format("the last attempt failed {} ago, within the cooldown of {}; the next "
                              "is allowed from {}",
                              FormatDuration(Since(*history.last_failed, now)),
                              FormatDuration(config.cooldown),
                              FormatRfc3339(*history.last_failed + config.cooldown)));
  }
  if (runbook.tier == Tier::kApproval) {
    return decide(DecisionKind::kAwaitApproval,
                  fmt::format("runbook {} needs an approval (healing.approvers)", runbook.name));
  }
  if (std::optional<WallTime> next = RunWindow(runbook, config, now)) {
    d.not_before = next;
    return decide(
        DecisionKind::kWaitForWindow,
        fmt::format("runbook {} runs only in its maintenance windows; the next opens at {}",
                    runbook.name, FormatRfc3339(*next)));
  }
  return decide(DecisionKind::kRun, fmt::format("runbook {} is auto", runbook.name));
}

}  // namespace drift::healing
