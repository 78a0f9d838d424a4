#include "exporter/metrics.h"

#include <gtest/gtest.h>

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

TEST(MetricsCache, RebuildsOnNewVersionAtMostFourTimesASecond) {
  std::atomic<std::uint64_t> version{1};
  struct Counting final : prometheus::Collectable {
    std::vector<prometheus::MetricFamily> Collect() const override {
      ++calls;
      return {};
    }
    mutable std::atomic<int> calls{0};
  };
  auto counting = std::make_shared<Counting>();
  MetricsCache cache({counting}, [&] { return version.load(); });
  auto first = cache.Get();
  auto second = cache.Get();
  EXPECT_EQ(first, second) << "same version within a second: the cached body is shared";
  EXPECT_EQ(counting->calls.load(), 1);
  version = 2;
  EXPECT_EQ(cache.Get(), first) << "a new result within 250 ms waits for the next render";
  std::this_thread::sleep_for(260ms);
  EXPECT_NE(cache.Get(), first);
  EXPECT_EQ(counting->calls.load(), 2);
  std::this_thread::sleep_for(1s);
  cache.Get();
  EXPECT_EQ(counting->calls.load(), 3) << "a second-old body is rendered again (ages move)";
}

TEST(ExporterMetrics, BuildInfoAndReload) {
  testing::FakeClock clock(WallTime(1'700'000'000s));
  ExporterMetrics m(clock);
  m.ConfigLoaded(true);
  m.ConfigLoaded(false);
  MetricsCache cache({m.registry()}, [] { return std::uint64_t{1}; });
  std::string text = cache.Render();
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_last_reload_success_timestamp_seconds 1700000000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_build_info{"), std::string::npos);
}

}  // namespace
}  // namespace drift::exporter
