#include "exporter/alerting_module.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exporter/state.h"
#include "tests/support/fakes.h"
#include "tests/unit/alerts/alert_fakes.h"

namespace drift::exporter {
namespace {

using alerts::Labels;
using checks::CheckResult;
using checks::Finding;
using checks::Severity;
using checks::Verdict;
using std::chrono::milliseconds;
using std::chrono::seconds;

const WallTime kT0 = WallTime(seconds(1'700'000'000));  // 2023-11-14T22:13:20Z

std::shared_ptr<CheckSpec> Spec(const std::string& name, int threshold = 1) {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = name;
  spec->severity = Severity::kHigh;
  spec->controls_label = "hipaa:164.312(a)(1);soc2:CC6.6";
  spec->recommended_action = "restore_firewall_baseline";
  spec->drift_threshold = threshold;
  return spec;
}

CheckResult Drifted(Severity severity = Severity::kNone) {
  return checks::Conclude({{"ruleset_changed", "abc", "def", severity}}, {}, {}, "");
}
CheckResult Compliant() { return checks::Conclude({}, {}, {}, "matches its baseline"); }
CheckResult Failed() { return CheckResult::Error("nft: permission denied"); }

AlertLabeling Labeling() {
  alerts::AlertingConfig c;
  c.external_labels = {{"team", "sre"}};
  c.runbook_url = *alerts::RunbookTemplate::Parse(
      "https://runbooks.example.com/{{alertname}}/{{check}}?action={{recommended_action}}");
  return MakeAlertLabeling(c, "web1", "http://web1.example.com:9968");
}

CheckState RunCheck(CheckState s, CheckResult r, int seconds_later) {
  return Advance(s, std::move(r), kT0 + seconds(seconds_later), 0.1);
}

TEST(MakeAlertLabeling, DefaultsToTheHostName) {
  AlertLabeling l = MakeAlertLabeling({}, "web1.example.com", "http://127.0.0.1:9968");
  EXPECT_EQ(l.instance, "web1.example.com");
  EXPECT_EQ(l.external_url, "http://127.0.0.1:9968");
  EXPECT_TRUE(l.external_labels.empty());
  EXPECT_TRUE(l.runbook_url.empty());
  alerts::AlertingConfig c;
  c.instance = "db1";
  l = MakeAlertLabeling(c, "ignored", "https://db1.example.com/drift");
  EXPECT_EQ(l.instance, "db1");
  EXPECT_EQ(l.external_url, "https://db1.example.com/drift");
}

TEST(DecideCheckAlerts, NothingBeforeTheFirstRunNorWhileCompliant) {
  CheckState s;
  s.spec = Spec("fw");
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  EXPECT_FALSE(a.drift || a.failing);
  s = RunCheck(s, Compliant(), 0);
  a = DecideCheckAlerts(s, Labeling(), "");
  EXPECT_FALSE(a.drift || a.failing);
}

TEST(DecideCheckAlerts, DriftFiresWithLabelsAnnotationsAndGeneratorUrl) {
  CheckState s;
  s.spec = Spec("fw");
  s = RunCheck(s, Drifted(Severity::kCritical), 0);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "rec-000042");
  ASSERT_TRUE(a.drift);
  EXPECT_FALSE(a.failing);
  EXPECT_EQ(a.drift->labels, (Labels{{"alertname", "ComplianceDrift"},
                                     {"check", "fw"},
                                     {"instance", "web1"},
                                     {"severity", "critical"},
                                     {"team", "sre"}}));
  EXPECT_EQ(a.drift->annotations,
            (Labels{{"controls", "hipaa:164.312(a)(1);soc2:CC6.6"},
                    {"description", "ruleset_changed: observed abc, expected def"},
                    {"evidence_record_id", "rec-000042"},
                    {"recommended_action", "restore_firewall_baseline"},
                    {"runbook_url",
                     "https://runbooks.example.com/ComplianceDrift/fw?action="
                     "restore_firewall_baseline"},
                    {"summary", "Check fw drifted from its baseline on web1"}}));
  EXPECT_EQ(a.drift->generator_url, "http://web1.example.com:9968/checks/fw");
}

// A firewall diff can give many findings: the description names the first ten and counts the
// rest, which the check's page lists.
TEST(DecideCheckAlerts, DescriptionNamesTenFindingsAndCountsTheRest) {
  std::vector<Finding> findings = {{"ruleset_hash_mismatch", "7aa1", "dbbe", Severity::kNone}};
  for (int i = 0; i < 13; ++i) {
    findings.push_back(
        {"rule_added", fmt::format("tcp dport {} accept", 1000 + i), "absent", Severity::kNone});
  }
  CheckState s;
  s.spec = Spec("fw");
  s = RunCheck(s, checks::Conclude(findings, {}, {}, ""), 0);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  ASSERT_TRUE(a.drift);
  EXPECT_EQ(a.drift->annotations["description"],
            "ruleset_hash_mismatch: observed 7aa1, expected dbbe; "
            "rule_added: observed tcp dport 1000 accept, expected absent; "
            "rule_added: observed tcp dport 1001 accept, expected absent; "
            "rule_added: observed tcp dport 1002 accept, expected absent; "
            "rule_added: observed tcp dport 1003 accept, expected absent; "
            "rule_added: observed tcp dport 1004 accept, expected absent; "
            "rule_added: observed tcp dport 1005 accept, expected absent; "
            "rule_added: observed tcp dport 1006 accept, expected absent; "
            "rule_added: observed tcp dport 1007 accept, expected absent; "
            "rule_added: observed tcp dport 1008 accept, expected absent; ... and 4 more");
}

TEST(DecideCheckAlerts, DriftWaitsForTheThreshold) {
  CheckState s;
  s.spec = Spec("fw", 3);
  s = RunCheck(s, Drifted(), 0);
  EXPECT_FALSE(DecideCheckAlerts(s, Labeling(), "").drift);
  s = RunCheck(s, Drifted(), 60);
  EXPECT_FALSE(DecideCheckAlerts(s, Labeling(), "").drift);
  s = RunCheck(s, Drifted(), 120);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  ASSERT_TRUE(a.drift);
  EXPECT_EQ(a.drift->labels.at("severity"), "high") << "the check's severity for a plain cause";
  s = RunCheck(s, Compliant(), 180);
  EXPECT_FALSE(DecideCheckAlerts(s, Labeling(), "").drift);
  s = RunCheck(s, Drifted(), 240);
  EXPECT_FALSE(DecideCheckAlerts(s, Labeling(), "").drift) << "a compliant run resets the count";
}

TEST(DecideCheckAlerts, TheDriftAlertStartsWithTheDriftEpisode) {
  CheckState s;
  s.spec = Spec("fw", 2);
  s = RunCheck(s, Drifted(), 0);
  s = RunCheck(s, Drifted(), 60);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  ASSERT_TRUE(a.drift);
  EXPECT_EQ(a.drift_starts_at, kT0) << "the first drifted run, as drift_check_drift_age_seconds";
}

TEST(DecideCheckAlerts, AFailingCheckFiresCheckFailingWithItsSeverity) {
  CheckState s;
  s.spec = Spec("fw");
  s = RunCheck(s, Failed(), 0);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  EXPECT_FALSE(a.drift) << "an error is never read as drift (nor as compliant)";
  ASSERT_TRUE(a.failing);
  EXPECT_EQ(a.failing->labels, (Labels{{"alertname", "ComplianceCheckFailing"},
                                       {"check", "fw"},
                                       {"instance", "web1"},
                                       {"severity", "high"},
                                       {"team", "sre"}}));
  EXPECT_EQ(a.failing->annotations.at("summary"), "Check fw cannot run on web1");
  EXPECT_EQ(a.failing->annotations.at("description"), "nft: permission denied");
  EXPECT_EQ(a.failing->annotations.count("evidence_record_id"), 0u);
}

TEST(DecideCheckAlerts, AnErrorWhileDriftedKeepsTheDriftFiring) {
  CheckState s;
  s.spec = Spec("fw");
  s = RunCheck(s, Drifted(), 0);
  s = RunCheck(s, Failed(), 60);
  CheckAlerts a = DecideCheckAlerts(s, Labeling(), "");
  ASSERT_TRUE(a.drift);
  ASSERT_TRUE(a.failing);
  EXPECT_EQ(a.drift->annotations.at("description"),
            "Drifted at the last successful run; the latest run failed: nft: permission denied");
  s = RunCheck(s, Compliant(), 120);
  a = DecideCheckAlerts(s, Labeling(), "");
  EXPECT_FALSE(a.drift || a.failing) << "both resolve when the check succeeds, compliant";
}

TEST(SameAlertInputs, OnlyWhatTheAlertsDependOnCounts) {
  CheckState s;
  s.spec = Spec("fw");
  CheckState a = RunCheck(s, Drifted(), 0);
  EXPECT_FALSE(SameAlertInputs(s, a)) << "the first run always decides";
  CheckState b = RunCheck(a, Drifted(), 60);
  EXPECT_TRUE(SameAlertInputs(a, b)) << "a later run with the same findings";
  EXPECT_FALSE(SameAlertInputs(b, RunCheck(b, Drifted(Severity::kCritical), 120)));
  CheckResult other =
      checks::Conclude({{"ruleset_changed", "xyz", "def", Severity::kNone}}, {}, {}, "");
  EXPECT_FALSE(SameAlertInputs(b, RunCheck(b, other, 120))) << "a new observed value";
  EXPECT_FALSE(SameAlertInputs(b, RunCheck(b, Failed(), 120)));
  EXPECT_FALSE(SameAlertInputs(b, RunCheck(b, Compliant(), 120)));
  CheckState respec = b;
  respec.spec = Spec("fw");
  EXPECT_FALSE(SameAlertInputs(b, respec)) << "a reload's new spec";
}

TEST(ExporterAlertContent, HasNoCheckLabel) {
  alerts::AlertContent c =
      ExporterAlertContent("ComplianceEvidenceStoreUnhealthy", Severity::kCritical,
                           "Evidence store unhealthy", "fsync failed", Labeling());
  EXPECT_EQ(c.labels, (Labels{{"alertname", "ComplianceEvidenceStoreUnhealthy"},
                              {"instance", "web1"},
                              {"severity", "critical"},
                              {"team", "sre"}}));
  EXPECT_EQ(c.annotations, (Labels{{"description", "fsync failed"},
                                   {"runbook_url",
                                    "https://runbooks.example.com/"
                                    "ComplianceEvidenceStoreUnhealthy/?action="},
                                   {"summary", "Evidence store unhealthy"}}));
  EXPECT_EQ(c.generator_url, "http://web1.example.com:9968/");
}

// The module as the App drives it, with a fake Alertmanager behind the delivery seam.
class AlertingModuleTest : public ::testing::Test {
 protected:
  AlertingModuleTest() {
    config_.alerting.enabled = true;
    config_.alerting.instance = "web1";
    alerts::AlertmanagerConfig am;
    am.url = "http://am:9093";
    am.endpoint = "http://am:9093/api/v2/alerts";
    config_.alerting.alertmanagers.push_back(am);
    fw_ = Spec("fw");
    config_.checks = {fw_, Spec("backup")};
    module_ = std::make_unique<AlertingModule>(
        context_, config_,
        [this](const alerts::AlertmanagerConfig&) {
          return std::make_unique<alerts::fakes::FakePoster>(am_);
        },
        alerts::DeliveryOptions{64, milliseconds(10), milliseconds(40)});
    module_->OnConfigLoaded(config_);
  }
  ~AlertingModuleTest() override { module_->Stop(); }

  bool WaitAccepted(std::size_t n) {
    return am_.WaitFor([&] { return am_.accepted_count_locked() >= n; });
  }
  // alertname/check and whether it is resolved, per accepted alert.
  std::vector<std::string> Accepted() {
    std::vector<std::string> out;
    for (const auto& a : am_.accepted()) {
      std::string check = a["labels"].contains("check") ? a["labels"]["check"] : "-";
      bool resolved =
          a["endsAt"] == a["startsAt"] || a["endsAt"].get<std::string>() < "2023-11-14T22:14:00Z";
      out.push_back(a["labels"]["alertname"].get<std::string>() + "/" + check +
                    (resolved ? " resolved" : " firing"));
    }
    return out;
  }
  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }
  void Transition(const CheckState& after) { module_->OnTransition(CheckState{}, after); }
  // fw as the state file restores it an hour after its drift began (at kT0): ran, but not in
  // this process. The clock is moved to that hour.
  CheckState RestoredDriftAnHourLater() {
    CheckState s;
    s.spec = fw_;
    CheckState restored = RunCheck(s, Drifted(), 0);
    restored.runs = 0;
    clock_.Advance(seconds(3600));
    return restored;
  }

  drift::testing::FakeClock clock_{kT0};
  prometheus::Registry registry_;
  ModuleContext context_{clock_, registry_, "config.yml", "https://drift.example.com:9968"};
  alerts::fakes::FakeAlertmanager am_;
  Config config_;
  std::shared_ptr<CheckSpec> fw_;
  std::unique_ptr<AlertingModule> module_;
};

TEST_F(AlertingModuleTest, TransitionsBecomeAlertsAndResolutions) {
  CheckState s;
  s.spec = fw_;
  s = RunCheck(s, Drifted(), 0);
  Transition(s);
  ASSERT_TRUE(WaitAccepted(1));
  clock_.Advance(seconds(10));
  s = RunCheck(s, Compliant(), 10);
  Transition(s);
  ASSERT_TRUE(WaitAccepted(2));
  EXPECT_EQ(Accepted(),
            (std::vector<std::string>{"ComplianceDrift/fw firing", "ComplianceDrift/fw resolved"}));
  std::vector<nlohmann::json> got = am_.accepted();
  EXPECT_EQ(got[1]["endsAt"], "2023-11-14T22:13:30Z");
  EXPECT_EQ(got[1]["labels"]["instance"], "web1");
}

TEST_F(AlertingModuleTest, ARemovedCheckResolvesItsAlerts) {
  CheckState s;
  s.spec = fw_;
  Transition(RunCheck(s, Failed(), 0));
  ASSERT_TRUE(WaitAccepted(1));
  EXPECT_EQ(module_->FiringSlots(), std::vector<std::string>{"ComplianceCheckFailing/fw"});
  Config reloaded = config_;
  reloaded.checks = {Spec("backup")};
  module_->OnConfigLoaded(reloaded);
  ASSERT_TRUE(WaitAccepted(2));
  EXPECT_EQ(Accepted(), (std::vector<std::string>{"ComplianceCheckFailing/fw firing",
                                                  "ComplianceCheckFailing/fw resolved"}));
  EXPECT_TRUE(module_->FiringSlots().empty());
}

TEST_F(AlertingModuleTest, EveryAlertingChangeAppliesByReload) {
  EXPECT_EQ(module_->section(), "alerting");
  Config changed = config_;
  changed.alerting.resend_interval = std::chrono::minutes(5);
  changed.alerting.queue_capacity = 3;
  changed.alerting.instance = "db1";
  changed.alerting.alertmanagers.clear();
  Config off = config_;
  off.alerting = {};
  for (const Config& next : {changed, off}) {
    Result<std::vector<std::string>> r = module_->CheckReload(next);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->empty());
  }
}

TEST_F(AlertingModuleTest, EvidenceRecordIdComesFromTheProvider) {
  module_->SetEvidenceRecordIdProvider(
      [](std::string_view check) { return check == "fw" ? std::string("rec-7") : std::string(); });
  CheckState s;
  s.spec = fw_;
  Transition(RunCheck(s, Drifted(), 0));
  ASSERT_TRUE(WaitAccepted(1));
  EXPECT_EQ(am_.accepted()[0]["annotations"]["evidence_record_id"], "rec-7");
  // The link comes from --web.external-url, which the App hands every module.
  EXPECT_EQ(am_.accepted()[0]["generatorURL"], "https://drift.example.com:9968/checks/fw");
}

TEST_F(AlertingModuleTest, ARepeatedStateStillPicksUpANewEvidenceRecordId) {
  std::atomic<int> record{1};
  module_->SetEvidenceRecordIdProvider(
      [&record](std::string_view) { return "rec-" + std::to_string(record.load()); });
  CheckState s;
  s.spec = fw_;
  CheckState first = RunCheck(s, Drifted(), 0);
  Transition(first);
  ASSERT_TRUE(WaitAccepted(1));
  record = 2;
  CheckState second = RunCheck(first, Drifted(), 60);
  module_->OnTransition(first, second);
  clock_.Advance(seconds(60));  // the resend carries the current annotations
  module_->RaiseExporterAlert("Kick", Severity::kLow, "s", "d");  // wakes the dispatcher
  ASSERT_TRUE(WaitAccepted(3));
  std::vector<nlohmann::json> got = am_.accepted();
  EXPECT_EQ(got[0]["annotations"]["evidence_record_id"], "rec-1");
  auto resent = std::find_if(got.begin() + 1, got.end(), [](const nlohmann::json& a) {
    return a["labels"]["alertname"] == "ComplianceDrift";
  });
  ASSERT_NE(resent, got.end());
  EXPECT_EQ((*resent)["annotations"]["evidence_record_id"], "rec-2");
}

// After a restart the first run starts from the state restored from the state file (ran, but no
// run in this process): a continuing drift keeps its alert's startsAt, the episode's start.
TEST_F(AlertingModuleTest, AfterARestartAContinuingDriftKeepsItsStartsAt) {
  CheckState restored = RestoredDriftAnHourLater();
  module_->OnTransition(restored, RunCheck(restored, Drifted(), 3600));
  ASSERT_TRUE(WaitAccepted(1));
  // One post, or two if the dispatcher ran between taking the alert up and this run's update:
  // every one carries the episode's start.
  for (const nlohmann::json& a : am_.accepted()) {
    EXPECT_EQ(a["labels"]["alertname"], "ComplianceDrift");
    EXPECT_EQ(a["startsAt"], "2023-11-14T22:13:20Z") << "not the restart's 23:13:20";
  }
}

// A drift that ended while the exporter was down: the first run resolves the alert the earlier
// process left firing in Alertmanager (same labels and startsAt), instead of leaving it to expire.
TEST_F(AlertingModuleTest, AfterARestartADriftThatEndedIsResolved) {
  CheckState restored = RestoredDriftAnHourLater();
  module_->OnTransition(restored, RunCheck(restored, Compliant(), 3600));
  // The dispatcher may post the taken-up alert as firing once before its resolution lands (two
  // notifier calls); Alertmanager then sees it resolved. What counts is the last post.
  ASSERT_TRUE(am_.WaitFor([&] {
    const std::vector<nlohmann::json>& a = am_.accepted_locked();
    return !a.empty() && a.back()["endsAt"] == "2023-11-14T23:13:20Z";
  }));
  for (const nlohmann::json& a : am_.accepted()) {
    EXPECT_EQ(a["labels"]["alertname"], "ComplianceDrift");
    EXPECT_EQ(a["labels"]["severity"], "high");
    EXPECT_EQ(a["startsAt"], "2023-11-14T22:13:20Z") << "the episode's start, not a new one";
  }
  EXPECT_TRUE(module_->FiringSlots().empty());
}

TEST_F(AlertingModuleTest, ExporterAlertsRaiseAndResolve) {
  module_->RaiseExporterAlert("ComplianceEvidenceStoreUnhealthy", Severity::kCritical,
                              "Evidence store unhealthy", "fsync failed: EIO");
  ASSERT_TRUE(WaitAccepted(1));
  module_->ResolveExporterAlert("ComplianceEvidenceStoreUnhealthy");
  ASSERT_TRUE(WaitAccepted(2));
  EXPECT_EQ(Accepted(), (std::vector<std::string>{"ComplianceEvidenceStoreUnhealthy/- firing",
                                                  "ComplianceEvidenceStoreUnhealthy/- resolved"}));
}

TEST_F(AlertingModuleTest, ExportsTheDeliveryMetrics) {
  am_.Script({{503, "busy"}});
  CheckState s;
  s.spec = fw_;
  Transition(RunCheck(s, Drifted(), 0));
  ASSERT_TRUE(WaitAccepted(1));
  // The sink reports an outcome after the fake has answered: Stop() joins the sender, so every
  // report has landed when it returns (and nothing was left to flush).
  module_->Stop();
  const std::string text = Metrics();
  for (const char* line : {
           "drift_alerts_sent_total{alertmanager=\"http://am:9093\",outcome=\"success\"} 1",
           "drift_alerts_sent_total{alertmanager=\"http://am:9093\",outcome=\"error\"} 1",
           "drift_alerts_sent_total{alertmanager=\"http://am:9093\",outcome=\"rejected\"} 0",
           "drift_alerts_dropped_total{alertmanager=\"http://am:9093\"} 0",
           "drift_alerts_queue_length{alertmanager=\"http://am:9093\"} 0",
           "drift_alerts_active{alertname=\"ComplianceDrift\"} 1",
           "drift_alerts_active{alertname=\"ComplianceCheckFailing\"} 0",
           "drift_alertmanager_last_success_timestamp_seconds{alertmanager=\"http://am:9093\"} "
           "1700000000",
       }) {
    std::string want = std::string(line) + "\n";
    EXPECT_NE(text.find(want), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace drift::exporter
