#include "exporter/app.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace drift::exporter {
namespace {

using namespace std::chrono_literals;

// A configuration load the test holds up (a file on a hung mount) or lets through, without
// sleeping. Shared with the loader, which may outlive the test's App (abandoned at shutdown).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;
  int loads = 0;      // loads started
  bool fail = false;  // the next loads throw a ConfigError

  void Close() {
    std::lock_guard lock(mu);
    open = false;
  }
  void Open() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
  void WaitLoads(int n) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return loads >= n; });
  }
};

class AppTest : public ::testing::Test {
 protected:
  AppTest() {
    dir_.Write("/config.yml", fmt::format("host: {{root: {}}}\n"
                                          "scheduler: {{mode: on_scrape}}\n"
                                          "checks:\n"
                                          "  - name: backups\n"
                                          "    type: backup\n"
                                          "    params: {{status_file: /status.json}}\n",
                                          dir_.root()));
  }

  App::Options Options() {
    App::Options o;
    o.config_file = (dir_.path() / "config.yml").string();
    o.enable_lifecycle = true;
    o.reload_wait = 0ms;
    o.load_config = [gate = gate_](const std::string& path) {
      {
        std::unique_lock lock(gate->mu);
        ++gate->loads;
        gate->cv.notify_all();
        gate->cv.wait(lock, [&] { return gate->open; });
        if (gate->fail) throw ConfigError(path, "broken on purpose");
      }
      return LoadConfig(path);
    };
    return o;
  }

  static HttpResponse Call(const std::vector<Route>& routes, const std::string& path) {
    for (const Route& r : routes) {
      if (r.path == path) return r.handler(HttpRequest{});
    }
    throw std::runtime_error("no route " + path);
  }

  double ReloadSuccessful(App& app) {
    for (const auto& family : app.registry().Collect()) {
      if (family.name == "drift_exporter_config_last_reload_successful") {
        return family.metric.at(0).gauge.value;
      }
    }
    return -1;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
};

// A module that only serves a route.
class RouteModule final : public Module {
 public:
  explicit RouteModule(std::string path) : path_(std::move(path)) {}
  std::string_view section() const override { return "test"; }
  Result<std::vector<std::string>> CheckReload(const Config&) const override {
    return std::vector<std::string>{};
  }
  void OnConfigLoaded(const Config&) override {}
  void OnTransition(const CheckState&, const CheckState&) override {}
  void Stop() override {}
  std::vector<Route> Routes() override {
    Route r(path_, {"POST"}, [](const HttpRequest& req) {
      return HttpResponse::Text(200, "module got " + req.body);
    });
    r.max_body = 1024;
    return {r};
  }

 private:
  std::string path_;
};

TEST_F(AppTest, ModulesServeTheirOwnRoutesOnceStarted) {
  App::Options o = Options();
  o.make_modules = [](ModuleContext&, const Config&) {
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(std::make_unique<RouteModule>("/-/webhook"));
    return modules;
  };
  App app(std::move(o), clock_);
  std::shared_ptr<const RouteTable> table = app.route_table();
  EXPECT_EQ(FindRoute(*table->Get(), "/-/webhook"), nullptr) << "no modules before Start()";
  ASSERT_NE(FindRoute(*table->Get(), "/metrics"), nullptr);
  app.Start();
  const Route* route = FindRoute(*table->Get(), "/-/webhook");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->max_body, 1024u);
  HttpRequest req;
  req.method = "POST";
  req.path = "/-/webhook";
  req.body = "alert";
  EXPECT_EQ(RouteRequest(*table->Get(), req).body, "module got alert\n");
  EXPECT_NE(FindRoute(*table->Get(), "/metrics"), nullptr) << "the core's routes stay";
  app.Stop();
}

