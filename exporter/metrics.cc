#include "exporter/metrics.h"

#include <algorithm>
#include <map>

#include "exporter/proc_self.h"
#include "exporter/version.h"

namespace drift::exporter {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::string_view kCached =
    " Cached: from the check's latest run (drift_check_last_run_timestamp_seconds), not from "
    "this scrape.";

MetricFamily Family(std::string name, std::string_view help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::string(help);
  f.type = type;
  return f;
}

void AddGauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

DriftCollector::DriftCollector(std::function<std::shared_ptr<const Snapshot>()> snapshot,
                               const Clock& clock)
    : snapshot_(std::move(snapshot)), clock_(clock) {}

std::vector<MetricFamily> DriftCollector::Collect() const {
  std::shared_ptr<const Snapshot> snap = snapshot_();
  const WallTime now = clock_.Now();
  std::string cached(kCached);

  MetricFamily drifted = Family(
      "drift_check_drifted",
      "1 while the check has found drift for drift_threshold consecutive runs, else 0. Absent "
      "until the check has given a verdict; an erroring check keeps its last verdict." +
          cached,
      MetricType::Gauge);
  MetricFamily severity =
      Family("drift_check_severity",
             "Severity of the check's current drift: 0 none (compliant), 1 low, 2 medium, 3 high, "
             "4 critical." +
                 cached,
             MetricType::Gauge);
  MetricFamily age = Family(
      "drift_check_drift_age_seconds",
      "Seconds since the check's current drift was first seen, 0 when compliant. Computed at "
      "scrape time from the cached drift start.",
      MetricType::Gauge);
  MetricFamily success =
      Family("drift_check_success",
             "1 if the check's latest run gave a verdict, 0 if it failed or timed out, or (mode "
             "on_scrape) was still running when this scrape's deadline passed (see the check's "
             "page for the reason)." +
                 cached,
             MetricType::Gauge);
  MetricFamily last_run = Family("drift_check_last_run_timestamp_seconds",
                                 "Unix time the check's latest run finished.", MetricType::Gauge);
  MetricFamily duration =
      Family("drift_check_duration_seconds", "How long the check's latest run took." + cached,
             MetricType::Gauge);
  MetricFamily info = Family(
      "drift_check_info",
      "Static metadata of each configured check, value 1: type, configured severity, compliance "
      "controls (framework:id,id;framework:id) and the runbook that heals it.",
      MetricType::Gauge);
  MetricFamily controls =
      Family("drift_control_drifted",
             "1 if any check mapped to this compliance control is drifted, 0 if every mapped check "
             "has a verdict and none is drifted; absent while unknown." +
                 cached,
             MetricType::Gauge);
  MetricFamily by_state =
      Family("drift_checks",
             "Number of enabled checks by state: compliant, drifted, error (latest run failed, or "
             "still running at an on_scrape deadline), pending (not run yet)." +
                 cached,
             MetricType::Gauge);

  // Measures: one family per name, in the order the check types declare them.
  std::map<std::string_view, MetricFamily> measures;
  std::vector<std::string_view> measure_order;
  struct ControlState {
    bool drifted = false;
    bool all_known = true;
  };
  std::map<std::pair<std::string, std::string>, ControlState> control_state;
  double counts[std::size(kAllCheckStatuses)] = {};  // indexed by CheckStatus

  for (const auto& state : snap->checks) {
    const CheckSpec& spec = *state->spec;
    ClientMetric::Label check{"check", spec.name};
    AddGauge(info,
             {check,
              {"type", std::string(spec.type->name)},
              {"severity", std::string(checks::SeverityName(spec.severity))},
              {"controls", spec.controls_label},
              {"recommended_action", spec.recommended_action}},
             1);
    const CheckStatus status = state->Status();
    if (state->known) {
      AddGauge(drifted, {check}, state->drifted ? 1 : 0);
      AddGauge(severity, {check}, static_cast<double>(state->CurrentSeverity()));
      AddGauge(age, {check}, std::chrono::duration<double>(state->DriftAge(now)).count());
    }
    // An overdue check (on_scrape: still running at the scrape's deadline) is not successful
    // for this scrape, even before its first run.
    if (status != CheckStatus::kPending) {
      AddGauge(success, {check}, status == CheckStatus::kError ? 0 : 1);
    }
    if (state->ran) {
      AddGauge(last_run, {check}, ToUnixSeconds(state->last_run));
      AddGauge(duration, {check}, state->duration_seconds);
    }
    for (const Control& c : spec.controls) {
      ControlState& cs = control_state[{c.framework, c.id}];
      cs.drifted = cs.drifted || state->drifted;
      cs.all_known = cs.all_known && state->known;
    }
    counts[static_cast<std::size_t>(status)] += 1;
    for (const checks::MeasureSpec& m : spec.type->measures) {
      if (!measures.contains(m.name)) {
        measures.emplace(
            m.name, Family(std::string(m.name), std::string(m.help) + cached, MetricType::Gauge));
        measure_order.push_back(m.name);
      }
    }
    for (const checks::MeasureValue& v : state->result.measures) {
      auto it = measures.find(v.name);
      if (it != measures.end()) AddGauge(it->second, {check}, v.value);
    }
  }
  for (const auto& [key, state] : control_state) {
    // Drifted if any mapped check is; compliant only if every mapped check has a verdict;
    // otherwise unknown, and absent rather than a reassuring 0.
    if (state.drifted || state.all_known) {
      AddGauge(controls, {{"framework", key.first}, {"control", key.second}},
               state.drifted ? 1 : 0);
    }
  }
  for (CheckStatus status : kAllCheckStatuses) {
    AddGauge(by_state, {{"state", std::string(Name(status))}},
             counts[static_cast<std::size_t>(status)]);
  }

  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&drifted, &severity, &age, &success, &last_run, &duration, &info}) {
    out.push_back(std::move(*f));
  }
  for (std::string_view name : measure_order) {
    if (!measures[name].metric.empty()) out.push_back(std::move(measures[name]));
  }
  out.push_back(std::move(controls));
  out.push_back(std::move(by_state));
  return out;
}

