#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "healing/config.h"

namespace drift::healing {

// What the policy needs to know of one check's healing so far.
struct CheckHistory {
  std::vector<WallTime> attempts;        // when actions that ran commands started
  std::optional<WallTime> last_healed;   // when the last action that healed it ended
  std::optional<WallTime> last_failed;   // when the last action that failed ended
  std::optional<WallTime> suspended_at;  // reconciliation loop found; until `heal reset`
  std::string suspended_reason;
  bool busy = false;  // an action for the check is waiting or running

  bool operator==(const CheckHistory&) const = default;
};

enum class DecisionKind {
  kRun,            // run the steps now
  kAwaitApproval,  // record the drifted state, then wait for an approver
  kWaitForWindow,  // run at the next maintenance window (not_before), unless resolved first
  kManual,         // never runs: record and show it
  kSkip,           // nothing runs; `reason` says why (busy, rate limit, cooldown, suspended)
  kSuspend,        // a reconciliation loop: suspend healing of the check and escalate
};
std::string_view DecisionName(DecisionKind kind);  // "run", "await_approval", ...

struct Decision {
  DecisionKind kind = DecisionKind::kSkip;
  std::string reason;                  // one sentence, for the log, the evidence record and the API
  std::optional<WallTime> not_before;  // kWaitForWindow: the next window's start
  bool dry_run = false;                // when it runs: record what would run, run nothing

  bool operator==(const Decision&) const = default;
};

// The tiered policy, for a firing drift alert whose check maps to `runbook` and drifts for
// `causes` (its findings' causes, when known), in order: suspended -> skip; busy -> skip (one
// action per check at a time); manual, or a cause in the runbook's manual_causes -> manual; healed
// less than `cooldown` ago -> suspend (the drift came back: a reconciliation loop); max_attempts
// within attempts_window -> skip; failed less than `cooldown` ago -> skip; approval -> await
// approval (the window is applied once approved, by RunWindow); outside every window the runbook
// names -> wait for the next; else run. Dry run when the section or the runbook says so. Pure.
// `drift_started` (the alert's startsAt) dates the drift for the loop test, so that a delivery
// delayed by Alertmanager's grouping still counts from when the drift came back.
Decision Decide(const Runbook& runbook, const HealingConfig& config, const CheckHistory& history,
                WallTime now, const std::vector<std::string>& causes = {},
                std::optional<WallTime> drift_started = std::nullopt);

// When an approved or deferred action of `runbook` may run: nullopt = now (no window named, or
// inside one), else the next start of one of its windows. Pure.
std::optional<WallTime> RunWindow(const Runbook& runbook, const HealingConfig& config,
                                  WallTime now);

// `history` with attempts older than `window` before `now` dropped (what Decide counts). Pure.
CheckHistory Pruned(CheckHistory history, std::chrono::milliseconds window, WallTime now);

}  // namespace drift::healing
