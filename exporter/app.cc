#include "exporter/app.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pthread.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "checks/command_journal.h"
#include "checks/rooted_fs.h"
#include "checks/systemctl.h"
#include "common/duration.h"
#include "common/hostname.h"
#include "common/log.h"
#include "common/process_runner.h"
#include "exporter/alerting_module.h"
#include "exporter/cli.h"
#include "exporter/pages.h"

namespace drift::exporter {
namespace {

// Owns the host implementations; MakeHost hands out an aliasing pointer to `host`.
struct OwnedHost {
  OwnedHost(const HostSettings& settings, const Clock& clock)
      : fs(settings.root),
        runner(settings.command_path),
        services(runner),
        journal(runner),
        host{fs, runner, services, journal, clock, SteadyClock::Get()} {}
  checks::RootedFileSystem fs;
  ProcessRunner runner;
  checks::SystemctlServiceManager services;
  checks::CommandJournal journal;
  checks::Host host;
};

// When a scrape stops waiting for on_scrape runs, on the scheduler's monotonic clock: its budget
// counts from the request's arrival (the server's steady clock, which is the daemon's monotonic
// clock) when known, so that time queued for a worker is part of it.
Deadline ScrapeDeadline(const HttpRequest& req, const MonotonicClock& monotonic) {
  const Deadline start = req.received != Deadline{} ? req.received : monotonic.Now();
  return start + ScrapeBudget(req.Header("X-Prometheus-Scrape-Timeout-Seconds"));
}

using std::chrono::steady_clock;

// What a route answers while the App starts (the server binds before the configuration loads).
HttpResponse Starting() {
  return HttpResponse::Text(503,
                            "Service Unavailable: starting; the configuration is not loaded yet");
}

double SecondsSince(Deadline since) {
  return std::chrono::duration<double>(steady_clock::now() - since).count();
}

// One log line per change of a check's state, so that drift and failures show in the logs as
// well as in the metrics.
void LogTransition(const CheckState& before, const CheckState& after) {
  const CheckStatus was = before.Status();
  const CheckStatus is = after.Status();
  if (was == is && before.result.reason == after.result.reason) return;
  // Same state, new details: the page shows them (but every new error is logged).
  if (was == is && is != CheckStatus::kError) return;
  const std::string& name = after.spec->name;
  switch (is) {
    case CheckStatus::kError:
      log::Warn("check failed",
                {{"check", name}, {"was", Name(was)}, {"err", after.result.reason}});
      break;
    case CheckStatus::kDrifted:
      log::Warn("check drifted", {{"check", name},
                                  {"severity", checks::SeverityName(after.CurrentSeverity())},
                                  {"reason", after.result.reason}});
      break;
    case CheckStatus::kPending:
    case CheckStatus::kCompliant:
      log::Info("check state changed", {{"check", name}, {"was", Name(was)}, {"now", Name(is)}});
      break;
  }
}

}  // namespace

std::shared_ptr<const checks::Host> MakeHost(const HostSettings& settings, const Clock& clock) {
  auto owned = std::make_shared<OwnedHost>(settings, clock);
  return std::shared_ptr<const checks::Host>(owned, &owned->host);
}

std::shared_ptr<const Plan> MakePlan(const Config& config, const Clock& clock) {
  auto plan = std::make_shared<Plan>();
  plan->settings = config.scheduler;
  plan->host = MakeHost(config.host, clock);
  for (const auto& spec : config.checks) {
    if (spec->enabled) plan->checks.push_back(spec);
  }
  return plan;
}

App::App(Options options, const Clock& clock, const MonotonicClock& monotonic)
    : options_(std::move(options)),
      clock_(clock),
      monotonic_(monotonic),
      scheduler_(Scheduler::Create(clock, monotonic)),
      exporter_metrics_(clock),
      module_context_{clock, *exporter_metrics_.registry(), options_.config_file,
                      options_.external_url} {
  if (!options_.external_url.empty()) exporter_metrics_.ExternalUrl(options_.external_url);
  page_host_.hostname = HostName();
  if (!options_.load_config) {
    options_.load_config = [](const std::string& path) { return LoadConfig(path); };
  }
  if (!options_.make_modules) options_.make_modules = MakeModules;
  reloads_->file = options_.config_file;
  reloads_->load = options_.load_config;
  // The App owns both the scheduler and the metrics cache, so the cache may point at it.
  const Scheduler* scheduler = scheduler_.get();
  metrics_ = std::make_unique<MetricsCache>(
      std::vector<std::shared_ptr<prometheus::Collectable>>{
          std::make_shared<DriftCollector>([scheduler] { return scheduler->snapshot(); }, clock_),
          exporter_metrics_.registry(), std::make_shared<ProcessCollector>()},
      [scheduler] { return scheduler->version(); });
  route_table_ = std::make_shared<RouteTable>(Routes());
  module_context_.snapshot = [scheduler] { return scheduler->snapshot(); };
  Scheduler* runner = scheduler_.get();
  module_context_.run_check_now = [runner](std::string_view check, Deadline until) {
    return runner->RunNow(check, until);
  };
}

App::~App() { Stop(); }

PageHost App::page_host() const {
  std::lock_guard lock(page_host_mu_);
  return page_host_;
}

void App::Start() {
  Config config = options_.load_config(options_.config_file);
  // Before the modules: a state directory that cannot be used stops the start-up before the
  // evidence store records it.
  state_dir_ = ResolveStateDir(config.state_dir, std::getenv("STATE_DIRECTORY"));
  if (!state_dir_.empty()) {
    state_file_ = std::make_unique<StateFile>(state_dir_, clock_, registry());
  }
  // Modules are created here, once; OnConfigLoaded hands them every configuration after this.
  module_context_.state_dir = state_dir_;
  modules_ = options_.make_modules(module_context_, config);
  std::vector<Route> routes = Routes();
  for (const auto& m : modules_) {
    for (Route& r : m->Routes()) routes.push_back(std::move(r));
  }
  if (Status set = route_table_->Set(std::move(routes)); !set.ok()) {
    throw StartupError(fmt::format("the modules' routes clash: {}", set.error().message));
  }
  // After the modules, which may still refuse to start (StartupError): the state is logged as
  // restored only by a daemon that gets this far.
  RestoreState(config);
  scheduler_->SetObserver([this](const CheckState& before, const CheckState& after) {
    LogTransition(before, after);
    if (state_file_ && NeedsSaving(before, after)) state_file_->MarkDirty();
    for (const auto& m : modules_) m->OnTransition(before, after);
  });
  Apply(std::move(config));
  if (state_file_) {
    const Scheduler* scheduler = scheduler_.get();
    state_file_->SetSource([scheduler] { return scheduler->snapshot(); });
    state_file_->Start();
  }
  scheduler_->Start();
  for (const auto& m : modules_) m->OnStarted();
  reload_thread_ = std::thread([this, reloads = reloads_] { ReloadLoop(reloads); });
  started_.store(true, std::memory_order_release);
}

void App::RestoreState(const Config& config) {
  if (!state_file_) {
    log::Info(
        "no state_dir and no $STATE_DIRECTORY: check states are not kept across restarts, so a "
        "restart starts every drift episode afresh");
    return;
  }
  RestorePlan restore = PlanRestore(state_file_->Load(), config.checks);
  for (const std::string& name : restore.changed) {
    log::Info(
        "check changed since its state was saved (type, params or baseline); it starts afresh",
        {{"check", name}});
  }
  state_file_->SetRestored(restore.states.size());
  log::Info("check states restored",
            {{"file", state_file_->path()}, {"checks", restore.states.size()}});
  scheduler_->Restore(std::move(restore.states));
}

void App::Apply(Config config) {
  std::size_t total = config.checks.size();
  std::shared_ptr<const Plan> plan;
  try {
    plan = MakePlan(config, clock_);
  } catch (const std::exception& e) {
    throw ConfigError(options_.config_file, e.what());
  }
  for (const auto& m : modules_) m->OnConfigLoaded(config);
  // The checks that wait for a baseline capture, with the command, on the pages.
  std::vector<PageNote> onboarding;
  for (const auto& spec : config.checks) {
    if (spec->unpinned_keys.empty()) continue;
    onboarding.push_back({"Waiting for a baseline capture", spec->name, "Not pinned",
                          fmt::format("{} has no pin yet: capture it, then reload",
                                      fmt::join(spec->unpinned_keys, ", ")),
                          CaptureCommand(config)});
  }
  {
    std::lock_guard lock(page_host_mu_);
    page_host_.root = config.host.root;
    onboarding_notes_ = std::move(onboarding);
  }
  exporter_metrics_.ConfigLoaded(ConfigLoad::kApplied);
  log::Info("configuration loaded", {{"file", options_.config_file},
                                     {"checks", plan->checks.size()},
                                     {"disabled", total - plan->checks.size()}});
  // A host not captured yet runs what it can; say what it lacks at every load, as the checks'
  // errors alone do not say that a capture is the way out.
  for (const std::string& warning : ConfigWarnings(config)) {
    log::Warn("configuration incomplete", {{"file", options_.config_file}, {"reason", warning}});
  }
  scheduler_->SetPlan(std::move(plan));
  // Removed and renamed checks leave the file; a reload itself changes no verdict.
  if (state_file_) state_file_->MarkDirty();
}

void App::ReloadLoop(std::shared_ptr<Reloads> reloads) {
  ::pthread_setname_np(::pthread_self(), "drift-reload");
  Reloads& r = *reloads;
  std::unique_lock lock(r.mu);
  for (;;) {
    r.cv.wait(lock, [&] { return r.stopping || r.requested > r.started; });
    if (r.stopping) return;
    const std::uint64_t ticket = r.requested;
    r.started = ticket;
    r.running = true;
    r.since = steady_clock::now();
    lock.unlock();
    // The read may block (a regular file on a hung mount). It touches nothing of the App, so
    // StopReloads() may abandon this thread here; `reloads` keeps what it uses alive.
    std::optional<Config> config;
    std::string load_error;
    try {
      config.emplace(r.load(r.file));
    } catch (const std::exception& e) {
      load_error = e.what();
    }
    lock.lock();
    if (r.stopping) return;  // abandoned: the App may be gone
    r.applying = true;
    lock.unlock();
    Status status = FinishReload(std::move(config), load_error);
    lock.lock();
    r.applying = false;
    r.running = false;
    r.finished = ticket;
    r.last = std::move(status);
    r.cv.notify_all();
  }
}

Status App::FinishReload(std::optional<Config> config, const std::string& load_error) {
  ConfigLoad outcome = ConfigLoad::kInvalid;
  std::string error = load_error;
  if (config) {
    try {
      // All or nothing: what the running modules cannot take refuses the reload before anything
      // changes. The state file is opened once, at start-up, like the evidence store.
      Result<std::vector<std::string>> restart = RestartRequiredBy(modules_, *config);
      if (restart.ok() &&
          ResolveStateDir(config->state_dir, std::getenv("STATE_DIRECTORY")) != state_dir_) {
        restart->push_back("state_dir: changed");
      }
      if (!restart.ok()) {
        error = fmt::format("{}: {}", options_.config_file, restart.error().message);
      } else if (!restart->empty()) {
        outcome = ConfigLoad::kNeedsRestart;
        error = fmt::format("{}: restart to apply: {}", options_.config_file,
                            fmt::join(*restart, "; "));
      } else {
        Apply(std::move(*config));
        outcome = ConfigLoad::kApplied;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (outcome != ConfigLoad::kApplied) exporter_metrics_.ConfigLoaded(outcome);
  metrics_->Invalidate();  // after the metric: the next body must show it
  if (outcome == ConfigLoad::kApplied) return {};
  log::Error(outcome == ConfigLoad::kNeedsRestart
                 ? "configuration reload needs a restart; keeping the running configuration"
                 : "configuration reload failed; keeping the running configuration",
             {{"err", error}});
  return Error{error};
}

std::string App::DescribeRunningLocked() const {
  return fmt::format("{} for {:.1f}s",
                     reloads_->applying ? "applying the new configuration"
                                        : fmt::format("reading {}", reloads_->file),
                     SecondsSince(reloads_->since));
}

std::uint64_t App::RequestReload() {
  Reloads& r = *reloads_;
  std::lock_guard lock(r.mu);
  if (r.requested > r.started) return r.requested;  // one is queued already: share it
  if (r.running) {
    // Say so: a reload that never ends (a file on a hung mount) is otherwise invisible.
    log::Warn("configuration reload queued behind one still running",
              {{"running", DescribeRunningLocked()}});
  }
  r.cv.notify_all();
  return ++r.requested;
}

ReloadOutcome App::WaitReload(std::uint64_t ticket, Deadline until) {
  Reloads& r = *reloads_;
  std::unique_lock lock(r.mu);
  r.cv.wait_until(lock, until, [&] { return r.stopping || r.finished >= ticket; });
  if (r.finished >= ticket) return {ReloadOutcome::Kind::kDone, r.last, ""};
  if (r.stopping) return {ReloadOutcome::Kind::kStopping, {}, "shutting down"};
  if (r.started >= ticket) {
    return {ReloadOutcome::Kind::kStillRunning,
            {},
            fmt::format("the reload is still {}", DescribeRunningLocked())};
  }
  return {ReloadOutcome::Kind::kStillRunning,
          {},
          r.running ? fmt::format("queued behind a reload still {}", DescribeRunningLocked())
                    : "queued; the reload thread has not taken it yet"};
}

void App::StopReloads() {
  bool reading = false;
  {
    std::unique_lock lock(reloads_->mu);
    const bool first = !reloads_->stopping;  // RunDaemon and Stop() both call this
    reloads_->stopping = true;
    reloads_->cv.notify_all();
    // Applying is quick, and must not meet stopped modules: let it finish.
    reloads_->cv.wait(lock, [&] { return !reloads_->applying; });
    if (reloads_->running) {
      reading = true;
      if (first)
        log::Warn("abandoning a configuration reload that is still reading its file",
                  {{"running", DescribeRunningLocked()}});
    }
  }
  if (!reload_thread_.joinable()) return;
  if (reading) {
    reload_thread_.detach();
  } else {
    reload_thread_.join();
  }
}

void App::Stop() {
  StopReloads();
  for (const auto& m : modules_) m->OnStopping();
  if (scheduler_) scheduler_->Stop();
  // After the scheduler: the last write has the last results.
  if (state_file_) state_file_->Stop();
  for (const auto& m : modules_) m->Stop();
}

HttpResponse App::ServeMetrics(const HttpRequest& req) {
  // on_scrape mode: run the checks now (concurrent scrapes share one run) and serve a body that
  // shows them; no-op otherwise.
  std::uint64_t results = scheduler_->RefreshForScrape(ScrapeDeadline(req, monotonic_));
  return MetricsResponse(req, metrics_->Get(results));
}

std::optional<HttpResponse> App::ServeMetricsAtOnce(const HttpRequest& req) {
  if (scheduler_->on_scrape()) return std::nullopt;
  std::shared_ptr<const MetricsBody> body = metrics_->TryGet();
  if (!body) return std::nullopt;
  return MetricsResponse(req, body);
}

HttpResponse App::MetricsResponse(const HttpRequest& req,
                                  const std::shared_ptr<const MetricsBody>& rendered) {
  HttpResponse resp;
  resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  // gzip when the request accepts it: compressed once per render, shared like the text.
  EncodedBody body = SelectEncoding(rendered, req.Header("Accept-Encoding"));
  if (body.coding == ContentCoding::kGzip) resp.headers.emplace_back("Content-Encoding", "gzip");
  // On every answer, so that a cache never hands one client the coding another asked for.
  resp.headers.emplace_back("Vary", "Accept-Encoding");
  exporter_metrics_.MetricsServed(body.coding, req.method == "HEAD" ? 0 : body.bytes->size());
  resp.shared_body = std::move(body.bytes);
  return resp;
}

HttpResponse App::ServeReload() {
  if (!options_.enable_lifecycle) {
    return HttpResponse::Text(403,
                              "Lifecycle API is not enabled; start with --web.enable-lifecycle");
  }
  // The reload runs on the reload thread (a file on a hung mount must not hold a web worker for
  // ever); this waits a bounded time for its outcome.
  ReloadOutcome outcome = WaitReload(RequestReload(), steady_clock::now() + options_.reload_wait);
  switch (outcome.kind) {
    case ReloadOutcome::Kind::kDone:
      if (!outcome.status.ok()) {
        return HttpResponse::Text(
            500, fmt::format("failed to reload config: {}", outcome.status.error().message));
      }
      return HttpResponse::Text(200, "Configuration reloaded");
    case ReloadOutcome::Kind::kStillRunning:
      return HttpResponse::Text(
          503,
          fmt::format("reload not finished after {}s: {}; it applies when it finishes",
                      std::chrono::duration<double>(options_.reload_wait).count(), outcome.detail));
    case ReloadOutcome::Kind::kStopping:
      break;
  }
  return HttpResponse::Text(503, "reload not done: shutting down");
}

std::chrono::steady_clock::duration ScrapeBudget(std::optional<std::string_view> timeout_header) {
  double seconds = 10;
  if (timeout_header) {
    double parsed = 0;
    auto [end, ec] = std::from_chars(timeout_header->data(),
                                     timeout_header->data() + timeout_header->size(), parsed);
    // An hour at most: "inf" or 1e300 would overflow the deadline's nanoseconds.
    if (ec == std::errc() && parsed > 0) seconds = std::min(parsed, 3600.0);
  }
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::max(0.1, seconds - 0.5)));
}

HttpResponse CheckPageResponse(const Snapshot& snapshot, std::string_view name, WallTime now,
                               const std::vector<PageNote>& notes) {
  std::optional<std::string> page = RenderCheckPage(snapshot, name, now, notes);
  if (!page) return HttpResponse::Text(404, fmt::format("no check named {:?}", name));
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(*page);
  return r;
}

std::vector<PageNote> App::PageNotes() const {
  std::vector<PageNote> notes;
  {
    std::lock_guard lock(page_host_mu_);
    notes = onboarding_notes_;
  }
  for (const auto& m : modules_) {
    for (PageNote& n : m->PageNotes()) notes.push_back(std::move(n));
  }
  return notes;
}

std::vector<Route> App::Routes() {
  // Each route but /-/healthy answers 503 until Start() has returned.
  auto when_started = [this](std::function<HttpResponse(const HttpRequest&)> handler) {
    return [this, handler = std::move(handler)](const HttpRequest& req) {
      if (!started_.load(std::memory_order_acquire)) return Starting();
      return handler(req);
    };
  };
  std::vector<Route> routes;
  // A scrape is served on the event loop while a rendered body is fresh; it waits on a worker
  // for a render, or for the checks in on_scrape mode.
  Route metrics{"/metrics", {"GET"}, when_started([this](const HttpRequest& req) {
                  return ServeMetrics(req);
                })};
  metrics.may_block = true;
  metrics.fast_path = [this](const HttpRequest& req) -> std::optional<HttpResponse> {
    if (!started_.load(std::memory_order_acquire)) return Starting();
    return ServeMetricsAtOnce(req);
  };
  routes.push_back(std::move(metrics));
  // The pages read the scheduler's snapshot, which may wait for its lock: on a worker.
  routes.push_back({"/",
                    {"GET"},
                    when_started([this](const HttpRequest&) {
                      HttpResponse r;
                      r.content_type = "text/html; charset=utf-8";
                      r.body = RenderLandingPage(*scheduler_->snapshot(), clock_.Now(),
                                                 scheduler_->AllRan(), page_host(), PageNotes());
                      return r;
                    }),
                    /*may_block=*/true});
  routes.push_back({"/checks/",
                    {"GET"},
                    when_started([this](const HttpRequest& req) {
                      return CheckPageResponse(*scheduler_->snapshot(),
                                               std::string_view(req.path).substr(8), clock_.Now(),
                                               PageNotes());
                    }),
                    /*may_block=*/true});
  routes.push_back({"/-/healthy", {"GET"}, [](const HttpRequest&) {
                      return HttpResponse::Text(200, "Healthy");
                    }});
  routes.push_back({"/-/ready", {"GET"}, when_started([this](const HttpRequest&) {
                      if (scheduler_->AllRan()) return HttpResponse::Text(200, "Ready");
                      return HttpResponse::Text(503, "Not ready: some checks have not run yet");
                    })});
  routes.push_back({"/-/reload",
                    {"POST"},
                    when_started([this](const HttpRequest&) { return ServeReload(); }),
                    /*may_block=*/true});
  return routes;
}

ShutdownDeadline::ShutdownDeadline(std::chrono::milliseconds limit, Expire expire) {
  if (!expire) {
    expire = [limit](const std::string& stage) {
      log::Error("shutdown deadline passed; exiting without waiting any longer",
                 {{"deadline", FormatDuration(limit)}, {"waiting_for", stage}});
      std::fflush(nullptr);
      ::_exit(kExitOk);
    };
  }
  thread_ = std::thread([this, limit, expire = std::move(expire)] {
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, limit, [&] { return done_; })) return;
    std::string stage = stage_;
    lock.unlock();
    expire(stage);
  });
}

ShutdownDeadline::~ShutdownDeadline() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ShutdownDeadline::Stage(std::string stage) {
  std::lock_guard lock(mu_);
  stage_ = std::move(stage);
}

}  // namespace drift::exporter
