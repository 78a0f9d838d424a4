#pragma once

#include <prometheus/collectable.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "exporter/state.h"

namespace drift::exporter {

// Per-check and roll-up families (the metric contract in docs/metrics.md), built from the latest
// scheduler snapshot at collection time. Thread-safe.
class DriftCollector final : public prometheus::Collectable {
 public:
  DriftCollector(std::function<std::shared_ptr<const Snapshot>()> snapshot, const Clock& clock);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<std::shared_ptr<const Snapshot>()> snapshot_;
  const Clock& clock_;
};

// process_* families as the Prometheus client libraries export them, from /proc/self.
class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = 0;
};

// The exporter's own state: build info, config reloads. Other modules add their families to
// registry(). Thread-safe.
class ExporterMetrics {
 public:
  explicit ExporterMetrics(const Clock& clock);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  void ConfigLoaded(bool success);

 private:
  const Clock& clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_success_time_;
};

// The /metrics body, rendered from collectables and cached: rebuilt when the snapshot version
// changed (at most four times a second) or the body is a second old (ages and counters move), by
// one thread at a time; others serve the previous body meanwhile. Thread-safe; Get() never waits
// on a running check.
class MetricsCache {
 public:
  MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
               std::function<std::uint64_t()> version);
  std::shared_ptr<const std::string> Get();
  // The next Get() renders anew (after a reload: what an operator just did shows at once).
  void Invalidate() { body_.store(nullptr, std::memory_order_release); }
  // Renders now, bypassing the cache.
  std::string Render() const;

 private:
  struct Body {
    std::shared_ptr<const std::string> text;
    std::uint64_t version;
    std::chrono::steady_clock::time_point built;
  };
  bool Fresh(const Body& body, std::chrono::steady_clock::time_point now) const;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::function<std::uint64_t()> version_;
  std::mutex rebuild_mu_;
  std::atomic<std::shared_ptr<const Body>> body_;
};

}  // namespace drift::exporter