TEST_F(AppTest, AModuleRouteThatClashesStopsTheStart) {
  App::Options o = Options();
  o.make_modules = [](ModuleContext&, const Config&) {
    std::vector<std::unique_ptr<Module>> modules;
    modules.push_back(std::make_unique<RouteModule>("/-/reload"));
    return modules;
  };
  App app(std::move(o), clock_);
  try {
    app.Start();
    FAIL() << "started";
  } catch (const StartupError& e) {
    EXPECT_STREQ(e.what(), "the modules' routes clash: two routes for /-/reload");
  }
}

TEST(RouteTable, RefusesTwoRoutesForOnePath) {
  auto ok = [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); };
  RouteTable table({{"/a", {"GET"}, ok}});
  EXPECT_EQ(table.Set({{"/b", {"GET"}, ok}, {"/b", {"POST"}, ok}}).error().message,
            "two routes for /b");
  EXPECT_NE(FindRoute(*table.Get(), "/a"), nullptr) << "a refused table changes nothing";
  EXPECT_TRUE(table.Set({{"/b", {"GET"}, ok}}).ok());
  EXPECT_EQ(FindRoute(*table.Get(), "/a"), nullptr);
}

// The daemon binds before it starts the App: until then its routes must not pretend.
TEST_F(AppTest, RoutesAnswer503UntilStarted) {
  App app(Options(), clock_);
  std::vector<Route> routes = app.Routes();
  for (const char* path : {"/metrics", "/", "/-/ready", "/-/reload"}) {
    HttpResponse r = Call(routes, path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.body, "Service Unavailable: starting; the configuration is not loaded yet\n")
        << path;
  }
  EXPECT_EQ(Call(routes, "/-/healthy").status, 200);
  app.Start();
  EXPECT_EQ(Call(routes, "/-/ready").status, 503) << "started, but no check has run yet";
  EXPECT_EQ(Call(routes, "/").status, 200);
  app.Stop();
}

TEST_F(AppTest, ReloadRunsOnItsOwnThreadAndReportsItsOutcome) {
  App app(Options(), clock_);
  app.Start();
  std::uint64_t ticket = app.RequestReload();
  ReloadOutcome done = app.WaitReload(ticket, std::chrono::steady_clock::now() + 1h);
  EXPECT_EQ(done.kind, ReloadOutcome::Kind::kDone);
  EXPECT_TRUE(done.status.ok());
  EXPECT_EQ(ReloadSuccessful(app), 1);

  {
    std::lock_guard lock(gate_->mu);
    gate_->fail = true;
  }
  done = app.WaitReload(app.RequestReload(), std::chrono::steady_clock::now() + 1h);
  EXPECT_EQ(done.kind, ReloadOutcome::Kind::kDone);
  ASSERT_FALSE(done.status.ok());
  EXPECT_EQ(done.status.error().message,
            (dir_.path() / "config.yml").string() + ": broken on purpose");
  EXPECT_EQ(ReloadSuccessful(app), 0);
  app.Stop();
}

// The state file is opened once, at start-up: a reload that moves it is refused whole, as a
// section that needs a restart is, instead of being applied in part.
TEST_F(AppTest, AReloadThatChangesTheStateDirNeedsARestart) {
  const std::string checks = fmt::format(
      "host: {{root: {}}}\n"
      "scheduler: {{mode: on_scrape}}\n"
      "checks:\n"
      "  - name: backups\n"
      "    type: backup\n"
      "    params: {{status_file: /status.json}}\n",
      dir_.root());
  dir_.Write("/config.yml", checks + "state_dir: state-a\n");
  App app(Options(), clock_);
  app.Start();
  dir_.Write("/config.yml", checks + "state_dir: state-b\n");
  ReloadOutcome done = app.WaitReload(app.RequestReload(), std::chrono::steady_clock::now() + 1h);
  ASSERT_EQ(done.kind, ReloadOutcome::Kind::kDone);
  ASSERT_FALSE(done.status.ok());
  EXPECT_EQ(done.status.error().message,
            (dir_.path() / "config.yml").string() + ": restart to apply: state_dir: changed");
  EXPECT_EQ(ReloadSuccessful(app), 0);
  app.Stop();
}

