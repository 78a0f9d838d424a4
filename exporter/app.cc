#include "exporter/app.h"

#include <fmt/format.h>

#include <charconv>
#include <thread>

#include "checks/command_journal.h"
#include "checks/process_runner.h"
#include "checks/rooted_fs.h"
#include "checks/systemctl.h"
#include "common/log.h"
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
        host{fs, runner, services, journal, clock} {}
  checks::RootedFileSystem fs;
  checks::ProcessRunner runner;
  checks::SystemctlServiceManager services;
  checks::CommandJournal journal;
  checks::Host host;
};

// Prometheus tells how long it will wait; answer a little before that (on_scrape mode).
Deadline ScrapeDeadline(const HttpRequest& req) {
  double seconds = 10;
  if (auto h = req.Header("X-Prometheus-Scrape-Timeout-Seconds")) {
    double parsed = 0;
    auto [end, ec] = std::from_chars(h->data(), h->data() + h->size(), parsed);
    if (ec == std::errc() && parsed > 0) seconds = parsed;
  }
  seconds = std::max(0.1, seconds - 0.5);
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

// One log line per change of a check's state, so that drift and failures show in the logs as
// well as in the metrics.
void LogTransition(const CheckState& before, const CheckState& after) {
  std::string_view was = StateWord(before);
  std::string_view is = StateWord(after);
  if (was == is && before.result.reason == after.result.reason) return;
  if (was == is && is != "error") return;  // same state, new details: the page shows them
  const std::string& name = after.spec->name;
  if (is == "error") {
    log::Warn("check failed", {{"check", name}, {"was", was}, {"err", after.result.reason}});
  } else if (is == "drifted") {
    log::Warn("check drifted", {{"check", name},
                                {"severity", checks::SeverityName(after.severity)},
                                {"reason", after.result.reason}});
  } else {
    log::Info("check state changed", {{"check", name}, {"was", was}, {"now", is}});
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

App::App(Options options, const Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      scheduler_(Scheduler::Create(clock)),
      exporter_metrics_(clock),
      module_context_{clock, *exporter_metrics_.registry(), options_.config_file} {
  // The App owns both the scheduler and the metrics cache, so the cache may point at it.
  const Scheduler* scheduler = scheduler_.get();
  metrics_ = std::make_unique<MetricsCache>(
      std::vector<std::shared_ptr<prometheus::Collectable>>{
          std::make_shared<DriftCollector>([scheduler] { return scheduler->snapshot(); }, clock_),
          exporter_metrics_.registry(), std::make_shared<ProcessCollector>()},
      [scheduler] { return scheduler->version(); });
}

App::~App() { Stop(); }

void App::Start() {
  Config config = LoadConfig(options_.config_file);
  // Modules are created here, once; OnConfigLoaded hands them every configuration after this.
  modules_ = MakeModules(module_context_, config);
  scheduler_->SetObserver([this](const CheckState& before, const CheckState& after) {
    LogTransition(before, after);
    for (const auto& m : modules_) m->OnTransition(before, after);
  });
  Apply(std::move(config));
  scheduler_->Start();
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
  exporter_metrics_.ConfigLoaded(true);
  log::Info("configuration loaded", {{"file", options_.config_file},
                                     {"checks", plan->checks.size()},
                                     {"disabled", total - plan->checks.size()}});
  // A host not captured yet runs what it can; say what it lacks at every load, as the checks'
  // errors alone do not say that a capture is the way out.
  for (const std::string& warning : ConfigWarnings(config)) {
    log::Warn("configuration incomplete", {{"file", options_.config_file}, {"reason", warning}});
  }
  scheduler_->SetPlan(std::move(plan));
}

Status App::Reload() {
  std::lock_guard lock(reload_mu_);
  try {
    Apply(LoadConfig(options_.config_file));
    metrics_->Invalidate();
    return {};
  } catch (const std::exception& e) {
    exporter_metrics_.ConfigLoaded(false);
    metrics_->Invalidate();
    log::Error("configuration reload failed; keeping the running configuration",
               {{"err", e.what()}});
    return Error{e.what()};
  }
}

void App::Stop() {
  if (scheduler_) scheduler_->Stop();
  for (const auto& m : modules_) m->Stop();
}

HttpResponse App::ServeMetrics(const HttpRequest& req) {
  // on_scrape mode: run the checks now (concurrent scrapes share one run) and serve a body that
  // shows them; no-op otherwise.
  std::uint64_t results = scheduler_->RefreshForScrape(ScrapeDeadline(req));
  HttpResponse resp;
  resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp.shared_body = metrics_->Get(results);
  return resp;
}

std::vector<Route> App::Routes() {
  std::vector<Route> routes;
  routes.push_back(
      {"/metrics", {"GET"}, [this](const HttpRequest& req) { return ServeMetrics(req); }});
  routes.push_back({"/", {"GET"}, [this](const HttpRequest&) {
                      HttpResponse r;
                      r.content_type = "text/html; charset=utf-8";
                      r.body = RenderLandingPage(*scheduler_->snapshot(), clock_.Now(),
                                                 scheduler_->AllRan());
                      return r;
                    }});
  routes.push_back({"/checks/", {"GET"}, [this](const HttpRequest& req) {
                      std::string_view name = std::string_view(req.path).substr(8);
                      std::optional<std::string> page =
                          RenderCheckPage(*scheduler_->snapshot(), name, clock_.Now());
                      if (!page) {
                        return HttpResponse::Text(404, fmt::format("no check named {:?}", name));
                      }
                      HttpResponse r;
                      r.content_type = "text/html; charset=utf-8";
                      r.body = std::move(*page);
                      return r;
                    }});
  routes.push_back({"/-/healthy", {"GET"}, [](const HttpRequest&) {
                      return HttpResponse::Text(200, "Healthy");
                    }});
  routes.push_back({"/-/ready", {"GET"}, [this](const HttpRequest&) {
                      if (scheduler_->AllRan()) return HttpResponse::Text(200, "Ready");
                      return HttpResponse::Text(503, "Not ready: some checks have not run yet");
                    }});
  routes.push_back({"/-/reload", {"POST"}, [this](const HttpRequest&) {
                      if (!options_.enable_lifecycle) {
                        return HttpResponse::Text(
                            403, "Lifecycle API is not enabled; start with --web.enable-lifecycle");
                      }
                      // civetweb's workers have small stacks; parsing YAML (recursive) and
                      // building checks gets a thread of its own.
                      Status s;
                      std::thread reloader([&] { s = Reload(); });
                      reloader.join();
                      if (!s.ok()) {
                        return HttpResponse::Text(
                            500, fmt::format("failed to reload config: {}", s.error().message));
                      }
                      return HttpResponse::Text(200, "Configuration reloaded");
                    }});
  return routes;
}

}  // namespace drift::exporter
