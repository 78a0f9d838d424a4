#pragma once

#include <chrono>

#include "common/mutex.h"

namespace drift {

using WallTime = std::chrono::system_clock::time_point;
// Deadlines are on the monotonic clock so that wall-clock steps never stretch or cut a timeout.
using Deadline = std::chrono::steady_clock::time_point;

// Wall-clock time source. Thread-safe. Tests use a fake to control ages (backup age, drift age).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
};

// Monotonic time source for timers, intervals and backoff: everything that waits for time to
// pass waits through it, so that tests advance a fake instead of sleeping. Thread-safe.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual Deadline Now() const = 0;
  // Waits on `cv` (with `mu` held, released while waiting) until it is notified or Now() reaches
  // `deadline`. Returns false once the deadline has passed. Wakeups may be spurious: callers
  // re-check their condition in a loop.
  virtual bool WaitUntil(CondVar& cv, Mutex& mu, Deadline deadline) const DRIFT_REQUIRES(mu) = 0;
};

class SteadyClock final : public MonotonicClock {
 public:
  Deadline Now() const override { return std::chrono::steady_clock::now(); }
  bool WaitUntil(CondVar& cv, Mutex& mu, Deadline deadline) const override DRIFT_REQUIRES(mu) {
    return cv.WaitUntil(mu, deadline);
  }
  // The process-wide instance production code uses.
  static const SteadyClock& Get() {
    static const SteadyClock clock;
    return clock;
  }
};

// Returns once `clock` reaches `deadline`.
inline void SleepUntil(const MonotonicClock& clock, Deadline deadline) {
  Mutex mu;
  CondVar cv;
  MutexLock hold(mu);
  while (clock.WaitUntil(cv, mu, deadline)) {
  }
}

// Seconds since the Unix epoch as a double, the unit Prometheus timestamps use.
inline double ToUnixSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace drift
