#include "exporter/metrics_cache.h"

#include <prometheus/text_serializer.h>
#include <pthread.h>

#include <sstream>

namespace drift::exporter {

using prometheus::MetricFamily;

MetricsCache::MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                           std::function<std::uint64_t()> version, Timing timing,
                           const MonotonicClock& clock)
    : collectables_(std::move(collectables)),
      version_(std::move(version)),
      timing_(timing),
      clock_(clock),
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

std::shared_ptr<const std::string> MetricsCache::Get(std::uint64_t min_version) {
  const Deadline now = clock_.Now();
  std::shared_ptr<const Body> body = body_.load(std::memory_order_acquire);
  switch (Assess(body.get(), now, min_version)) {
    case Need::kNothing:
      return body->text;
    case Need::kRefresh:
      RequestRender();
      return body->text;
    case Need::kWait:
      break;
  }
  // No body young or new enough to serve: wait for the next one.
  std::uint64_t wanted = wanted_version_.load(std::memory_order_acquire);
  while (wanted < min_version &&
         !wanted_version_.compare_exchange_weak(wanted, min_version, std::memory_order_acq_rel)) {
  }
  MutexLock lock(mu_);
  for (;;) {
    if (stopping_) return body ? body->text : std::make_shared<const std::string>();
    mu_.Unlock();
    RequestRender();
    mu_.Lock();
    while (!stopping_ && body_.load(std::memory_order_acquire) == body) rendered_cv_.Wait(mu_);
    body = body_.load(std::memory_order_acquire);
    if (body && Assess(body.get(), now, min_version) != Need::kWait) return body->text;
  }
}

std::shared_ptr<const std::string> MetricsCache::AwaitReplaced(
    const std::shared_ptr<const std::string>& body, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  MutexLock lock(mu_);
  for (;;) {
    std::shared_ptr<const Body> current = body_.load(std::memory_order_acquire);
    if (stopping_ || (current && current->text != body)) return current ? current->text : body;
    if (!rendered_cv_.WaitUntil(mu_, until)) return body;
  }
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
    auto fresh = std::make_shared<const Body>(
        Body{std::make_shared<const std::string>(RenderMetrics(collectables_)), version, generation,
             built});
    mu_.Lock();
    body_.store(std::move(fresh), std::memory_order_release);
    rendered_cv_.NotifyAll();
  }
}

}  // namespace drift::exporter
