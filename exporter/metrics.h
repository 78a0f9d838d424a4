#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "exporter/content_coding.h"
#include "exporter/http_server.h"
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

// process_* families as the Prometheus client libraries export them, from /proc/self
// (exporter/proc_self.h). Thread-safe.
class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = 0;
};

// How a configuration load ended: applied; refused as invalid; or refused, valid, because it
// changes something only a restart applies (exporter/module.h RestartRequiredBy).
enum class ConfigLoad { kApplied, kInvalid, kNeedsRestart };

// The exporter's own state: build info, config reloads. Other modules add their families to
// registry(). Thread-safe.
class ExporterMetrics {
 public:
  explicit ExporterMetrics(const Clock& clock);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  void ConfigLoaded(ConfigLoad outcome);
  // Exports drift_exporter_external_url_info{url}: where people reach this exporter, so that
  // Prometheus rules can link to its pages whatever the target's instance label says.
  void ExternalUrl(const std::string& url);
  // Counts one /metrics response sent in `coding` (kIdentity or kGzip) with `body_bytes` bytes
  // of body. Lock-free: every scrape calls it.
  void MetricsServed(ContentCoding coding, std::size_t body_bytes);

 private:
  const Clock& clock_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_success_time_;
  prometheus::Gauge& restart_required_;
  // drift_exporter_metrics_responses_total and _response_bytes_total: [0] identity, [1] gzip.
  std::array<prometheus::Counter*, 2> responses_{};
  std::array<prometheus::Counter*, 2> response_bytes_{};
};

// The HTTP server's counts (HttpServer), as drift_exporter_http_* and drift_exporter_tls_*
// metrics in `registry`. Thread-safe.
class WebMetrics final : public HttpServerMetrics {
 public:
  explicit WebMetrics(prometheus::Registry& registry);
  void ConnectionsOpen(std::size_t open) override;
  void ConnectionRefused(std::string_view reason) override;
  void RequestRefused(int status) override;
  void CertificateReloaded(bool ok, double not_after) override;

 private:
  prometheus::Gauge& open_;
  prometheus::Family<prometheus::Counter>& connections_refused_;
  prometheus::Family<prometheus::Counter>& requests_refused_;
  prometheus::Family<prometheus::Gauge>& reload_ok_;
  prometheus::Family<prometheus::Gauge>& not_after_;
};

}  // namespace drift::exporter
