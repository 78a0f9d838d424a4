#pragma once

// A monotonic clock that moves only when a test says so. Code waiting through it
// (MonotonicClock::WaitUntil) wakes when Advance passes its deadline, so a test of a timer, an
// interval or a backoff runs in microseconds and never sleeps.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace drift::testing {

class FakeMonotonicClock final : public MonotonicClock {
 public:
  FakeMonotonicClock() : now_(std::chrono::hours(1'000)) {}

  Deadline Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  bool WaitUntil(CondVar& cv, Mutex& mu, Deadline deadline) const override DRIFT_REQUIRES(mu) {
    {
      std::lock_guard lock(mu_);
      if (now_ >= deadline) return false;
      waiters_.push_back({&cv, &mu});
      ++waits_;
      changed_.notify_all();
    }
    cv.Wait(mu);
    std::lock_guard lock(mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), Waiter{&cv, &mu}));
    changed_.notify_all();
    return now_ < deadline;
  }

  // Moves time forward and wakes every waiter, whose deadline may have passed. Call it from the
  // thread that owns the waiting objects (the test's), never with one of their mutexes held.
  void Advance(std::chrono::nanoseconds d) {
    std::vector<Waiter> waiters;
    {
      std::lock_guard lock(mu_);
      now_ += d;
      waiters = waiters_;
    }
    // Taking each waiter's mutex before notifying closes the window between its registration
    // (above, with its mutex held) and its wait: the notification cannot be lost.
    for (const Waiter& w : waiters) {
      MutexLock hold(*w.mu);
      w.cv->NotifyAll();
    }
  }

  // Blocks until at least `n` threads wait on this clock (a component parked at its timer), or
  // `limit` of real time passes. Returns whether they did.
  bool AwaitWaiters(std::size_t n,
                    std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, limit, [&] { return waiters_.size() >= n; });
  }

  // Blocks until the clock has been waited on `n` times in all (a component went back to sleep
  // after the last Advance), or `limit` of real time passes. Returns whether it was.
  bool AwaitWaits(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, limit, [&] { return waits_ >= n; });
  }

  // Waits through the clock so far (how many times a component went to sleep on it).
  std::size_t waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  struct Waiter {
    CondVar* cv;
    Mutex* mu;
    bool operator==(const Waiter&) const = default;
  };
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  Deadline now_;
  mutable std::vector<Waiter> waiters_;
  mutable std::size_t waits_ = 0;
};

// A monotonic clock for code that waits on the calling thread (a check re-reading after a pause):
// it starts at the real steady clock, so deadlines made from either agree, and a wait jumps it to
// the deadline at once. Such code then runs without sleeping while the time it sees still passes,
// and a test reads how long it waited from Now().
class InstantMonotonicClock final : public MonotonicClock {
 public:
  Deadline Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  bool WaitUntil(CondVar& /*cv*/, [[maybe_unused]] Mutex& mu, Deadline deadline) const override
      DRIFT_REQUIRES(mu) {
    std::lock_guard lock(mu_);
    now_ = std::max(now_, deadline);
    return false;
  }

 private:
  mutable std::mutex mu_;
  mutable Deadline now_ = std::chrono::steady_clock::now();
};

}  // namespace drift::testing