ProcessCollector::ProcessCollector() : start_time_seconds_(ReadProcessStartTime()) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  Result<ProcSelf> self = ReadProcSelf();
  if (!self.ok()) return out;  // no process_* families rather than wrong ones
  auto one = [&](std::string name, std::string_view help, MetricType type, double v) {
    MetricFamily fam = Family(std::move(name), help, type);
    AddGauge(fam, {}, v);
    out.push_back(std::move(fam));
  };
  one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      MetricType::Counter, self->cpu_seconds);
  one("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, self->open_fds);
  one("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
      self->max_fds);
  one("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      self->virtual_memory_bytes);
  one("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      self->resident_memory_bytes);
  one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, start_time_seconds_);
  return out;
}

ExporterMetrics::ExporterMetrics(const Clock& clock)
    : clock_(clock),
      registry_(std::make_shared<prometheus::Registry>()),
      reload_successful_(prometheus::BuildGauge()
                             .Name("drift_exporter_config_last_reload_successful")
                             .Help("1 if the last configuration load succeeded, 0 if it failed "
                                   "(the previous configuration stays in force).")
                             .Register(*registry_)
                             .Add({})),
      reload_success_time_(prometheus::BuildGauge()
                               .Name("drift_exporter_config_last_reload_success_timestamp_seconds")
                               .Help("Unix time of the last successful configuration load.")
                               .Register(*registry_)
                               .Add({})),
      restart_required_(prometheus::BuildGauge()
                            .Name("drift_exporter_config_restart_required")
                            .Help("1 if the last reload was refused because the file changes "
                                  "something only a restart applies (the running configuration "
                                  "stays in force), else 0.")
                            .Register(*registry_)
                            .Add({})) {
  prometheus::BuildGauge()
      .Name("drift_exporter_build_info")
      .Help("Version, git revision and compiler drift_exporter was built from, value 1.")
      .Register(*registry_)
      .Add({{"version", kVersion}, {"revision", kRevision}, {"compiler", kCompiler}})
      .Set(1);
  auto& responses = prometheus::BuildCounter()
                        .Name("drift_exporter_metrics_responses_total")
                        .Help(
                            "/metrics responses sent, by content coding: gzip when the request "
                            "accepts it (Prometheus does), else identity.")
                        .Register(*registry_);
  auto& bytes = prometheus::BuildCounter()
                    .Name("drift_exporter_metrics_response_bytes_total")
                    .Help(
                        "Bytes of /metrics response bodies sent (none for HEAD), by content "
                        "coding.")
                    .Register(*registry_);
  for (ContentCoding coding : {ContentCoding::kIdentity, ContentCoding::kGzip}) {
    const std::size_t i = coding == ContentCoding::kGzip ? 1 : 0;
    const std::string name(ContentCodingName(coding));
    responses_[i] = &responses.Add({{"encoding", name}});
    response_bytes_[i] = &bytes.Add({{"encoding", name}});
  }
}

void ExporterMetrics::MetricsServed(ContentCoding coding, std::size_t body_bytes) {
  const std::size_t i = coding == ContentCoding::kGzip ? 1 : 0;
  responses_[i]->Increment();
  response_bytes_[i]->Increment(static_cast<double>(body_bytes));
}

void ExporterMetrics::ConfigLoaded(ConfigLoad outcome) {
  bool applied = outcome == ConfigLoad::kApplied;
  reload_successful_.Set(applied ? 1 : 0);
  restart_required_.Set(outcome == ConfigLoad::kNeedsRestart ? 1 : 0);
  if (applied) reload_success_time_.Set(ToUnixSeconds(clock_.Now()));
}

void ExporterMetrics::ExternalUrl(const std::string& url) {
  prometheus::BuildGauge()
      .Name("drift_exporter_external_url_info")
      .Help(
          "Where people reach this exporter (--web.external-url), value 1: alert links are "
          "<url>/checks/<check>.")
      .Register(*registry_)
      .Add({{"url", url}})
      .Set(1);
}

WebMetrics::WebMetrics(prometheus::Registry& registry)
    : open_(prometheus::BuildGauge()
                .Name("drift_exporter_http_connections")
                .Help("TCP connections to the web server open now.")
                .Register(registry)
                .Add({})),
      connections_refused_(
          prometheus::BuildCounter()
              .Name("drift_exporter_http_connections_refused_total")
              .Help("Connections closed by the web server's bounds, by reason: max_connections "
                    "and max_connections_per_peer (closed when accepted), request_timeout (a "
                    "request not received whole in time), client_certificate (TLS handshake "
                    "refused).")
              .Register(registry)),
      requests_refused_(prometheus::BuildCounter()
                            .Name("drift_exporter_http_requests_refused_total")
                            .Help("Requests answered before reaching their handler, by status "
                                  "code (401 not authenticated, 403 not allowed, 404, 405, 411 "
                                  "no body length, 413 body too large).")
                            .Register(registry)),
      reload_ok_(prometheus::BuildGauge()
                     .Name("drift_exporter_tls_certificate_last_reload_successful")
                     .Help("1 if the last read of the TLS certificate and key files loaded, 0 if "
                           "it failed (the previous pair stays in use). Only with TLS.")
                     .Register(registry)),
      not_after_(prometheus::BuildGauge()
                     .Name("drift_exporter_tls_certificate_not_after_timestamp_seconds")
                     .Help("Unix time the TLS certificate in use expires. Only with TLS.")
                     .Register(registry)) {
  for (const char* reason :
       {"max_connections", "max_connections_per_peer", "request_timeout", "client_certificate"}) {
    connections_refused_.Add({{"reason", reason}});
  }
  for (const char* code : {"401", "403", "404", "405", "411", "413"}) {
    requests_refused_.Add({{"code", code}});
  }
}

void WebMetrics::ConnectionsOpen(std::size_t open) { open_.Set(static_cast<double>(open)); }

void WebMetrics::ConnectionRefused(std::string_view reason) {
  connections_refused_.Add({{"reason", std::string(reason)}}).Increment();
}

void WebMetrics::RequestRefused(int status) {
  requests_refused_.Add({{"code", std::to_string(status)}}).Increment();
}

void WebMetrics::CertificateReloaded(bool ok, double not_after) {
  reload_ok_.Add({}).Set(ok ? 1 : 0);
  not_after_.Add({}).Set(not_after);
}

}  // namespace drift::exporter
