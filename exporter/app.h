#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "checks/host.h"
#include "common/clock.h"
#include "common/result.h"
#include "exporter/config.h"
#include "exporter/http_server.h"
#include "exporter/metrics.h"
#include "exporter/metrics_cache.h"
#include "exporter/module.h"
#include "exporter/pages.h"
#include "exporter/scheduler.h"
#include "exporter/state_file.h"

namespace drift::exporter {

// The production Host for these settings: a RootedFileSystem at settings.root, a ProcessRunner
// on settings.command_path, and systemctl/journal adapters on top of it. Throws
// std::runtime_error if the root cannot be opened (configuration time only).
std::shared_ptr<const checks::Host> MakeHost(const HostSettings& settings, const Clock& clock);

// The scheduler's plan for a loaded configuration (enabled checks only).
std::shared_ptr<const Plan> MakePlan(const Config& config, const Clock& clock);

// How long an on_scrape run may take: a little less than the scrape timeout Prometheus sends in
// X-Prometheus-Scrape-Timeout-Seconds (`timeout_header`, the header's value; an hour at most),
// 10s without a usable one, at least 0.1s. Pure.
std::chrono::steady_clock::duration ScrapeBudget(std::optional<std::string_view> timeout_header);

// GET /checks/<name>: the check's page (with the modules' `notes`), or 404 naming `name` when
// there is no such check. Pure.
HttpResponse CheckPageResponse(const Snapshot& snapshot, std::string_view name, WallTime now,
                               const std::vector<PageNote>& notes = {});

// How long a shutdown (SIGTERM, SIGINT) may take before the process ends anyway.
inline constexpr std::chrono::seconds kShutdownDeadline{10};

// What POST /-/reload learns by waiting for the reload it asked for.
struct ReloadOutcome {
  enum class Kind {
    kDone,          // the reload ran; `status` is its result
    kStillRunning,  // the wait ended first; `detail` says what the reload is doing, since when
    kStopping,      // the daemon is shutting down
  };
  Kind kind = Kind::kDone;
  Status status;
  std::string detail;
};

// A running exporter: configuration, scheduler, metrics and the HTTP routes over them.
// Thread-safe.
//
// Reloads run on a thread of their own ("drift-reload"), never on the caller's: reading the file
// can block (a file on a hung mount), and the signal thread that asks for a reload must stay free
// to handle SIGTERM.
class App {
 public:
  struct Options {
    std::string config_file;
    bool enable_lifecycle = false;  // POST /-/reload
    // How long POST /-/reload waits for its reload before answering 503.
    std::chrono::milliseconds reload_wait{10'000};
    // Reads the configuration file. Tests replace it to make a load block or fail; it must not
    // touch the App (a reload stuck in it is abandoned at shutdown).
    std::function<Config(const std::string& path)> load_config;  // default: LoadConfig
    // Creates the modules the first configuration enables; tests add their own.
    std::function<std::vector<std::unique_ptr<Module>>(ModuleContext&, const Config&)>
        make_modules;  // default: MakeModules
    // Where people reach this exporter (ExternalUrl in http_server.h): alerts link to its
    // /checks/<name> pages, and drift_exporter_external_url_info tells the Prometheus rules.
    std::string external_url;
  };

  // `clock` stamps results (wall time); `monotonic` is the scheduler's clock, which also times
  // scrape deadlines (tests pass a FakeMonotonicClock). Both must outlive the App.
  App(Options options, const Clock& clock, const MonotonicClock& monotonic = SteadyClock::Get());
  ~App();

  // The core's routes (/metrics, the pages, /-/healthy, /-/ready, /-/reload). They may be
  // served before Start(): until it returns they answer 503 (except /-/healthy), so that the
  // daemon can bind its address before it changes anything.
  std::vector<Route> Routes();
  // Every module's notes for the pages (modules_ is set once, before any page is served).
  std::vector<PageNote> PageNotes() const;
  // What the web server serves: the core's routes, and from Start() on also the modules'.
  std::shared_ptr<const RouteTable> route_table() const { return route_table_; }

