#pragma once

// A mutex, its scoped lock and a condition variable that clang's thread-safety analysis can
// follow (libstdc++'s std::mutex carries no annotations). Same cost as std::mutex and
// std::condition_variable, which they wrap.
//
// Waiting on a condition is written as an explicit loop, so that the analysis sees the guarded
// fields read with the mutex held:
//
//   MutexLock lock(mu_);
//   while (!stopping_ && queue_.empty()) cv_.Wait(mu_);

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "common/thread_annotations.h"

namespace drift {

class DRIFT_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() DRIFT_ACQUIRE() { mu_.lock(); }
  void Unlock() DRIFT_RELEASE() { mu_.unlock(); }
  bool TryLock() DRIFT_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the caller holds this mutex (a callback run under it).
  void AssertHeld() const DRIFT_ASSERT_HELD(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

class DRIFT_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) DRIFT_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() DRIFT_RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// There is deliberately no scoped unlock: clang 14's analysis treats any scoped capability's
// destructor as a release, so code that calls out without the lock writes mu.Unlock() ...
// mu.Lock(), which the analysis follows.

// A condition variable bound to a drift::Mutex at each wait. Wakeups may be spurious: wait in a
// loop on the condition.
class CondVar {
 public:
  void Wait(Mutex& mu) DRIFT_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns false if `deadline` passed (on the real monotonic clock; code that takes a
  // MonotonicClock waits through it instead, so that tests can fake time).
  bool WaitUntil(Mutex& mu, std::chrono::steady_clock::time_point deadline) DRIFT_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool notified = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace drift
