#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace drift::exporter {

// The text exposition of what `collectables` collect now, in their order. Thread-safe if their
// Collect() is.
std::string RenderMetrics(
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);

// When MetricsCache renders (see there).
struct MetricsCacheTiming {
  std::chrono::milliseconds min_interval{250};   // between renders for new results
  std::chrono::milliseconds refresh_after{750};  // a body this old is renewed when read
  std::chrono::milliseconds max_age{1000};       // never served older
};

// The /metrics body, rendered from collectables and cached; a request never renders and, while
// a recent body exists, never waits for a render.
//
// A body is served while it is younger than `max_age` (ages and counters move). A request that
// finds it older than `refresh_after`, or finds new results (the version changed) in a body
// older than `min_interval`, asks the render thread for a new one and is served the current
// body meanwhile; the new body replaces it whole (an atomic pointer swap), so a reader gets one
// render's output, never a mix. Only when no body will do (the first request, a request after a
// quiet spell, after Invalidate(), or asking for newer results with Get(min_version)) does a
// request wait for the render thread. So with scrapes coming steadily the body is re-rendered
// before it turns `max_age` old, and at most once per `min_interval` for new results.
// Thread-safe; the destructor waits for a render in progress and must not run while a Get() does.
class MetricsCache {
 public:
  using Timing = MetricsCacheTiming;

  // Ages are measured on `clock` (tests pass a FakeMonotonicClock), which must outlive the cache.
  MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
               std::function<std::uint64_t()> version, Timing timing = {},
               const MonotonicClock& clock = SteadyClock::Get());
  ~MetricsCache();
  MetricsCache(const MetricsCache&) = delete;
  MetricsCache& operator=(const MetricsCache&) = delete;

  // The current body; shared, never modified once returned. With `min_version`, a body rendered
  // from results at least that new (waits for one if need be: on_scrape mode, where a scrape
  // must show the run it waited for).
  std::shared_ptr<const std::string> Get(std::uint64_t min_version = 0) DRIFT_EXCLUDES(mu_);
  // The next Get() waits for a body rendered after this call (after a reload: what an operator
  // just did shows at once).
  void Invalidate() DRIFT_EXCLUDES(mu_);
  // Waits until the current body is no longer `body` (a render asked for earlier has been
  // published), or `limit` of real time passes, and returns the current body. Asks for nothing
  // itself: for tests, which must see a render happen without sleeping.
  std::shared_ptr<const std::string> AwaitReplaced(
      const std::shared_ptr<const std::string>& body,
      std::chrono::milliseconds limit = std::chrono::seconds(10)) DRIFT_EXCLUDES(mu_);

 private:
  struct Body {
    std::shared_ptr<const std::string> text;
    std::uint64_t version;     // of the results it was rendered from
    std::uint64_t generation;  // Invalidate() calls before the render started
    Deadline built;            // when the render started (on clock_)
  };
  enum class Need { kNothing, kRefresh, kWait };
  Need Assess(const Body* body, Deadline now, std::uint64_t min_version) const;
  // Wakes the render thread unless it is already asked to render.
  void RequestRender() DRIFT_EXCLUDES(mu_);
  void RenderLoop() DRIFT_EXCLUDES(mu_);

  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  const std::function<std::uint64_t()> version_;
  const Timing timing_;
  const MonotonicClock& clock_;
  // Read by every request without mu_: the serving path takes no lock.
  std::atomic<std::shared_ptr<const Body>> body_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> render_requested_{false};
  std::atomic<std::uint64_t> wanted_version_{0};  // the highest min_version asked of Get()
  Mutex mu_;             // held only to sleep and wake: never while rendering
  CondVar render_cv_;    // render thread: a render is requested, or stopping
  CondVar rendered_cv_;  // waiting requests: a body was published
  bool stopping_ DRIFT_GUARDED_BY(mu_) = false;
  std::thread renderer_;  // started last, joined by the destructor
};

}  // namespace drift::exporter
