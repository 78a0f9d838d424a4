#include "healing/action.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/rfc3339.h"

namespace drift::healing {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;

constexpr std::array<std::pair<ActionStatus, std::string_view>, 13> kStatusNames = {{
    {ActionStatus::kAwaitingApproval, "awaiting_approval"},
    {ActionStatus::kWaitingForWindow, "waiting_for_window"},
    {ActionStatus::kQueued, "queued"},
    {ActionStatus::kRunning, "running"},
    {ActionStatus::kHealed, "healed"},
    {ActionStatus::kFailed, "failed"},
    {ActionStatus::kDryRun, "dry_run"},
    {ActionStatus::kRejected, "rejected"},
    {ActionStatus::kExpired, "expired"},
    {ActionStatus::kCancelled, "cancelled"},
    {ActionStatus::kInterrupted, "interrupted"},
    {ActionStatus::kManual, "manual"},
    {ActionStatus::kSkipped, "skipped"},
}};

// Times as integer nanoseconds since the epoch: exact, and no parsing of text on load.
std::int64_t Nanos(WallTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
WallTime FromNanos(std::int64_t n) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(n)));
}

json OptionalTime(const std::optional<WallTime>& t) { return t ? json(Nanos(*t)) : json(); }

json ToJson(const Action& a) {
  return {
      {"id", a.id},
      {"check", a.check},
      {"runbook", a.runbook},
      {"runbook_digest", a.runbook_digest},
      {"tier", TierName(a.tier)},
      {"status", ActionStatusName(a.status)},
      {"reason", a.reason},
      {"dry_run", a.dry_run},
      {"fingerprint", a.fingerprint},
      {"alert_starts_at", Nanos(a.alert_starts_at)},
      {"alert_labels", a.alert_labels},
      {"receiver", a.receiver},
      {"requested_by", a.requested_by},
      {"decided_by", a.decided_by},
      {"created_at", Nanos(a.created_at)},
      {"updated_at", Nanos(a.updated_at)},
      {"expires_at", OptionalTime(a.expires_at)},
      {"not_before", OptionalTime(a.not_before)},
  };
}

json ToJson(const CheckHistory& h) {
  json attempts = json::array();
  for (WallTime t : h.attempts) attempts.push_back(Nanos(t));
  return {
      {"attempts", std::move(attempts)},
      {"last_healed", OptionalTime(h.last_healed)},
      {"last_failed", OptionalTime(h.last_failed)},
      {"suspended_at", OptionalTime(h.suspended_at)},
      {"suspended_reason", h.suspended_reason},
  };
}

std::optional<WallTime> ReadOptionalTime(const json& v) {
  if (v.is_null()) return std::nullopt;
  return FromNanos(v.get<std::int64_t>());
}

Action ActionFromJson(const json& v) {
  Action a;
  a.id = v.at("id").get<std::string>();
  a.check = v.at("check").get<std::string>();
  a.runbook = v.at("runbook").get<std::string>();
  a.runbook_digest = v.at("runbook_digest").get<std::string>();
  const std::string tier = v.at("tier").get<std::string>();
  a.tier = tier == "auto" ? Tier::kAuto : tier == "manual" ? Tier::kManual : Tier::kApproval;
  std::optional<ActionStatus> status = ParseActionStatus(v.at("status").get<std::string>());
  if (!status) throw std::runtime_error("unknown action status");
  a.status = *status;
  a.reason = v.at("reason").get<std::string>();
  a.dry_run = v.at("dry_run").get<bool>();
  a.fingerprint = v.at("fingerprint").get<std::string>();
  a.alert_starts_at = FromNanos(v.at("alert_starts_at").get<std::int64_t>());
  a.alert_labels = v.at("alert_labels").get<Labels>();
  a.receiver = v.at("receiver").get<std::string>();
  a.requested_by = v.at("requested_by").get<std::string>();
  a.decided_by = v.at("decided_by").get<std::string>();
  a.created_at = FromNanos(v.at("created_at").get<std::int64_t>());
  a.updated_at = FromNanos(v.at("updated_at").get<std::int64_t>());
  a.expires_at = ReadOptionalTime(v.at("expires_at"));
  a.not_before = ReadOptionalTime(v.at("not_before"));
  return a;
}

