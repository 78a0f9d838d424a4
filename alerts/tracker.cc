#include "alerts/tracker.h"

#include <algorithm>

namespace drift::alerts {

AlertTracker::AlertTracker(std::chrono::milliseconds resend_interval)
    : resend_interval_(resend_interval) {}

void AlertTracker::SetResendInterval(std::chrono::milliseconds resend_interval) {
  resend_interval_ = resend_interval;
}

bool AlertTracker::Fire(const std::string& slot, AlertContent content, WallTime now,
                        std::optional<WallTime> starts_at) {
  auto it = firing_.find(slot);
  if (it != firing_.end()) {
    if (it->second.content.labels == content.labels) {
      it->second.content = std::move(content);
      return false;
    }
    Entry old = std::move(it->second);
    firing_.erase(it);
    MoveToResolved(std::move(old), now);
  }
  // The same labels resolved earlier: the new alert supersedes that resolution. Alertmanager
  // keeps both apart only if it sees the end before the new start, so an unsent resolution goes
  // out once more, first; a sent one is never repeated (it would replace the new alert).
  if (auto old = resolved_.find(Fingerprint(content.labels)); old != resolved_.end()) {
    if (old->second.last_sent) {
      resolved_.erase(old);
    } else {
      old->second.superseded = true;
    }
  }
  // Never in the future (a clock stepped back): Alertmanager rejects an alert that starts after
  // it ends.
  WallTime start = starts_at ? std::min(*starts_at, now) : now;
  firing_.emplace(slot, Entry{std::move(content), start, {}, std::nullopt});
  return true;
}

void AlertTracker::Resolve(const std::string& slot, WallTime now) {
  auto it = firing_.find(slot);
  if (it == firing_.end()) return;
  Entry old = std::move(it->second);
  firing_.erase(it);
  MoveToResolved(std::move(old), now);
}

void AlertTracker::MoveToResolved(Entry entry, WallTime now) {
  entry.resolved_at = now;
  entry.last_sent.reset();  // send the resolution at once
  resolved_.insert_or_assign(Fingerprint(entry.content.labels), std::move(entry));
}

bool AlertTracker::Firing(const std::string& slot) const { return firing_.contains(slot); }

std::vector<std::string> AlertTracker::FiringSlots() const {
  std::vector<std::string> out;
  for (const auto& [slot, e] : firing_) out.push_back(slot);
  return out;
}

bool AlertTracker::DueAt(const Entry& e, WallTime now, std::chrono::milliseconds early) const {
  if (!e.last_sent) return true;
  // A clock stepped backwards must not silence an alert until it catches up again.
  return now < *e.last_sent || now - *e.last_sent >= resend_interval_ - early;
}

std::vector<Alert> AlertTracker::Due(WallTime now) {
  // Alerts that started a moment apart (one check cycle) would each be resent on their own:
  // once something is due, resend what would be due within a tenth of the interval with it,
  // so that resends travel in few batches. Resending a little early changes nothing else.
  auto strictly_due = [&](const auto& kv) { return DueAt(kv.second, now, {}); };
  bool any = std::any_of(firing_.begin(), firing_.end(), strictly_due) ||
             std::any_of(resolved_.begin(), resolved_.end(), strictly_due);
  const std::chrono::milliseconds early =
      any ? resend_interval_ / 10 : std::chrono::milliseconds(0);
  std::vector<Alert> out;
  // Resolutions first: one may end an alert whose labels start again below.
  for (auto it = resolved_.begin(); it != resolved_.end();) {
    Entry& e = it->second;
    // The resolution itself always goes out once, however late Due() is called.
    if (e.last_sent && now - e.resolved_at >= kResolvedResendWindow) {
      it = resolved_.erase(it);
      continue;
    }
    if (DueAt(e, now, early)) {
      out.push_back({e.content, e.starts_at, e.resolved_at});
      e.last_sent = now;
      if (e.superseded) {
        it = resolved_.erase(it);
        continue;
      }
    }
    ++it;
  }
  for (auto& [slot, e] : firing_) {
    if (!DueAt(e, now, early)) continue;
    out.push_back({e.content, e.starts_at, now + 4 * resend_interval_});
    e.last_sent = now;
  }
  return out;
}

std::vector<Alert> AlertTracker::Current(WallTime now) const {
  std::vector<Alert> out;
  for (const auto& [fp, e] : resolved_) out.push_back({e.content, e.starts_at, e.resolved_at});
  for (const auto& [slot, e] : firing_) {
    out.push_back({e.content, e.starts_at, now + 4 * resend_interval_});
  }
  return out;
}

std::optional<WallTime> AlertTracker::NextDue() const {
  std::optional<WallTime> next;
  auto consider = [&next](WallTime t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [slot, e] : firing_) {
    consider(e.last_sent ? *e.last_sent + resend_interval_ : WallTime::min());
  }
  for (const auto& [fp, e] : resolved_) {
    if (!e.last_sent) {
      consider(WallTime::min());
      continue;
    }
    // Whichever comes first: the next resend, or the end of the window (to forget it).
    consider(std::min(*e.last_sent + resend_interval_, e.resolved_at + kResolvedResendWindow));
  }
  return next;
}

std::map<std::string, int> AlertTracker::FiringByAlertname() const {
  std::map<std::string, int> out;
  for (const auto& [slot, e] : firing_) {
    auto name = e.content.labels.find("alertname");
    if (name != e.content.labels.end()) ++out[name->second];
  }
  return out;
}

}  // namespace drift::alerts
