#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "exporter/content_coding.h"

namespace drift::exporter {

// The text exposition of what `collectables` collect now, in their order. Thread-safe if their
// Collect() is.
std::string RenderMetrics(
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);

// One render's /metrics body in each content coding it is served in. Immutable once published.
struct MetricsBody {
  std::string text;  // the text exposition, sent as identity
  std::string gzip;  // `text` gzip-compressed; empty if compressing failed (then `text` is sent)
};

// The zlib level /metrics bodies are compressed at: the smallest output of zlib's fast strategy
// (levels 1 to 3). Level 4 and up match lazily, which for a 1,000-check body (471 KB) costs more
// than twice the CPU (2.7 ms instead of 1.2 ms per render) for 7% less (32 KB instead of 34.6);
// a render waits for it when a scrape finds no recent body, as with a 15 s scrape interval.
inline constexpr int kMetricsGzipLevel = 3;

// `text` as MetricsCache compresses it by default: GzipCompress at kMetricsGzipLevel.
Result<std::string> GzipMetrics(std::string_view text);

// The bytes of one MetricsBody to send, and how they are encoded.
struct EncodedBody {
  std::shared_ptr<const std::string> bytes;         // shares ownership of its MetricsBody
  ContentCoding coding = ContentCoding::kIdentity;  // kIdentity or kGzip
};

// What to send to a request with this Accept-Encoding value (nullopt: no header): the gzip
// body when the request accepts gzip (NegotiateContentCoding) and `body` has one, else the text.
// A request that refuses identity too gets the text anyway, as Prometheus' client_golang
// (promhttp) does: a scrape that fails helps no one, and RFC 9110 §12.1 lets a server disregard
// the header rather than answer 406. Pure.
EncodedBody SelectEncoding(const std::shared_ptr<const MetricsBody>& body,
                           std::optional<std::string_view> accept_encoding);

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
//
// The render thread also compresses each body (`compress`, gzip by default) before publishing
// it: once per render, however many requests are served from it, and never on a request's
// thread. A body whose compression failed is published without it (a warning is logged when
// that starts and when it ends); requests then get the text.
// Thread-safe; the destructor waits for a render in progress and must not run while a Get() does.
class MetricsCache {
 public:
  using Timing = MetricsCacheTiming;
  // Compresses a rendered body; called on the render thread only.
  using Compress = std::function<Result<std::string>(std::string_view text)>;

  // Ages are measured on `clock` (tests pass a FakeMonotonicClock), which must outlive the cache.
  MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
               std::function<std::uint64_t()> version, Timing timing = {},
               const MonotonicClock& clock = SteadyClock::Get(), Compress compress = GzipMetrics);
  ~MetricsCache();
  MetricsCache(const MetricsCache&) = delete;
  MetricsCache& operator=(const MetricsCache&) = delete;

  // The current body, as text and gzip of the same render; shared, never modified once
  // returned. With `min_version`, a body rendered from results at least that new (waits for one
  // if need be: on_scrape mode, where a scrape must show the run it waited for).
  std::shared_ptr<const MetricsBody> Get(std::uint64_t min_version = 0) DRIFT_EXCLUDES(mu_);
  // Get() when it would not wait: the current body (a render asked for if it is due), or null
  // when Get() would wait for one. Lock-free: for the web server's event loop.
  std::shared_ptr<const MetricsBody> TryGet();
  // The next Get() waits for a body rendered after this call (after a reload: what an operator
  // just did shows at once).
  void Invalidate() DRIFT_EXCLUDES(mu_);
  // Waits until the current body is no longer `body` (a render asked for earlier has been
  // published), or `limit` of real time passes, and returns the current body. Asks for nothing
  // itself: for tests, which must see a render happen without sleeping.
  std::shared_ptr<const MetricsBody> AwaitReplaced(
      const std::shared_ptr<const MetricsBody>& body,
      std::chrono::milliseconds limit = std::chrono::seconds(10)) DRIFT_EXCLUDES(mu_);

 private:
  struct Body {
    MetricsBody rendered;      // handed out through aliasing pointers that share the Body
    std::uint64_t version;     // of the results it was rendered from
    std::uint64_t generation;  // Invalidate() calls before the render started
    Deadline built;            // when the render started (on clock_)
  };
  enum class Need { kNothing, kRefresh, kWait };
  Need Assess(const Body* body, Deadline now, std::uint64_t min_version) const;
  // `body` if it may be served (asking for a render when it is due), else null.
  std::shared_ptr<const MetricsBody> Serve(std::shared_ptr<const Body> body, Deadline now,
                                           std::uint64_t min_version) DRIFT_EXCLUDES(mu_);
  // Wakes the render thread unless it is already asked to render.
  void RequestRender() DRIFT_EXCLUDES(mu_);
  void RenderLoop() DRIFT_EXCLUDES(mu_);
  // `text` and its compressed form; on the render thread.
  MetricsBody Encode(std::string text);
  static std::shared_ptr<const MetricsBody> Rendered(std::shared_ptr<const Body> body);

  const std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  const std::function<std::uint64_t()> version_;
  const Timing timing_;
  const MonotonicClock& clock_;
  const Compress compress_;
  bool compress_failing_ = false;  // the render thread's alone: whether the last compress failed
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