CheckHistory HistoryFromJson(const json& v) {
  CheckHistory h;
  for (const json& t : v.at("attempts")) h.attempts.push_back(FromNanos(t.get<std::int64_t>()));
  h.last_healed = ReadOptionalTime(v.at("last_healed"));
  h.last_failed = ReadOptionalTime(v.at("last_failed"));
  h.suspended_at = ReadOptionalTime(v.at("suspended_at"));
  h.suspended_reason = v.at("suspended_reason").get<std::string>();
  return h;
}

}  // namespace

std::string_view ActionStatusName(ActionStatus status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "skipped";
}

std::optional<ActionStatus> ParseActionStatus(std::string_view name) {
  for (const auto& [s, n] : kStatusNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool IsFinal(ActionStatus status) {
  switch (status) {
    case ActionStatus::kAwaitingApproval:
    case ActionStatus::kWaitingForWindow:
    case ActionStatus::kQueued:
    case ActionStatus::kRunning:
      return false;
    default:
      return true;
  }
}

std::string IdempotencyKey(std::string_view fingerprint, WallTime starts_at) {
  return fmt::format("{}@{}", fingerprint, Nanos(starts_at));
}

std::string SerializeState(const HealingState& state) {
  json actions = json::array();
  for (const auto& [id, a] : state.actions) actions.push_back(ToJson(a));
  json handled = json::object();
  for (const auto& [key, id] : state.handled) {
    auto at = state.handled_at.find(key);
    handled[key] = {{"action", id}, {"at", at == state.handled_at.end() ? 0 : Nanos(at->second)}};
  }
  json history = json::object();
  for (const auto& [check, h] : state.history) history[check] = ToJson(h);
  const json root = {
      {"version", kStateVersion},      {"actions", std::move(actions)},
      {"handled", std::move(handled)}, {"history", std::move(history)},
      {"escalated", state.escalated},
  };
  return root.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<HealingState> ParseState(std::string_view text) {
  try {
    const json root = json::parse(text);
    if (root.at("version") != kStateVersion) {
      return Err("version {} of the healing state; this exporter reads version {}",
                 root.at("version").dump(), kStateVersion);
    }
    HealingState state;
    for (const json& a : root.at("actions")) {
      Action action = ActionFromJson(a);
      state.actions.emplace(action.id, std::move(action));
    }
    for (const auto& [key, v] : root.at("handled").items()) {
      state.handled.emplace(key, v.at("action").get<std::string>());
      state.handled_at.emplace(key, FromNanos(v.at("at").get<std::int64_t>()));
    }
    for (const auto& [check, h] : root.at("history").items()) {
      state.history.emplace(check, HistoryFromJson(h));
    }
    state.escalated = root.at("escalated").get<std::map<std::string, std::string>>();
    return state;
  } catch (const std::exception& e) {
    return Err("not a healing state file: {}", e.what());
  }
}

void PruneState(HealingState& state, std::size_t keep_final, std::chrono::milliseconds key_ttl,
                std::chrono::milliseconds attempts_window, WallTime now) {
  std::vector<const Action*> final_actions;
  for (const auto& [id, a] : state.actions) {
    if (IsFinal(a.status)) final_actions.push_back(&a);
  }
  if (final_actions.size() > keep_final) {
    std::sort(final_actions.begin(), final_actions.end(), [](const Action* x, const Action* y) {
      return std::tie(x->updated_at, x->id) > std::tie(y->updated_at, y->id);
    });
    std::vector<std::string> drop;
    for (std::size_t i = keep_final; i < final_actions.size(); ++i) {
      drop.push_back(final_actions[i]->id);
    }
    for (const std::string& id : drop) state.actions.erase(id);
  }
  for (auto it = state.handled_at.begin(); it != state.handled_at.end();) {
    if (now - it->second >= key_ttl) {
      state.handled.erase(it->first);
      it = state.handled_at.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [check, h] : state.history) h = Pruned(std::move(h), attempts_window, now);
}

}  // namespace drift::healing
