#include "alerts/notifier.h"

#include <pthread.h>

#include <algorithm>

#include "common/log.h"

namespace drift::alerts {
namespace {

// The dispatcher looks at the clock at least this often, so a wall-clock step cannot delay a
// resend for long.
constexpr std::chrono::milliseconds kMaxIdle{1'000};

}  // namespace

Notifier::Notifier(const Clock& clock, DeliveryObserver& observer, PosterFactory make_poster,
                   DeliveryOptions options, const MonotonicClock& monotonic)
    : clock_(clock),
      observer_(observer),
      make_poster_(std::move(make_poster)),
      options_(options),
      monotonic_(monotonic),
      tracker_(std::chrono::minutes(1)) {
  thread_ = std::thread([this] { Run(); });
}

Notifier::~Notifier() { Stop(std::chrono::milliseconds(0)); }

void Notifier::Configure(const AlertingConfig& config) {
  MutexLock configure_lock(configure_mu_);
  std::vector<SinkEntry> keep;
  std::vector<SinkEntry> gone;
  std::vector<SinkEntry> added;
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    tracker_.SetResendInterval(config.resend_interval);
    for (SinkEntry& e : sinks_) {
      bool still = std::any_of(config.alertmanagers.begin(), config.alertmanagers.end(),
                               [&](const AlertmanagerConfig& t) { return t == e.target; }) &&
                   e.capacity == config.queue_capacity;
      (still ? keep : gone).push_back(std::move(e));
    }
    sinks_.clear();
  }
  // Stop the old ones before their replacements start, so that a URL's series belong to one
  // sink at a time.
  for (SinkEntry& e : gone) e.sink->RequestStop(kReloadFlushTimeout);
  for (SinkEntry& e : gone) {
    e.sink->Join();
    bool url_stays =
        std::any_of(config.alertmanagers.begin(), config.alertmanagers.end(),
                    [&](const AlertmanagerConfig& t) { return t.url == e.target.url; });
    if (!url_stays) observer_.Removed(e.target.url);
    log::Info("stopped sending alerts to Alertmanager", {{"alertmanager", e.target.url}});
  }
  for (const AlertmanagerConfig& t : config.alertmanagers) {
    bool kept =
        std::any_of(keep.begin(), keep.end(), [&](const SinkEntry& e) { return e.target == t; });
    if (kept) continue;
    auto sink = std::make_shared<AlertmanagerSink>(t, config.queue_capacity, make_poster_(t),
                                                   observer_, clock_, options_, monotonic_);
    added.push_back({t, config.queue_capacity, std::move(sink)});
    log::Info("sending alerts to Alertmanager", {{"alertmanager", t.url}});
  }
  MutexLock lock(mu_);
  std::vector<Alert> current = tracker_.Current(clock_.Now());
  for (SinkEntry& e : added) e.sink->Enqueue(current);
  // Configuration order, for predictable logs and tests.
  for (const AlertmanagerConfig& t : config.alertmanagers) {
    for (auto* list : {&keep, &added}) {
      for (SinkEntry& e : *list) {
        if (e.sink && e.target == t) sinks_.push_back(std::move(e));
      }
    }
  }
}

void Notifier::Fire(const std::string& slot, AlertContent content,
                    std::optional<WallTime> starts_at) {
  {
    MutexLock lock(mu_);
    bool was = tracker_.Firing(slot);
    // Every run of a drifted check lands here; only a new alert needs the dispatcher now.
    if (!tracker_.Fire(slot, std::move(content), clock_.Now(), starts_at)) return;
    active_changed_ = active_changed_ || !was;
    kicked_ = true;
  }
  cv_.NotifyAll();
}

void Notifier::Resolve(const std::string& slot) {
  {
    MutexLock lock(mu_);
    if (!tracker_.Firing(slot)) return;
    tracker_.Resolve(slot, clock_.Now());
    active_changed_ = true;
    kicked_ = true;
  }
  cv_.NotifyAll();
}

bool Notifier::Firing(const std::string& slot) const {
  MutexLock lock(mu_);
  return tracker_.Firing(slot);
}

std::vector<std::string> Notifier::FiringSlots() const {
  MutexLock lock(mu_);
  return tracker_.FiringSlots();
}

void Notifier::Kick() {
  {
    MutexLock lock(mu_);
    kicked_ = true;
  }
  cv_.NotifyAll();
}

void Notifier::Run() {
  pthread_setname_np(pthread_self(), "drift-alerts");
  MutexLock lock(mu_);
  for (;;) {
    bool last = stopping_;
    kicked_ = false;
    std::vector<Alert> due = tracker_.Due(clock_.Now());
    std::vector<std::shared_ptr<AlertmanagerSink>> sinks;
    for (const SinkEntry& e : sinks_) sinks.push_back(e.sink);
    std::optional<std::map<std::string, int>> active;
    if (active_changed_) {
      active = tracker_.FiringByAlertname();
      active_changed_ = false;
    }
    mu_.Unlock();
    if (active) observer_.Active(*active);
    for (const auto& s : sinks) s->Enqueue(due);
    mu_.Lock();
    if (last) return;
    if (kicked_ || stopping_) continue;
    std::chrono::milliseconds idle = kMaxIdle;
    if (std::optional<WallTime> next = tracker_.NextDue()) {
      WallTime now = clock_.Now();
      // (NextDue may be WallTime::min(): compare before subtracting.)
      idle = *next <= now
                 ? std::chrono::milliseconds(0)
                 : std::min(kMaxIdle, std::chrono::ceil<std::chrono::milliseconds>(*next - now));
    }
    const Deadline until = monotonic_.Now() + idle;
    while (!kicked_ && !stopping_ && monotonic_.WaitUntil(cv_, mu_, until)) {
    }
  }
}

void Notifier::Stop(std::chrono::milliseconds flush_timeout) {
  MutexLock configure_lock(configure_mu_);
  std::vector<SinkEntry> sinks;
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.NotifyAll();
  // The dispatcher makes one last pass (a resolution made just now still goes out), then exits.
  if (thread_.joinable()) thread_.join();
  {
    MutexLock lock(mu_);
    sinks.swap(sinks_);
  }
  for (SinkEntry& e : sinks) e.sink->RequestStop(flush_timeout);
  for (SinkEntry& e : sinks) e.sink->Join();
}

}  // namespace drift::alerts
