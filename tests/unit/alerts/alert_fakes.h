#pragma once

// Hand-written fakes for the alert delivery seams: a scripted HttpPoster that records what it
// was sent, and a DeliveryObserver that counts what it was told.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "alerts/delivery.h"
#include "alerts/http_poster.h"

namespace drift::alerts::fakes {

// The answers of one fake Alertmanager, shared by the test and the poster the sink owns.
// Scripted answers are used in order; after them, every post gets `fallback`.
class FakeAlertmanager {
 public:
  struct Answer {
    Answer(long s = 200, std::string b = "", std::string e = "",
           std::chrono::milliseconds d = std::chrono::milliseconds(0))
        : status(s), body(std::move(b)), error(std::move(e)), delay(d) {}
    long status;  // 0: no answer (an error saying `error`)
    std::string body;
    std::string error;
    std::chrono::milliseconds delay;  // how long the post takes
  };

  void Script(std::vector<Answer> answers) {
    std::lock_guard lock(mu_);
    for (Answer& a : answers) script_.push_back(std::move(a));
  }
  void SetFallback(Answer answer) {
    std::lock_guard lock(mu_);
    fallback_ = std::move(answer);
  }

  // Every body posted, parsed, whatever the answer was.
  std::vector<nlohmann::json> posts() const {
    std::lock_guard lock(mu_);
    return posts_;
  }
  std::vector<std::chrono::milliseconds> timeouts() const {
    std::lock_guard lock(mu_);
    return timeouts_;
  }
  // The alerts of every post answered 2xx, flattened, in order.
  std::vector<nlohmann::json> accepted() const {
    std::lock_guard lock(mu_);
    return accepted_;
  }
  // Waits (up to `timeout`) until `pred()` holds under the lock; returns whether it did.
  bool WaitFor(const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, pred);
  }
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  std::size_t accepted_count_locked() const { return accepted_.size(); }
  const std::vector<nlohmann::json>& accepted_locked() const { return accepted_; }
  std::size_t post_count_locked() const { return posts_.size(); }
  // Posts begun, answered or not (posts() records a post when it returns).
  std::size_t started_count_locked() const { return started_; }

  Result<HttpReply> Post(std::string_view json, std::chrono::milliseconds timeout) {
    Answer a;
    {
      std::lock_guard lock(mu_);
      ++started_;
      cv_.notify_all();
      if (!script_.empty()) {
        a = script_.front();
        script_.pop_front();
      } else {
        a = fallback_;
      }
    }
    std::unique_lock lock(mu_);
    if (a.delay.count() > 0) {
      cv_.wait_for(lock, std::min(a.delay, timeout), [this] { return cancelled_; });
    }
    if (cancelled_) return Error{"cancelled"};
    nlohmann::json body = nlohmann::json::parse(json);
    posts_.push_back(body);
    timeouts_.push_back(timeout);
    cv_.notify_all();
    if (a.status == 0) return Error{a.error};
    if (a.delay > timeout) return Error{"timed out"};
    if (a.status >= 200 && a.status < 300) {
      for (const auto& alert : body) accepted_.push_back(alert);
    }
    return HttpReply{a.status, a.body};
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Answer> script_;
  Answer fallback_;
  std::vector<nlohmann::json> posts_;
  std::vector<std::chrono::milliseconds> timeouts_;
  std::vector<nlohmann::json> accepted_;
  std::size_t started_ = 0;
  bool cancelled_ = false;
};

class FakePoster final : public HttpPoster {
 public:
  explicit FakePoster(FakeAlertmanager& am) : am_(am) {}
  Result<HttpReply> Post(std::string_view json, std::chrono::milliseconds timeout) override {
    return am_.Post(json, timeout);
  }
  void Cancel() override { am_.Cancel(); }

 private:
  FakeAlertmanager& am_;
};

class RecordingObserver final : public DeliveryObserver {
 public:
  void Sent(std::string_view am, Outcome outcome, std::size_t n) override {
    std::lock_guard lock(mu_);
    sent_[std::string(am) + " " + std::string(OutcomeName(outcome))] += n;
  }
  void Dropped(std::string_view am, std::size_t n) override {
    std::lock_guard lock(mu_);
    dropped_[std::string(am)] += n;
  }
  void QueueLength(std::string_view am, std::size_t length) override {
    std::lock_guard lock(mu_);
    queue_[std::string(am)] = length;
    max_queue_[std::string(am)] = std::max(max_queue_[std::string(am)], length);
  }
  void Delivered(std::string_view am, WallTime when) override {
    std::lock_guard lock(mu_);
    delivered_[std::string(am)] = when;
  }
  void Active(const std::map<std::string, int>& firing) override {
    std::lock_guard lock(mu_);
    active_ = firing;
  }
  void Removed(std::string_view am) override {
    std::lock_guard lock(mu_);
    removed_.emplace_back(am);
  }

  // "<url> <outcome>" -> alerts.
  std::map<std::string, std::size_t> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }
  std::size_t dropped(const std::string& am) const {
    std::lock_guard lock(mu_);
    auto it = dropped_.find(am);
    return it == dropped_.end() ? 0 : it->second;
  }
  std::size_t queue(const std::string& am) const {
    std::lock_guard lock(mu_);
    auto it = queue_.find(am);
    return it == queue_.end() ? 0 : it->second;
  }
  std::size_t max_queue(const std::string& am) const {
    std::lock_guard lock(mu_);
    auto it = max_queue_.find(am);
    return it == max_queue_.end() ? 0 : it->second;
  }
  std::optional<WallTime> delivered(const std::string& am) const {
    std::lock_guard lock(mu_);
    auto it = delivered_.find(am);
    if (it == delivered_.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, int> active() const {
    std::lock_guard lock(mu_);
    return active_;
  }
  std::vector<std::string> removed() const {
    std::lock_guard lock(mu_);
    return removed_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::size_t> sent_;
  std::map<std::string, std::size_t> dropped_;
  std::map<std::string, std::size_t> queue_;
  std::map<std::string, std::size_t> max_queue_;
  std::map<std::string, WallTime> delivered_;
  std::map<std::string, int> active_;
  std::vector<std::string> removed_;
};

}  // namespace drift::alerts::fakes
