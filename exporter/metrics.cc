#include "exporter/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "checks/registry.h"
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

ProcessCollector::ProcessCollector() {
  // Boot time from /proc/stat plus the process start in clock ticks since boot.
  std::ifstream stat("/proc/stat");
  std::string key;
  double btime = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> btime;
      break;
    }
    stat.ignore(1 << 20, '\n');
  }
  std::ifstream self("/proc/self/stat");
  std::string line;
  std::getline(self, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22)
      start_time_seconds_ = btime + std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  char buf[1024];
  FILE* f = std::fopen("/proc/self/stat", "re");
  if (f == nullptr) return out;
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* after = std::strrchr(buf, ')');
  if (after == nullptr) return out;
  // Fields after "pid (comm) ": state(3) ... utime(14) stime(15) ... vsize(23) rss(24).
  unsigned long utime = 0, stime = 0, vsize = 0;
  long rss = 0;
  if (std::sscanf(after + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d "
                  "%*u %lu %ld",
                  &utime, &stime, &vsize, &rss) != 4) {
    return out;
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  int fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (struct dirent* e = ::readdir(d)) fds += e->d_name[0] != '.';
    ::closedir(d);
    --fds;  // the descriptor opendir itself holds
  }
  struct rlimit lim {};
  ::getrlimit(RLIMIT_NOFILE, &lim);

  auto one = [&](std::string name, std::string_view help, MetricType type, double v) {
    MetricFamily fam = Family(std::move(name), help, type);
    AddGauge(fam, {}, v);
    out.push_back(std::move(fam));
  };
  one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      MetricType::Counter, static_cast<double>(utime + stime) / ticks);
  one("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds);
  one("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
      static_cast<double>(lim.rlim_cur));
  one("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      static_cast<double>(vsize));
  one("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      static_cast<double>(rss) * page);
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

MetricsCache::MetricsCache(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                           std::function<std::uint64_t()> version, Timing timing)
    : collectables_(std::move(collectables)),
      version_(std::move(version)),
      timing_(timing),
      renderer_([this] { RenderLoop(); }) {}

MetricsCache::~MetricsCache() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  render_cv_.notify_all();
  rendered_cv_.notify_all();
  renderer_.join();
}

std::string MetricsCache::Render() const {
  std::vector<MetricFamily> families;
  for (const auto& c : collectables_) {
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

MetricsCache::Need MetricsCache::Assess(const Body* body, std::chrono::steady_clock::time_point now,
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
  { std::lock_guard lock(mu_); }
  render_cv_.notify_one();
}

std::shared_ptr<const std::string> MetricsCache::Get(std::uint64_t min_version) {
  const auto now = std::chrono::steady_clock::now();
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
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return body ? body->text : std::make_shared<const std::string>();
    lock.unlock();
    RequestRender();
    lock.lock();
    rendered_cv_.wait(lock,
                      [&] { return stopping_ || body_.load(std::memory_order_acquire) != body; });
    body = body_.load(std::memory_order_acquire);
    if (body && Assess(body.get(), now, min_version) != Need::kWait) return body->text;
  }
}

void MetricsCache::RenderLoop() {
  ::pthread_setname_np(::pthread_self(), "drift-render");  // for top -H and perf
  std::unique_lock lock(mu_);
  for (;;) {
    render_cv_.wait(lock,
                    [&] { return stopping_ || render_requested_.load(std::memory_order_acquire); });
    if (stopping_) return;
    lock.unlock();
    // Cleared before the inputs are read: a request after this point gets another render.
    render_requested_.store(false, std::memory_order_release);
    const auto built = std::chrono::steady_clock::now();
    std::shared_ptr<const Body> current = body_.load(std::memory_order_acquire);
    // Requests that saw the previous body may ask again after it was replaced: render only if
    // the current body still needs it.
    if (Assess(current.get(), built, wanted_version_.load(std::memory_order_acquire)) ==
        Need::kNothing) {
      lock.lock();
      continue;
    }
    // Read before rendering, so that a body never claims newer inputs than it shows.
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    const std::uint64_t version = version_();
    auto fresh = std::make_shared<const Body>(
        Body{std::make_shared<const std::string>(Render()), version, generation, built});
    lock.lock();
    body_.store(std::move(fresh), std::memory_order_release);
    rendered_cv_.notify_all();
  }
}

}  // namespace drift::exporter
