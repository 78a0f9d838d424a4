#include "exporter/metrics_cache.h"

#include <prometheus/text_serializer.h>
#include <pthread.h>

#include <sstream>

#include "common/log.h"

namespace drift::exporter {

using prometheus::MetricFamily;

Result<std::string> GzipMetrics(std::string_view text) {
  return GzipCompress(text, kMetricsGzipLevel);
}

EncodedBody SelectEncoding(const std::shared_ptr<const MetricsBody>& body,
                           std::optional<std::string_view> accept_encoding) {
  if (!body->gzip.empty() && NegotiateContentCoding(accept_encoding) == ContentCoding::kGzip) {
    return {std::shared_ptr<const std::string>(body, &body->gzip), ContentCoding::kGzip};
  }
  return {std::shared_ptr<const std::string>(body, &body->text), ContentCoding::kIdentity};
}

MetricsCache::MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                           std::function<std::uint64_t()> version, Timing timing,
                           const MonotonicClock& clock, Compress compress)
    : collectables_(std::move(collectables)),
      version_(std::move(version)),
      timing_(timing),
      clock_(clock),
      compress_(std::move(compress)),
      renderer_([this] { RenderLoop(); }) {}

MetricsCache::~MetricsCache() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  render_cv_.NotifyAll();
  rendered_cv_.NotifyAll();
  renderer_.join();
}

std::string RenderMetrics(
    const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables) {
  std::vector<MetricFamily> families;
  for (const auto& c : collectables) {
    std::vector<MetricFamily> part = c->Collect();
    families.insert(families.end(), std::make_move_iterator(part.begin()),
                    std::make_move_iterator(part.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return std::move(out).str();
}

void MetricsCache::Invalidate() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  RequestRender();
}

MetricsCache::Need MetricsCache::Assess(const Body* body, Deadline now,
                                        std::uint64_t min_version) const {
  if (body == nullptr || body->generation != generation_.load(std::memory_order_acquire) ||
      body->version < min_version) {
    return Need::kWait;
  }
  auto age = now - body->built;
  if (age >= timing_.max_age) return Need::kWait;
  if (age >= timing_.refresh_after) return Need::kRefresh;
  if (age >= timing_.min_interval && body->version != version_()) return Need::kRefresh;
  return Need::kNothing;
}

void MetricsCache::RequestRender() {
  // The first request to see a stale body wakes the render thread; the others see the flag and
  // go on. Taking mu_ (held only for moments) before notifying closes the window in which the
  // render thread has checked the flag but is not yet asleep.
  if (render_requested_.exchange(true, std::memory_order_acq_rel)) return;
  { MutexLock lock(mu_); }
  render_cv_.NotifyOne();
}

std::shared_ptr<const MetricsBody> MetricsCache::Rendered(std::shared_ptr<const Body> body) {
  if (!body) return std::make_shared<const MetricsBody>();
  const MetricsBody* rendered = &body->rendered;
  return std::shared_ptr<const MetricsBody>(std::move(body), rendered);
}

std::shared_ptr<const MetricsBody> MetricsCache::Serve(std::shared_ptr<const Body> body,
                                                       Deadline now, std::uint64_t min_version) {
  switch (Assess(body.get(), now, min_version)) {
    case Need::kNothing:
      return Rendered(std::move(body));
    case Need::kRefresh:
      RequestRender();
      return Rendered(std::move(body));
    case Need::kWait:
      break;
  }
  return nullptr;
}

std::shared_ptr<const MetricsBody> MetricsCache::TryGet() {
  return Serve(body_.load(std::memory_order_acquire), clock_.Now(), 0);
}

std::shared_ptr<const MetricsBody> MetricsCache::Get(std::uint64_t min_version) {
  const Deadline now = clock_.Now();
  std::shared_ptr<const Body> body = body_.load(std::memory_order_acquire);
  if (std::shared_ptr<const MetricsBody> served = Serve(body, now, min_version)) return served;
  // No body young or new enough to serve: wait for the next one.
  std::uint64_t wanted = wanted_version_.load(std::memory_order_acquire);
  while (wanted < min_version &&
         !wanted_version_.compare_exchange_weak(wanted, min_version, std::memory_order_acq_rel)) {
  }
  MutexLock lock(mu_);
  for (;;) {
    if (stopping_) return Rendered(std::move(body));
    mu_.Unlock();
    RequestRender();
    mu_.Lock();
    while (!stopping_ && body_.load(std::memory_order_acquire) == body) rendered_cv_.Wait(mu_);
    body = body_.load(std::memory_order_acquire);
    if (body && Assess(body.get(), now, min_version) != Need::kWait) {
      return Rendered(std::move(body));
    }
  }
}

std::shared_ptr<const MetricsBody> MetricsCache::AwaitReplaced(
    const std::shared_ptr<const MetricsBody>& body, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  MutexLock lock(mu_);
  for (;;) {
    std::shared_ptr<const Body> current = body_.load(std::memory_order_acquire);
    // `body` keeps its Body alive, so no other Body can have its address.
    if (stopping_ || (current && &current->rendered != body.get())) {
      return current ? Rendered(std::move(current)) : body;
    }
    if (!rendered_cv_.WaitUntil(mu_, until)) return body;
  }
}

MetricsBody MetricsCache::Encode(std::string text) {
  MetricsBody out{std::move(text), {}};
  Result<std::string> gzip = compress_(out.text);
  if (gzip.ok()) {
    out.gzip = std::move(*gzip);
    if (compress_failing_) log::Info("the /metrics body is compressed again");
    compress_failing_ = false;
  } else if (!compress_failing_) {
    // Once per failing spell, not once per render (up to four a second).
    log::Warn("cannot compress the /metrics body; serving it uncompressed",
              {{"err", gzip.error().message}});
    compress_failing_ = true;
  }
  return out;
}

void MetricsCache::RenderLoop() {
  ::pthread_setname_np(::pthread_self(), "drift-render");  // for top -H and perf
  MutexLock lock(mu_);
  for (;;) {
    while (!stopping_ && !render_requested_.load(std::memory_order_acquire)) render_cv_.Wait(mu_);
    if (stopping_) return;
    mu_.Unlock();
    // Cleared before the inputs are read: a request after this point gets another render.
    render_requested_.store(false, std::memory_order_release);
    const Deadline built = clock_.Now();
    std::shared_ptr<const Body> current = body_.load(std::memory_order_acquire);
    // Requests that saw the previous body may ask again after it was replaced: render only if
    // the current body still needs it.
    if (Assess(current.get(), built, wanted_version_.load(std::memory_order_acquire)) ==
        Need::kNothing) {
      mu_.Lock();
      continue;
    }
    // Read before rendering, so that a body never claims newer inputs than it shows.
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    const std::uint64_t version = version_();
    // Compressed here, before it is published: requests only ever pick one of the two.
    auto fresh = std::make_shared<const Body>(
        Body{Encode(RenderMetrics(collectables_)), version, generation, built});
    mu_.Lock();
    body_.store(std::move(fresh), std::memory_order_release);
    rendered_cv_.NotifyAll();
  }
}

}  // namespace drift::exporter