  // Loads the configuration, opens the state file (restoring what it holds), creates the modules
  // and starts the scheduler and the reload thread. Throws ConfigError (bad configuration) or
  // StartupError (the state directory is not usable, a module cannot start). Call once.
  void Start();
  // Asks for a reload and returns at once. Requests made while one is queued share it; a request
  // made while one runs queues the next (the file may have changed after it was read). Returns
  // a ticket for WaitReload. A failed reload is logged and sets
  // drift_exporter_config_last_reload_successful 0; the running configuration stays in force.
  std::uint64_t RequestReload();
  // Waits until the reload of `ticket` (or a later one) has finished, `until` passes, or Stop().
  ReloadOutcome WaitReload(std::uint64_t ticket, Deadline until);
  // Stops the reload thread: a reload applying its configuration finishes first; one still
  // reading the file is abandoned (it touches nothing of the App when the read returns).
  // Idempotent.
  void StopReloads();
  // StopReloads(), then the scheduler and the modules. Idempotent.
  void Stop();

  Scheduler& scheduler() { return *scheduler_; }
  // The registry modules add their metric families to.
  prometheus::Registry& registry() { return *exporter_metrics_.registry(); }
  // What the web server counts, as metrics in registry().
  std::shared_ptr<HttpServerMetrics> web_metrics() { return web_metrics_; }

 private:
  // The reload thread's state; shared with it, so that an abandoned thread outlives the App.
  struct Reloads {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t requested = 0;  // tickets handed out
    std::uint64_t started = 0;    // the highest ticket a started reload covers
    std::uint64_t finished = 0;   // the highest ticket a finished reload covers
    Status last;                  // the latest finished reload's result
    bool running = false;         // reading or applying
    bool applying = false;
    bool stopping = false;
    Deadline since{};  // when the running reload started
    std::string file;
    std::function<Config(const std::string&)> load;
  };

  HttpResponse ServeMetrics(const HttpRequest& req);
  // The /metrics response when a rendered body can be served without waiting, else nullopt.
  std::optional<HttpResponse> ServeMetricsAtOnce(const HttpRequest& req);
  HttpResponse MetricsResponse(const HttpRequest& req,
                               const std::shared_ptr<const MetricsBody>& rendered);
  HttpResponse ServeReload();
  // Applies a loaded configuration: modules first, then the scheduler's new plan.
  void Apply(Config config);
  // What the landing page says about the host (a copy: the root changes with a reload).
  PageHost page_host() const;
  void ReloadLoop(std::shared_ptr<Reloads> reloads);
  // Applies a reloaded configuration (or reports why none could be read); logs and counts.
  Status FinishReload(std::optional<Config> config, const std::string& load_error);
  // What the running reload is doing, for messages; reloads_->mu held.
  std::string DescribeRunningLocked() const;
  // Seeds the scheduler with the checks the state file restores for `config`; without a state
  // directory, logs that nothing is kept across restarts.
  void RestoreState(const Config& config);

  Options options_;
  const Clock& clock_;
  const MonotonicClock& monotonic_;
  std::shared_ptr<Scheduler> scheduler_;
  ExporterMetrics exporter_metrics_;
  std::shared_ptr<WebMetrics> web_metrics_ =
      std::make_shared<WebMetrics>(*exporter_metrics_.registry());
  std::unique_ptr<MetricsCache> metrics_;
  ModuleContext module_context_;
  std::vector<std::unique_ptr<Module>> modules_;
  std::shared_ptr<RouteTable> route_table_;
  mutable std::mutex page_host_mu_;
  PageHost page_host_;                      // guarded by page_host_mu_
  std::vector<PageNote> onboarding_notes_;  // guarded by page_host_mu_
  std::atomic<bool> started_{false};
  std::shared_ptr<Reloads> reloads_ = std::make_shared<Reloads>();
  std::thread reload_thread_;
  std::string state_dir_;                  // "" when state is not kept
  std::unique_ptr<StateFile> state_file_;  // reads the scheduler: declared after it
};

// Bounds a shutdown: unless destroyed within `limit`, calls `expire` with the stage it was last
// told, on a thread of its own. The default logs an error naming the stage and ends the process
// at once (_exit(0)): a hung reload, check or flush must not keep a stopped daemon alive.
class ShutdownDeadline {
 public:
  using Expire = std::function<void(const std::string& stage)>;
  explicit ShutdownDeadline(std::chrono::milliseconds limit, Expire expire = {});
  ~ShutdownDeadline();
  ShutdownDeadline(const ShutdownDeadline&) = delete;
  ShutdownDeadline& operator=(const ShutdownDeadline&) = delete;
  // What the shutdown is doing now (named if the deadline passes).
  void Stage(std::string stage);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string stage_ = "starting to shut down";
  std::thread thread_;
};

}  // namespace drift::exporter
