#include "alerts/delivery.h"

#include <fmt/format.h>
#include <pthread.h>

#include <algorithm>

#include "alerts/webhook.h"
#include "common/log.h"

namespace drift::alerts {
namespace {

using std::chrono::milliseconds;

std::string QueueKey(const Alert& a) {
  return fmt::format("{}\x01{}", Fingerprint(a.content.labels),
                     a.starts_at.time_since_epoch().count());
}

Outcome Classify(const Result<HttpReply>& reply) {
  if (!reply.ok()) return Outcome::kError;
  long s = reply->status;
  if (s >= 200 && s < 300) return Outcome::kSuccess;
  // 429: Alertmanager (or a proxy) asks us to come back later.
  if (s >= 500 || s == 429) return Outcome::kError;
  return Outcome::kRejected;
}

// A reply body for a log line: one line, bounded.
std::string LogBody(std::string_view body) {
  std::string out(body.substr(0, 1024));
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kError:
      return "error";
    case Outcome::kRejected:
      return "rejected";
  }
  return "unknown";
}

milliseconds Backoff(int attempt, const DeliveryOptions& options, std::mt19937& rng) {
  milliseconds base = options.initial_backoff;
  for (int i = 1; i < attempt && base < options.max_backoff; ++i) base *= 2;
  base = std::min(base, options.max_backoff);
  std::uniform_int_distribution<milliseconds::rep> jitter(0, base.count() / 2);
  return milliseconds(base.count() - base.count() / 2 + jitter(rng));
}

AlertmanagerSink::AlertmanagerSink(AlertmanagerConfig target, std::size_t capacity,
                                   std::unique_ptr<HttpPoster> poster, DeliveryObserver& observer,
                                   const Clock& clock, DeliveryOptions options,
                                   const MonotonicClock& monotonic)
    : target_(std::move(target)),
      capacity_(std::max<std::size_t>(1, capacity)),
      poster_(std::move(poster)),
      observer_(observer),
      clock_(clock),
      options_(options),
      monotonic_(monotonic),
      rng_(std::random_device{}()) {
  observer_.QueueLength(target_.url, 0);
  thread_ = std::thread([this] { Run(); });
}

AlertmanagerSink::~AlertmanagerSink() { Stop(milliseconds(0)); }

std::size_t AlertmanagerSink::queue_length() const {
  MutexLock lock(mu_);
  return queue_.size();
}

void AlertmanagerSink::PushBack(Queued q) {
  if (auto it = index_.find(q.key); it != index_.end()) queue_.erase(it->second);
  queue_.push_back(std::move(q));
  index_[queue_.back().key] = std::prev(queue_.end());
}

void AlertmanagerSink::TrimLocked() {
  std::size_t dropped = 0;
  while (queue_.size() > capacity_) {
    index_.erase(queue_.front().key);
    queue_.pop_front();
    ++dropped;
  }
  if (dropped > 0) {
    observer_.Dropped(target_.url, dropped);
    if (!overflowing_) {
      log::Warn("alert queue full; dropping the oldest alerts",
                {{"alertmanager", target_.url}, {"capacity", capacity_}});
    }
    overflowing_ = true;
  }
  observer_.QueueLength(target_.url, queue_.size());
}

void AlertmanagerSink::Enqueue(std::span<const Alert> alerts) {
  if (alerts.empty()) return;
  {
    MutexLock lock(mu_);
    // Only a reload that removed this Alertmanager races a dispatch into a stopped sink: the
    // alerts were meant for a sink that is gone, not lost from one that exists.
    if (stopping_) return;
    const WallTime now = clock_.Now();
    std::erase_if(resolved_sent_,
                  [now](const auto& kv) { return now - kv.second > std::chrono::hours(1); });
    for (const Alert& a : alerts) {
      std::string key = QueueKey(a);
      if (target_.format == AlertFormat::kWebhook) {
        // A webhook receiver acts on every message: a firing alert goes out when it starts,
        // then every repeat_interval (as Alertmanager's repeat_interval), not at every resend;
        // its resolution goes out once.
        const bool firing = a.ends_at > now;
        auto sent = webhook_sent_.find(key);
        if (firing && sent != webhook_sent_.end() && now - sent->second < target_.repeat_interval) {
          continue;
        }
        if (firing) {
          webhook_sent_[key] = now;
        } else if (sent != webhook_sent_.end()) {
          webhook_sent_.erase(sent);
        } else if (resolved_sent_.contains(key)) {
          continue;  // resolved already sent (resends of a resolution)
        }
        if (!firing) resolved_sent_.emplace(key, now);
      }
      PushBack({a, std::move(key)});
    }
    TrimLocked();
  }
  cv_.NotifyAll();
}

void AlertmanagerSink::Requeue(std::vector<Queued> batch) {
  for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
    // A newer state of the same alert was queued meanwhile: it replaces this one.
    if (index_.contains(it->key)) continue;
    queue_.push_front(std::move(*it));
    index_[queue_.front().key] = queue_.begin();
  }
  TrimLocked();
}

