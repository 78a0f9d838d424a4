#include "exporter/metrics.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "exporter/metrics_cache.h"
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
  return RenderMetrics({std::make_shared<DriftCollector>([shared] { return shared; }, clock)});
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

TEST(ExporterMetrics, BuildInfoAndReload) {
  testing::FakeClock clock(WallTime(1'700'000'000s));
  ExporterMetrics m(clock);
  m.ConfigLoaded(ConfigLoad::kApplied);
  clock.Advance(10s);
  m.ConfigLoaded(ConfigLoad::kInvalid);
  std::string text = RenderMetrics({m.registry()});
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
  m.ConfigLoaded(ConfigLoad::kApplied);
  m.ConfigLoaded(ConfigLoad::kNeedsRestart);
  std::string text = RenderMetrics({m.registry()});
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_restart_required 1\n"), std::string::npos) << text;
  m.ConfigLoaded(ConfigLoad::kApplied);
  text = RenderMetrics({m.registry()});
  EXPECT_NE(text.find("drift_exporter_config_last_reload_successful 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("drift_exporter_config_restart_required 0\n"), std::string::npos) << text;
}

TEST(ExporterMetrics, CountsMetricsResponsesAndBytesByContentCoding) {
  testing::FakeClock clock(WallTime(1'700'000'000s));
  ExporterMetrics m(clock);
  auto expect_counts = [&](double identity, double gzip, double identity_bytes, double gzip_bytes) {
    std::string text = RenderMetrics({m.registry()});
    for (const std::string& line : {
             fmt::format("drift_exporter_metrics_responses_total{{encoding=\"identity\"}} {}\n",
                         identity),
             fmt::format("drift_exporter_metrics_responses_total{{encoding=\"gzip\"}} {}\n", gzip),
             fmt::format(
                 "drift_exporter_metrics_response_bytes_total{{encoding=\"identity\"}} {}\n",
                 identity_bytes),
             fmt::format("drift_exporter_metrics_response_bytes_total{{encoding=\"gzip\"}} {}\n",
                         gzip_bytes),
         }) {
      EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
    }
  };
  // Both series from the start, so that rate() and a ratio work before the first gzip scrape.
  expect_counts(0, 0, 0, 0);
  m.MetricsServed(ContentCoding::kGzip, 30'000);
  m.MetricsServed(ContentCoding::kGzip, 31'000);
  m.MetricsServed(ContentCoding::kIdentity, 470'000);
  m.MetricsServed(ContentCoding::kIdentity, 0);  // a HEAD request
  expect_counts(2, 2, 470'000, 61'000);
}

}  // namespace
}  // namespace drift::exporter
