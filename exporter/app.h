#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "checks/host.h"
#include "common/clock.h"
#include "common/result.h"
#include "exporter/config.h"
#include "exporter/http_server.h"
#include "exporter/metrics.h"
#include "exporter/module.h"
#include "exporter/scheduler.h"

namespace drift::exporter {

// The production Host for these settings: a RootedFileSystem at settings.root, a ProcessRunner
// on settings.command_path, and systemctl/journal adapters on top of it. Throws
// std::runtime_error if the root cannot be opened (configuration time only).
std::shared_ptr<const checks::Host> MakeHost(const HostSettings& settings, const Clock& clock);

// The scheduler's plan for a loaded configuration (enabled checks only).
std::shared_ptr<const Plan> MakePlan(const Config& config, const Clock& clock);

// A running exporter: configuration, scheduler, metrics and the HTTP routes over them.
// Reload() is serialised; everything else is thread-safe.
class App {
 public:
  struct Options {
    std::string config_file;
    bool enable_lifecycle = false;  // POST /-/reload
    // Where people reach this exporter (ExternalUrl in http_server.h): alerts link to its
    // /checks/<name> pages, and drift_exporter_external_url_info tells the Prometheus rules.
    std::string external_url;
  };

  App(Options options, const Clock& clock);
  ~App();

  // Loads the configuration and starts the scheduler. Throws ConfigError.
  void Start();
  // Re-reads the configuration and applies all of it, or nothing: a bad one, or one that changes
  // what only a restart applies (RestartRequiredBy: "restart to apply: alerting: section
  // added"), is logged, counted in drift_exporter_config_last_reload_successful (and
  // drift_exporter_config_restart_required) and leaves the running one in force.
  Status Reload();
  void Stop();

  std::vector<Route> Routes();
  Scheduler& scheduler() { return *scheduler_; }
  // The registry modules add their metric families to.
  prometheus::Registry& registry() { return *exporter_metrics_.registry(); }

 private:
  HttpResponse ServeMetrics(const HttpRequest& req);
  // Applies a loaded configuration: modules first, then the scheduler's new plan.
  void Apply(Config config);

  Options options_;
  const Clock& clock_;
  std::shared_ptr<Scheduler> scheduler_;
  ExporterMetrics exporter_metrics_;
  std::unique_ptr<MetricsCache> metrics_;
  ModuleContext module_context_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::mutex reload_mu_;
};

}  // namespace drift::exporter