void AlertmanagerSink::Stop(milliseconds flush_timeout) {
  RequestStop(flush_timeout);
  Join();
}

void AlertmanagerSink::RequestStop(milliseconds flush_timeout) {
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      flush_deadline_ = monotonic_.Now() + flush_timeout;
    }
  }
  cv_.NotifyAll();
}

void AlertmanagerSink::Join() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    while (!done_ && monotonic_.WaitUntil(done_cv_, mu_, flush_deadline_)) {
    }
    // Past the deadline with a POST still running (its timeout began before the stop).
    if (!done_) poster_->Cancel();
  }
  thread_.join();
}

void AlertmanagerSink::Run() {
  // Named for top -H and for the benchmark that measures alerting's CPU.
  pthread_setname_np(pthread_self(), "drift-am-send");
  int failures = 0;  // consecutive failed attempts
  MutexLock lock(mu_);
  for (;;) {
    Deadline now = monotonic_.Now();
    if (stopping_ && (queue_.empty() || now >= flush_deadline_)) break;
    if (queue_.empty()) {
      cv_.Wait(mu_);
      continue;
    }
    if (now < retry_at_) {
      monotonic_.WaitUntil(cv_, mu_, stopping_ ? std::min(retry_at_, flush_deadline_) : retry_at_);
      continue;
    }

    std::vector<Queued> batch;
    // A webhook message carries one alert, with its own status.
    const std::size_t max_batch = target_.format == AlertFormat::kWebhook ? 1 : options_.max_batch;
    while (!queue_.empty() && batch.size() < max_batch) {
      index_.erase(queue_.front().key);
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    std::vector<Alert> alerts;
    alerts.reserve(batch.size());
    for (Queued& q : batch) alerts.push_back(std::move(q.alert));
    observer_.QueueLength(target_.url, queue_.size());
    milliseconds timeout = target_.timeout;
    if (stopping_) {
      timeout = std::min(timeout, std::chrono::duration_cast<milliseconds>(flush_deadline_ - now));
    }
    mu_.Unlock();

    const std::string body =
        target_.format == AlertFormat::kWebhook
            ? RenderWebhookMessage(ToWebhookMessage(alerts.front(), target_.receiver,
                                                    target_.external_url, clock_.Now()))
            : EncodeAlerts(alerts);
    Result<HttpReply> reply = poster_->Post(body, timeout);
    Outcome outcome = Classify(reply);
    observer_.Sent(target_.url, outcome, batch.size());

    mu_.Lock();
    switch (outcome) {
      case Outcome::kSuccess:
        observer_.Delivered(target_.url, clock_.Now());
        if (failures > 0) {
          log::Info("alerts delivered to Alertmanager again",
                    {{"alertmanager", target_.url}, {"failed_attempts", failures}});
        }
        failures = 0;
        overflowing_ = false;  // an overflow episode ends with a delivery
        break;
      case Outcome::kRejected:
        // Sending the same alerts again would be rejected again: drop them, loudly.
        log::Error("Alertmanager rejected alerts; dropping them", {{"alertmanager", target_.url},
                                                                   {"status", reply->status},
                                                                   {"alerts", batch.size()},
                                                                   {"body", LogBody(reply->body)}});
        observer_.Dropped(target_.url, batch.size());
        failures = 0;
        break;
      case Outcome::kError: {
        ++failures;
        milliseconds delay = Backoff(failures, options_, rng_);
        retry_at_ = monotonic_.Now() + delay;
        std::string err = reply.ok()
                              ? fmt::format("HTTP {}: {}", reply->status, LogBody(reply->body))
                              : reply.error().message;
        // The first failure of an outage is a warning; the retries that follow are noise.
        auto level = failures == 1 ? log::Level::kWarn : log::Level::kDebug;
        if (log::Enabled(level)) {
          log::Log(level, "cannot send alerts to Alertmanager; will retry",
                   {{"alertmanager", target_.url},
                    {"alerts", batch.size()},
                    {"attempt", failures},
                    {"retry_in_ms", delay.count()},
                    {"err", err}});
        }
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i].alert = std::move(alerts[i]);
        Requeue(std::move(batch));
        break;
      }
    }
  }
  done_ = true;
  done_cv_.NotifyAll();
  if (!queue_.empty()) {
    log::Warn("dropping alerts not delivered before shutdown",
              {{"alertmanager", target_.url}, {"alerts", queue_.size()}});
    observer_.Dropped(target_.url, queue_.size());
    queue_.clear();
    index_.clear();
    observer_.QueueLength(target_.url, 0);
  }
}

}  // namespace drift::alerts
