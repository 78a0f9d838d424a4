#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alerts/alert.h"
#include "alerts/config.h"
#include "alerts/http_poster.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace drift::alerts {

// What became of an attempt to send a batch.
enum class Outcome {
  kSuccess,   // 2xx: Alertmanager has them
  kError,     // no answer, 5xx or 429: kept and retried with backoff
  kRejected,  // other 4xx (and 3xx): logged with the answer's body and dropped
};
std::string_view OutcomeName(Outcome outcome);  // "success", "error", "rejected"

// Where delivery reports what it does (the exporter turns these into metrics). Called from the
// delivery threads, sometimes under their locks: implementations must be quick, thread-safe and
// must not call back into the sender.
class DeliveryObserver {
 public:
  virtual ~DeliveryObserver() = default;
  // `alerts` alerts were sent to `alertmanager` (its configured URL) with `outcome`.
  virtual void Sent(std::string_view alertmanager, Outcome outcome, std::size_t alerts) = 0;
  // `alerts` alerts will never reach `alertmanager`: queue overflow, rejection, shutdown.
  virtual void Dropped(std::string_view alertmanager, std::size_t alerts) = 0;
  virtual void QueueLength(std::string_view alertmanager, std::size_t length) = 0;
  virtual void Delivered(std::string_view alertmanager, WallTime when) = 0;
  // The firing alerts per alertname, after every change.
  virtual void Active(const std::map<std::string, int>& firing_by_alertname) = 0;
  // `alertmanager` left the configuration: forget its series.
  virtual void Removed(std::string_view alertmanager) = 0;
};

struct DeliveryOptions {
  std::size_t max_batch = 64;  // alerts per POST, as Prometheus sends them
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
};

// The delay before retry number `attempt` (1 = the first retry): exponential from `initial`,
// capped at `max`, with "equal jitter" (half fixed, half uniformly random from `rng`) so that
// exporters that lost the same Alertmanager do not all come back at once. Pure but for `rng`.
std::chrono::milliseconds Backoff(int attempt, const DeliveryOptions& options, std::mt19937& rng);

// Delivery to one Alertmanager: a bounded queue (the oldest alert is dropped when full) and a
// sender thread that POSTs batches, retrying failures with backoff. Queuing replaces an alert
// still waiting with the same labels and start by its newer state (a resend or its resolution),
// so an outage fills the queue with distinct alerts rather than copies. Alertmanagers never
// share a sink: one that is down delays no other.
// Thread-safe; Enqueue never waits for the network. `clock` stamps deliveries; backoff and the
// flush deadline run on `monotonic`.
class AlertmanagerSink {
 public:
  AlertmanagerSink(AlertmanagerConfig target, std::size_t capacity,
                   std::unique_ptr<HttpPoster> poster, DeliveryObserver& observer,
                   const Clock& clock, DeliveryOptions options = {},
                   const MonotonicClock& monotonic = SteadyClock::Get());
  // Stops without flushing if Stop() was not called.
  ~AlertmanagerSink();
  AlertmanagerSink(const AlertmanagerSink&) = delete;
  AlertmanagerSink& operator=(const AlertmanagerSink&) = delete;

  // Ignored once stopping.
  void Enqueue(std::span<const Alert> alerts) DRIFT_EXCLUDES(mu_);
  // Takes no more alerts, keeps sending what is queued until `flush_timeout` has passed (each
  // POST's timeout shortened to fit; one already running is cancelled at the deadline), then
  // drops and counts the rest and joins the thread.
  // Stop = RequestStop + Join; calling RequestStop on several sinks first flushes them at once.
  void Stop(std::chrono::milliseconds flush_timeout) DRIFT_EXCLUDES(mu_);
  void RequestStop(std::chrono::milliseconds flush_timeout) DRIFT_EXCLUDES(mu_);
  void Join() DRIFT_EXCLUDES(mu_);

  const AlertmanagerConfig& target() const { return target_; }
  std::size_t queue_length() const DRIFT_EXCLUDES(mu_);

 private:
  struct Queued {
    Alert alert;
    std::string key;  // fingerprint + start: the same alert in a newer state replaces it
  };
  void Run() DRIFT_EXCLUDES(mu_);
  // Puts a failed batch back at the front, behind nothing newer of the same alert; trims.
  void Requeue(std::vector<Queued> batch) DRIFT_REQUIRES(mu_);
  void PushBack(Queued q) DRIFT_REQUIRES(mu_);
  void TrimLocked() DRIFT_REQUIRES(mu_);

  const AlertmanagerConfig target_;
  const std::size_t capacity_;
  std::unique_ptr<HttpPoster> poster_;
  DeliveryObserver& observer_;
  const Clock& clock_;
  const DeliveryOptions options_;
  const MonotonicClock& monotonic_;
  std::mt19937 rng_;  // the sender thread's

  mutable Mutex mu_;
  CondVar cv_;
  CondVar done_cv_;
  bool done_ DRIFT_GUARDED_BY(mu_) = false;  // Run() has returned
  std::list<Queued> queue_ DRIFT_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::list<Queued>::iterator> index_ DRIFT_GUARDED_BY(mu_);
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
  // Log a full queue once per outage (until a delivery).
  bool overflowing_ DRIFT_GUARDED_BY(mu_) = false;
  // Webhook receivers: when each firing alert (by queue key) was last queued, and when the
  // resolutions were, so that resends do not become repeated messages. Resolutions are
  // forgotten an hour on (the tracker resends them for 15 minutes).
  std::unordered_map<std::string, WallTime> webhook_sent_ DRIFT_GUARDED_BY(mu_);
  std::unordered_map<std::string, WallTime> resolved_sent_ DRIFT_GUARDED_BY(mu_);
  Deadline flush_deadline_ DRIFT_GUARDED_BY(mu_);
  Deadline retry_at_ DRIFT_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace drift::alerts
