#pragma once

#include <chrono>

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

// Seconds since the Unix epoch as a double, the unit Prometheus timestamps use.
inline double ToUnixSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace drift