// A load that never returns (a file on a hung mount) holds up neither the callers nor shutdown.
TEST_F(AppTest, StuckReloadBlocksNeitherRequestsNorStop) {
  App app(Options(), clock_);
  app.Start();
  std::vector<Route> routes = app.Routes();
  gate_->Close();
  std::uint64_t first = app.RequestReload();  // returns at once although the load hangs
  gate_->WaitLoads(2);

  ReloadOutcome waiting = app.WaitReload(first, std::chrono::steady_clock::now());
  EXPECT_EQ(waiting.kind, ReloadOutcome::Kind::kStillRunning);
  EXPECT_NE(waiting.detail.find("the reload is still reading " +
                                (dir_.path() / "config.yml").string() + " for "),
            std::string::npos)
      << waiting.detail;

  // Requests made meanwhile queue one reload after it, and share it.
  std::uint64_t second = app.RequestReload();
  EXPECT_GT(second, first);
  EXPECT_EQ(app.RequestReload(), second);
  waiting = app.WaitReload(second, std::chrono::steady_clock::now());
  EXPECT_EQ(waiting.kind, ReloadOutcome::Kind::kStillRunning);
  EXPECT_NE(waiting.detail.find("queued behind a reload still reading "), std::string::npos)
      << waiting.detail;

  HttpResponse r = Call(routes, "/-/reload");  // reload_wait is 0
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("reload not finished after 0s: queued behind a reload still reading "),
            std::string::npos)
      << r.body;

  app.Stop();  // returns although the load still hangs: its thread is abandoned
  EXPECT_EQ(app.WaitReload(second, std::chrono::steady_clock::now() + 1h).kind,
            ReloadOutcome::Kind::kStopping);
  gate_->Open();  // the abandoned thread returns and touches nothing of the App
}

TEST(ScrapeBudget, AnswersHalfASecondBeforePrometheusGivesUp) {
  using Seconds = std::chrono::duration<double>;
  EXPECT_EQ(Seconds(ScrapeBudget(std::nullopt)), Seconds(9.5));
  EXPECT_EQ(Seconds(ScrapeBudget("2.5")), Seconds(2.0));
  EXPECT_EQ(Seconds(ScrapeBudget("0.3")), Seconds(0.1)) << "at least 0.1s";
  for (const char* unusable : {"", "ten", "-3", "0", "nan", "1e400"}) {
    EXPECT_EQ(Seconds(ScrapeBudget(unusable)), Seconds(9.5)) << unusable;
  }
  // Found by tests/fuzz/http_fuzz (corpus/http/check_page_unknown): "inf" overflowed the
  // nanoseconds of the deadline, which then lay in the past.
  for (const char* huge : {"inf", "1e300", "86400"}) {
    EXPECT_EQ(Seconds(ScrapeBudget(huge)), Seconds(3599.5)) << huge;
  }
}

TEST(CheckPageResponse, NamesAnUnknownCheckQuoted) {
  HttpResponse r = CheckPageResponse(Snapshot{}, "no\xffsuch", WallTime{});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no check named \"no\\xffsuch\"\n");
}

TEST(ShutdownDeadline, ExpiresWithTheStageItWasIn) {
  std::mutex mu;
  std::condition_variable cv;
  std::string expired;
  {
    ShutdownDeadline deadline(0ms, [&](const std::string& stage) {
      std::lock_guard lock(mu);
      expired = stage.empty() ? "(empty)" : stage;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !expired.empty(); });
  }
  EXPECT_EQ(expired, "starting to shut down");
}

TEST(ShutdownDeadline, DoesNothingWhenShutdownFinishesInTime) {
  bool expired = false;
  {
    ShutdownDeadline deadline(1h, [&](const std::string&) { expired = true; });
    deadline.Stage("stopping");
  }
  EXPECT_FALSE(expired);
}

}  // namespace
}  // namespace drift::exporter
