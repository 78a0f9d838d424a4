#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alerts/alert.h"
#include "alerts/config.h"
#include "alerts/delivery.h"
#include "alerts/http_poster.h"
#include "alerts/tracker.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace drift::alerts {

// How long an Alertmanager dropped by a reload may still flush its queue.
inline constexpr std::chrono::milliseconds kReloadFlushTimeout{1'000};

// The exporter as an alert source: the alert state machine (AlertTracker) fed by Fire/Resolve,
// a dispatcher thread that hands whatever is due to every configured Alertmanager, and one
// AlertmanagerSink per Alertmanager.
// Fire, Resolve and Kick only update memory and wake the dispatcher: they never wait for the
// network, so checks and /metrics are never held up by alerting. All methods are thread-safe.
class Notifier {
 public:
  using PosterFactory = std::function<std::unique_ptr<HttpPoster>(const AlertmanagerConfig&)>;

  // `clock` stamps alerts; `observer` (metrics) must outlive the Notifier; `make_poster`
  // connects a sink to its Alertmanager (tests inject fakes); the dispatcher's idle waits and
  // the sinks' backoff and flush deadlines run on `monotonic`.
  Notifier(const Clock& clock, DeliveryObserver& observer, PosterFactory make_poster,
           DeliveryOptions options = {}, const MonotonicClock& monotonic = SteadyClock::Get());
  // Stops without flushing if Stop() was not called.
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Applies a (re)loaded configuration: the resend interval, then the Alertmanagers. Unchanged
  // ones keep their queue; new ones get every current alert at once; removed ones flush for at
  // most kReloadFlushTimeout (this call waits for that). Throws only what make_poster throws.
  void Configure(const AlertingConfig& config) DRIFT_EXCLUDES(configure_mu_, mu_);

  // See AlertTracker: start or update the alert in `slot`, or resolve it. Stamped with the
  // clock's now; a new alert starts at `starts_at` when given.
  void Fire(const std::string& slot, AlertContent content,
            std::optional<WallTime> starts_at = std::nullopt) DRIFT_EXCLUDES(mu_);
  void Resolve(const std::string& slot) DRIFT_EXCLUDES(mu_);
  bool Firing(const std::string& slot) const DRIFT_EXCLUDES(mu_);
  std::vector<std::string> FiringSlots() const DRIFT_EXCLUDES(mu_);

  // Makes the dispatcher look at the clock again now (for tests that move a fake clock).
  void Kick() DRIFT_EXCLUDES(mu_);

  // Sends what is due one last time, then flushes every Alertmanager's queue in parallel for at
  // most `flush_timeout` and stops all threads. Later calls do nothing.
  void Stop(std::chrono::milliseconds flush_timeout) DRIFT_EXCLUDES(configure_mu_, mu_);

 private:
  struct SinkEntry {
    AlertmanagerConfig target;
    std::size_t capacity;
    std::shared_ptr<AlertmanagerSink> sink;
  };
  void Run() DRIFT_EXCLUDES(mu_);

  const Clock& clock_;
  DeliveryObserver& observer_;
  PosterFactory make_poster_;
  const DeliveryOptions options_;
  const MonotonicClock& monotonic_;

  Mutex configure_mu_ DRIFT_ACQUIRED_BEFORE(mu_);  // serialises Configure and Stop
  mutable Mutex mu_;
  CondVar cv_;
  AlertTracker tracker_ DRIFT_GUARDED_BY(mu_);
  std::vector<SinkEntry> sinks_ DRIFT_GUARDED_BY(mu_);
  bool kicked_ DRIFT_GUARDED_BY(mu_) = false;
  bool active_changed_ DRIFT_GUARDED_BY(mu_) = true;
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
  bool stopped_ DRIFT_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started by the constructor, joined by Stop (under configure_mu_)
};

}  // namespace drift::alerts
