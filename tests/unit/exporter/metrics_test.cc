#include "exporter/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/fakes.h"

namespace drift::exporter {
namespace {

using namespace std::chrono_literals;

constexpr checks::ControlRef kControls[] = {{"hipaa", "164.312(b)"}};
constexpr checks::MeasureSpec kMeasures[] = {{"drift_test_age_seconds", "Age of the thing."}};
const checks::CheckType kTestType{"test", checks::Severity::kHigh, kControls, "fix_it", kMeasures,
                                  nullptr};

std::shared_ptr<CheckState> State(const std::string& name, bool ran, bool known, bool success,
                                  bool drifted, WallTime since = {}) {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = name;
  spec->type = &kTestType;
  spec->controls = {{"hipaa", "164.312(b)"}};
  spec->controls_label = "hipaa:164.312(b)";
  spec->recommended_action = "fix_it";
  auto s = std::make_shared<CheckState>();
  s->spec = spec;
  s->ran = ran;
  s->known = known;
  s->success = success;
  s->drifted = drifted;
  s->severity = drifted ? checks::Severity::kCritical : checks::Severity::kNone;
  s->drift_since = since;
  s->last_run = WallTime(1'700'000'000s);
  s->duration_seconds = 0.25;
  if (success) s->result.measures.push_back({"drift_test_age_seconds", 42});
  return s;
}

std::string Render(const Snapshot& snap, const Clock& clock) {
  auto shared = std::make_shared<Snapshot>(snap);
  MetricsCache cache({std::make_shared<DriftCollector>([shared] { return shared; }, clock)},
                     [] { return std::uint64_t{1}; });
  return cache.Render();
}

TEST(DriftCollector, RendersTheContract) {
  testing::FakeClock clock(WallTime(1'700'000'100s));
  Snapshot snap;
  snap.checks = {State("ok", true, true, true, false),
                 State("bad", true, true, true, true, WallTime(1'700'000'040s)),
                 State("broken", true, false, false, false),
                 State("new", false, false, false, false)};
  std::string text = Render(snap, clock);
  for (const char* line : {
           "drift_check_drifted{check=\"ok\"} 0\n",
           "drift_check_drifted{check=\"bad\"} 1\n",
           "drift_check_severity{check=\"bad\"} 4\n",
           "drift_check_drift_age_seconds{check=\"bad\"} 60\n",
           "drift_check_drift_age_seconds{check=\"ok\"} 0\n",
           "drift_check_success{check=\"broken\"} 0\n",
           "drift_check_last_run_timestamp_seconds{check=\"ok\"} 1700000000\n",
           "drift_check_duration_seconds{check=\"ok\"} 0.25\n",
           "drift_check_info{check=\"new\",type=\"test\",severity=\"high\",controls=\"hipaa:164."
           "312(b)\",recommended_action=\"fix_it\"} 1\n",
           "drift_test_age_seconds{check=\"ok\"} 42\n",
           "drift_control_drifted{framework=\"hipaa\",control=\"164.312(b)\"} 1\n",
           "drift_checks{state=\"compliant\"} 1\n",
           "drift_checks{state=\"drifted\"} 1\n",
           "drift_checks{state=\"error\"} 1\n",
           "drift_checks{state=\"pending\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  }
  // A check without a verdict has no drifted/severity/age series: absent, never a false 0.
  EXPECT_EQ(text.find("drift_check_drifted{check=\"broken\"}"), std::string::npos);
  EXPECT_EQ(text.find("drift_check_success{check=\"new\"}"), std::string::npos);
  EXPECT_NE(text.find("# HELP drift_check_drifted "), std::string::npos);
  EXPECT_NE(text.find("Cached: from the check's latest run"), std::string::npos);
}

// on_scrape: a check still running when a scrape's deadline passed is not successful for that
// scrape, even before its first run; its last known drift stays.
TEST(DriftCollector, OverdueCheckIsNotSuccessfulAndKeepsItsDrift) {
  testing::FakeClock clock(WallTime(1'700'000'100s));
  auto drifted = State("drifted", true, true, false, true, WallTime(1'700'000'040s));
  drifted->overdue = "still running after 9.5s; scrape deadline passed";
  auto fresh = State("fresh", false, false, false, false);
  fresh->overdue = "still running after 9.5s; scrape deadline passed";
  Snapshot snap;
  snap.checks = {drifted, fresh};
  std::string text = Render(snap, clock);
  for (const char* line : {
           "drift_check_success{check=\"drifted\"} 0\n",
           "drift_check_success{check=\"fresh\"} 0\n",
           "drift_check_drifted{check=\"drifted\"} 1\n",
           "drift_checks{state=\"error\"} 2\n",
           "drift_checks{state=\"pending\"} 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  }
  // Never ran: no verdict, so no drifted series and no last-run time.
  EXPECT_EQ(text.find("drift_check_drifted{check=\"fresh\"}"), std::string::npos);
  EXPECT_EQ(text.find("drift_check_last_run_timestamp_seconds{check=\"fresh\"}"),
            std::string::npos);
}

// A collector that counts its calls, returns one gauge per name in `names` all set to the
// number of the call, and can be made to block (a slow render) until released.
class FakeCollector final : public prometheus::Collectable {
 public:
  explicit FakeCollector(int series = 1) : series_(series) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    int call = ++calls_;
    {
      std::unique_lock lock(mu_);
      ++entered_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !blocked_; });
    }
    prometheus::MetricFamily f;
    f.name = "drift_test_calls";
    f.help = "Calls.";
    f.type = prometheus::MetricType::Gauge;
    for (int i = 0; i < series_; ++i) {
      prometheus::ClientMetric m;
      m.label = {{"i", std::to_string(i)}};
      m.gauge.value = call;
      f.metric.push_back(std::move(m));
    }
    return {f};
  }
  int calls() const { return calls_.load(); }
  void Block() {
    std::lock_guard lock(mu_);
    blocked_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  // Waits until Collect has been entered `n` times in all; false after 5 s.
  bool WaitEntered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return entered_ >= n; });
  }

 private:
  const int series_;
  mutable std::atomic<int> calls_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool blocked_ = false;
};

// Get() until it returns something other than `old`, for at most 5 s.
std::shared_ptr<const std::string> NextBody(MetricsCache& cache,
                                            const std::shared_ptr<const std::string>& old) {
  auto until = std::chrono::steady_clock::now() + 5s;
  std::shared_ptr<const std::string> body = cache.Get();
  while (body == old && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    body = cache.Get();
  }
  return body;
}

TEST(MetricsCache, RendersNewResultsAtMostOncePerMinInterval) {
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [&] { return version.load(); },
                     {.min_interval = 200ms, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  EXPECT_EQ(*first,
            "# HELP drift_test_calls Calls.\n# TYPE drift_test_calls gauge\n"
            "drift_test_calls{i=\"0\"} 1\n");
  EXPECT_EQ(cache.Get(), first) << "same version: the cached body is shared";
  version = 2;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(cache.Get(), first) << "new results within min_interval wait for the next render";
  EXPECT_EQ(collector->calls(), 1);
  auto second = NextBody(cache, first);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 150ms);
  EXPECT_NE(second, first);
  EXPECT_NE(second->find("drift_test_calls{i=\"0\"} 2\n"), std::string::npos) << *second;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(cache.Get(), second) << "no new results: no new render";
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, ARenderInProgressDoesNotBlockReaders) {
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [&] { return version.load(); },
                     {.min_interval = 1ms, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  collector->Block();
  // Should a reader wait for the render, the render is released after 2 s: the test fails
  // rather than hangs.
  std::atomic<bool> readers_done{false};
  std::thread unblock([&] {
    for (int i = 0; i < 200 && !readers_done; ++i) std::this_thread::sleep_for(10ms);
    collector->Release();
  });
  version = 2;
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(cache.Get(), first);  // asks for a render
  ASSERT_TRUE(collector->WaitEntered(2)) << "the render thread renders on its own";
  // The render is stuck in Collect; readers on other threads get the old body at once.
  std::vector<std::thread> readers;
  std::atomic<int> served_old{0};
  std::atomic<long> slowest_us{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto body = cache.Get();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        long seen = slowest_us.load();
        while (us > seen && !slowest_us.compare_exchange_weak(seen, us)) {
        }
        if (body == first) ++served_old;
      }
    });
  }
  for (auto& r : readers) r.join();
  readers_done = true;
  unblock.join();
  EXPECT_EQ(served_old.load(), 200);
  EXPECT_LT(slowest_us.load(), 50'000) << "a reader waited for the render";
  EXPECT_EQ(collector->calls(), 2) << "one render at a time, however many readers ask";
  auto second = NextBody(cache, first);
  EXPECT_NE(second->find("} 2\n"), std::string::npos) << *second;
}

TEST(MetricsCache, ABodyIsNeverMixed) {
  // 200 series per body, all holding the number of the render that produced them: a body that
  // mixed two renders, or changed after being returned, would show two numbers.
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>(200);
  MetricsCache cache({collector}, [&] { return version.fetch_add(1); },
                     {.min_interval = 0ms, .refresh_after = 0ms, .max_age = 1h});
  std::atomic<bool> mixed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        auto body = cache.Get();
        std::string copy = *body;
        std::set<std::string> values;
        for (std::size_t at = copy.find("} "); at != std::string::npos;
             at = copy.find("} ", at + 1)) {
          values.insert(copy.substr(at + 2, copy.find('\n', at) - at - 2));
        }
        if (values.size() != 1) mixed = true;
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_FALSE(mixed.load());
  EXPECT_GT(collector->calls(), 2) << "bodies were replaced while read";
}

TEST(MetricsCache, ATooOldBodyIsNotServed) {
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [] { return std::uint64_t{1}; },
                     {.min_interval = 1ms, .refresh_after = 40ms, .max_age = 80ms});
  auto first = cache.Get();
  std::this_thread::sleep_for(100ms);
  auto started = std::chrono::steady_clock::now();
  auto second = cache.Get();
  EXPECT_NE(second, first) << "older than max_age: the request waits for a new body";
  EXPECT_EQ(collector->calls(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(MetricsCache, AnAgeingBodyIsRenewedBeforeItIsTooOld) {
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [] { return std::uint64_t{1}; },
                     {.min_interval = 1ms, .refresh_after = 50ms, .max_age = 10s});
  auto first = cache.Get();
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(cache.Get(), first) << "served while renewed in the background";
  EXPECT_NE(NextBody(cache, first), first);
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, InvalidateMakesTheNextGetWaitForANewBody) {
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [] { return std::uint64_t{1}; },
                     {.min_interval = 1h, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  cache.Invalidate();
  auto second = cache.Get();
  EXPECT_NE(second, first);
  EXPECT_NE(second->find("} 2\n"), std::string::npos) << *second;
  EXPECT_EQ(cache.Get(), second);
}

TEST(MetricsCache, MinVersionWaitsForABodyThatShowsIt) {
  std::atomic<std::uint64_t> version{1};
  auto collector = std::make_shared<FakeCollector>();
  MetricsCache cache({collector}, [&] { return version.load(); },
                     {.min_interval = 1h, .refresh_after = 1h, .max_age = 2h});
  auto first = cache.Get();
  version = 2;
  EXPECT_EQ(cache.Get(), first);
  EXPECT_EQ(cache.Get(1), first) << "already shows version 1";
  auto second = cache.Get(2);
  EXPECT_NE(second, first) << "on_scrape: the scrape shows the run it waited for";
  EXPECT_NE(second->find("} 2\n"), std::string::npos) << *second;
  EXPECT_EQ(cache.Get(2), second);
  EXPECT_EQ(collector->calls(), 2);
}

TEST(MetricsCache, DestructorWaitsForARenderInProgress) {
  auto collector = std::make_shared<FakeCollector>();
  std::atomic<std::uint64_t> version{1};
  auto cache = std::make_unique<MetricsCache>(
      std::vector<std::shared_ptr<prometheus::Collectable>>{collector},
      [&] { return version.load(); },
      MetricsCache::Timing{.min_interval = 1ms, .refresh_after = 1h, .max_age = 2h});
  cache->Get();
  collector->Block();
  version = 2;
  std::this_thread::sleep_for(5ms);
  cache->Get();
  ASSERT_TRUE(collector->WaitEntered(2));
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    collector->Release();
  });
  cache.reset();  // returns once the render has finished; the render used nothing freed
  releaser.join();
  EXPECT_EQ(collector->calls(), 2);
}

TEST(ExporterMetrics, BuildInfoAndReload) {
  testing::FakeClock clock(WallTime(1'700'000'000s));
  ExporterMetrics m(clock);
  m.ConfigLoaded(ConfigLoad::kApplied);
  clock.Advance(10s);
  m.ConfigLoaded(ConfigLoad::kInvalid);
  MetricsCache cache({m.registry()}, [] { return std::uint64_t{1}; });
  std::string text = cache.Render();
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_last_reload_success_timestamp_seconds 1700000000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_restart_required 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("drift_exporter_build_info{"), std::string::npos);
}

TEST(ExporterMetrics, AReloadThatNeedsARestartSaysSoUntilOneIsApplied) {
  testing::FakeClock clock(WallTime(1'700'000'000s));
  ExporterMetrics m(clock);
  MetricsCache cache({m.registry()}, [] { return std::uint64_t{1}; });
  m.ConfigLoaded(ConfigLoad::kApplied);
  m.ConfigLoaded(ConfigLoad::kNeedsRestart);
  std::string text = cache.Render();
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_restart_required 1\n"), std::string::npos) << text;
  m.ConfigLoaded(ConfigLoad::kApplied);
  text = cache.Render();
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_restart_required 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace drift::exporter
