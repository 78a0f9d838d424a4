#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alerts/alert.h"
#include "common/clock.h"

namespace drift::alerts {

// How long a resolved alert is still sent, so that an Alertmanager that missed the first
// "resolved" (restarting, unreachable) still learns of it. Prometheus keeps the same 15 minutes.
inline constexpr std::chrono::minutes kResolvedResendWindow{15};

// The alert state machine, per Alertmanager's client contract, driven only by the times it is
// given (no clock, no threads, no I/O), so tests replay any history exactly.
//
// Alerts live in slots, one per thing that can be wrong (e.g. "ComplianceDrift/firewall").
//  - Fire(slot) starts an alert unless the slot already fires with the same labels; then only
//    its annotations are updated, and go out with the next resend. A new alert starts at the
//    given starts_at (when what it is about began, e.g. a drift episode that began before a
//    restart), never after now; else now.
//    New labels (a severity change) resolve the old alert and start a new one: labels are an
//    alert's identity in Alertmanager.
//  - Resolve(slot) ends the slot's alert: it is sent at once with ends_at = now, then resent
//    every resend interval for kResolvedResendWindow. A slot that fires again later starts a new
//    alert (a new starts_at); a resolution of the same labels is then no longer resent (it would
//    overwrite the new alert in Alertmanager), though still sent once if it never was.
//  - Due(now) returns what must be sent now: new and changed-state alerts at once, firing ones
//    again every resend interval with ends_at = now + 4 x resend interval, so that Alertmanager
//    resolves them by itself if the exporter goes away. Resends due within a tenth of the
//    interval go out with the first one due, so that alerts started in one check cycle are
//    resent in one batch.
// Not thread-safe: the owner serialises calls.
class AlertTracker {
 public:
  explicit AlertTracker(std::chrono::milliseconds resend_interval);

  // Returns whether something is now due at once (a new alert, or new labels), as opposed to
  // an annotation update that waits for the next resend.
  bool Fire(const std::string& slot, AlertContent content, WallTime now,
            std::optional<WallTime> starts_at = std::nullopt);
  void Resolve(const std::string& slot, WallTime now);
  // Whether `slot` has a firing alert.
  bool Firing(const std::string& slot) const;
  // Every slot with a firing alert, in order.
  std::vector<std::string> FiringSlots() const;

  // The alerts to send at `now`; marks them sent. Forgets resolved alerts past their window.
  std::vector<Alert> Due(WallTime now);
  // When Due() next has something to return: nullopt if never (nothing tracked), a time <= now
  // if at once.
  std::optional<WallTime> NextDue() const;

  // Everything an Alertmanager that just joined should hear: each firing alert (as a resend
  // would send it) and each resolution still in its window. Does not mark them sent.
  std::vector<Alert> Current(WallTime now) const;

  // Firing alerts per alertname label.
  std::map<std::string, int> FiringByAlertname() const;

  // Applies to the next sends; firing alerts keep their last send time.
  void SetResendInterval(std::chrono::milliseconds resend_interval);
  std::chrono::milliseconds resend_interval() const { return resend_interval_; }

 private:
  struct Entry {
    AlertContent content;
    WallTime starts_at{};
    WallTime resolved_at{};  // only for resolved entries
    std::optional<WallTime> last_sent;
    // Resolved, and the same labels fire again as a new alert: send this resolution once (before
    // the new alert, so that Alertmanager sees an end and a new start), then forget it.
    bool superseded = false;
  };
  bool DueAt(const Entry& e, WallTime now, std::chrono::milliseconds early) const;
  void MoveToResolved(Entry entry, WallTime now);

  std::chrono::milliseconds resend_interval_;
  std::map<std::string, Entry> firing_;    // by slot
  std::map<std::string, Entry> resolved_;  // by fingerprint, still being resent
};

}  // namespace drift::alerts
