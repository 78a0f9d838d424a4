#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/webhook_message.h"
#include "healing/config.h"
#include "healing/policy.h"

namespace drift::healing {

// Where an action stands. The first four wait or work; the rest are final.
enum class ActionStatus {
  kAwaitingApproval,  // an approver must approve or reject it before approval_expiry
  kWaitingForWindow,  // runs when one of its runbook's maintenance windows opens
  kQueued,            // runs next
  kRunning,           // its steps, verification or rollback are running
  kHealed,            // the steps ran and the check no longer drifts
  kFailed,            // a step failed or the check still drifts: rolled back, escalated
  kDryRun,            // dry run: what would have run is recorded, nothing ran
  kRejected,          // an approver said no
  kExpired,           // nobody approved it in time
  kCancelled,         // the drift resolved before it ran
  kInterrupted,       // the exporter stopped while it ran; never re-run by itself
  kManual,            // the runbook is manual: recorded and shown only
  kSkipped,           // the policy ran nothing (suspended, busy, limits, cooldown)
};
std::string_view ActionStatusName(ActionStatus status);  // "awaiting_approval", "healed", ...
std::optional<ActionStatus> ParseActionStatus(std::string_view name);
bool IsFinal(ActionStatus status);

// One drift alert turned into what healing does about it. Labels are kept for the record and
// the API; they never reach a command line, an environment or a file name.
struct Action {
  std::string id;  // "a" + 16 hex digits, unique; the approve/reject CLI and URL take it
  std::string check;
  std::string runbook;
  // RunbookDigest of the runbook when it was decided: an action runs only the runbook that was
  // decided (and approved), never one a reload changed since.
  std::string runbook_digest;
  Tier tier = Tier::kApproval;
  ActionStatus status = ActionStatus::kQueued;
  std::string reason;  // the last decision or outcome, one sentence
  bool dry_run = false;
  // The alert: its fingerprint and start are the idempotency key.
  std::string fingerprint;
  WallTime alert_starts_at{};
  Labels alert_labels;
  std::string receiver;
  std::string requested_by;  // the webhook caller's identity
  std::string decided_by;    // who approved or rejected it
  WallTime created_at{};
  WallTime updated_at{};
  std::optional<WallTime> expires_at;  // awaiting approval
  std::optional<WallTime> not_before;  // waiting for a window

  bool operator==(const Action&) const = default;
};

// (fingerprint, startsAt): the same alert delivered again (Alertmanager's retries, HA peers,
// repeat_interval) has the same key.
std::string IdempotencyKey(std::string_view fingerprint, WallTime starts_at);

// Everything healing must remember across a restart: the actions (every one still waiting or
// running, the latest final ones), the keys of the alerts already handled, and each check's
// history for the policy.
struct HealingState {
  std::map<std::string, Action> actions;         // by id
  std::map<std::string, std::string> handled;    // idempotency key -> action id ("" if none)
  std::map<std::string, WallTime> handled_at;    // idempotency key -> when, for pruning
  std::map<std::string, CheckHistory> history;   // by check
  std::map<std::string, std::string> escalated;  // check -> why healing failed

  bool operator==(const HealingState&) const = default;
};

// The state file's JSON (version 1). Pure.
std::string SerializeState(const HealingState& state);
// Error: not JSON, another version, or fields of the wrong type (the message says which).
Result<HealingState> ParseState(std::string_view text);

// Drops what no longer matters at `now`: final actions beyond the newest `keep_final`, handled
// keys older than `key_ttl` (Alertmanager stops resending a resolved alert long before), attempts
// outside `attempts_window`. Never drops an action that is not final. Pure.
void PruneState(HealingState& state, std::size_t keep_final, std::chrono::milliseconds key_ttl,
                std::chrono::milliseconds attempts_window, WallTime now);

}  // namespace drift::healing
