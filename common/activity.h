#pragma once

#include <mutex>
#include <string>
#include <utility>

namespace drift {

// What a thread running a check is waiting for right now (the command it runs), so that a report
// about a check that is still running can say what holds it up. Each thread has one
// (ThisThreadActivity); ProcessRunner sets it around every command. Thread-safe: the owning thread
// writes, any thread may read.
class Activity {
 public:
  void Set(std::string what) {
    std::lock_guard lock(mu_);
    what_ = std::move(what);
  }
  // Empty when the thread waits for nothing in particular (e.g. it is hashing a file).
  std::string Get() const {
    std::lock_guard lock(mu_);
    return what_;
  }

 private:
  mutable std::mutex mu_;
  std::string what_;
};

// The calling thread's Activity; it lives as long as the thread.
inline Activity& ThisThreadActivity() {
  thread_local Activity activity;
  return activity;
}

// Sets the calling thread's activity for a scope, then clears it.
class ScopedActivity {
 public:
  explicit ScopedActivity(std::string what) { ThisThreadActivity().Set(std::move(what)); }
  ~ScopedActivity() { ThisThreadActivity().Set({}); }
  ScopedActivity(const ScopedActivity&) = delete;
  ScopedActivity& operator=(const ScopedActivity&) = delete;
};

}  // namespace drift
