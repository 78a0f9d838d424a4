#include "exporter/healing_module.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace drift::exporter {
namespace {

using nlohmann::json;

const char* kFirewallAlert = R"({"version":"4","status":"firing","receiver":"drift-heal",
  "alerts":[{"status":"firing","labels":{"alertname":"ComplianceDrift","check":"firewall",
  "instance":"web-1"},"startsAt":"2026-12-07T11:58:00Z","fingerprint":"1111222233334444"}]})";

const checks::CheckType kType{"firewall", checks::Severity::kCritical, {}, "", {}, nullptr};

Identity User(std::string name) {
  Identity i;
  i.user = std::move(name);
  return i;
}

HttpRequest Post(std::string path, std::string body, Identity who) {
  HttpRequest r;
  r.method = "POST";
  r.path = std::move(path);
  r.body = std::move(body);
  r.identity = std::move(who);
  return r;
}

class HealingModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.Set(*ParseRfc3339("2026-12-07T12:00:00Z"));
    runner_.Script("/usr/sbin/nft -f /etc/nftables.conf", 0, "");
    context_.state_dir = dir_.path().string();
    context_.run_check_now = [this](std::string_view, Deadline) {
      return Result<std::shared_ptr<const CheckState>>(compliant_);
    };
    auto spec = std::make_shared<CheckSpec>();
    spec->name = "firewall";
    spec->type = &kType;
    spec->recommended_action = "restore_firewall_baseline";
    spec->controls = {{"hipaa", "164.312(a)(1)"}};
    auto state = std::make_shared<CheckState>();
    state->spec = spec;
    state->ran = true;
    state->success = true;
    state->result.verdict = checks::Verdict::kCompliant;
    compliant_ = state;
    auto drifted = std::make_shared<CheckState>(*state);
    drifted->drifted = true;
    drifted->result.verdict = checks::Verdict::kDrifted;
    drifted->result.reason = "ruleset_hash_mismatch: observed 1f..., expected 9a...";
    drifted->result.findings = {{"ruleset_hash_mismatch", "1f...", "9a..."}};
    context_.snapshot = [drifted] {
      auto snap = std::make_shared<Snapshot>();
      snap->checks = {drifted};
      return std::shared_ptr<const Snapshot>(snap);
    };
    config_.checks = {spec};
    config_.healing.enabled = true;
    config_.healing.webhook_callers = {"alertmanager"};
    config_.healing.approvers = {"alice"};
    config_.healing.instance = "web-1";
    healing::Runbook fw;
    fw.name = "restore_firewall_baseline";
    fw.tier = healing::Tier::kApproval;
    fw.steps = {healing::Step{{"/usr/sbin/nft", "-f", "/etc/nftables.conf"}}};
    config_.runbooks[fw.name] = fw;
  }

  std::unique_ptr<HealingModule> Make() {
    HealingModule::Connections c;
    c.append_evidence = [this](evidence::Record r) -> Status {
      if (!evidence_ok_) return Err("disk full");
      EXPECT_TRUE(evidence::ValidateRecord(r).ok()) << r.kind;
      records_.push_back(std::move(r));
      return {};
    };
    c.evidence_ready = [this]() -> Status {
      if (!evidence_ok_) return Err("the evidence store is unhealthy");
      return {};
    };
    c.runner = &runner_;
    c.start_worker = false;
    return std::make_unique<HealingModule>(context_, config_, std::move(c));
  }

  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  testing::FakeClock clock_;
  testing::FakeCommandRunner runner_;
  prometheus::Registry registry_;
  testing::TempDir dir_;
  ModuleContext context_{clock_, registry_, "config.yml", "http://web-1:9968"};
  std::shared_ptr<const CheckState> compliant_;
  Config config_;
  std::vector<evidence::Record> records_;
  bool evidence_ok_ = true;
};

TEST_F(HealingModuleTest, TheWebhookDemandsAnAllowedCaller) {
  auto m = Make();
  HttpResponse anonymous = m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, {}));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_NE(anonymous.body.find("needs an authenticated caller"), std::string::npos);
  HttpResponse mallory = m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, User("mallory")));
  EXPECT_EQ(mallory.status, 403);
  EXPECT_NE(mallory.body.find("mallory may not call the healing webhook"), std::string::npos);
  EXPECT_TRUE(records_.empty());
  EXPECT_TRUE(m->healer().Actions().empty());
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("drift_webhook_requests_total{code=\"401\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("drift_webhook_requests_total{code=\"403\"} 1"), std::string::npos);
  m->Stop();
}

TEST_F(HealingModuleTest, BadBodiesGetA400WithTheReason) {
  auto m = Make();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"version":"3","status":"firing","alerts":[]})",
       "version: unsupported webhook message version \"3\""},
      {"{", "invalid JSON"},
      {std::string(10'000, '['), "nested deeper than 8 levels"},
      {"{\"version\":\"4\xff\"}", "not UTF-8"},
      {R"({"version":"4","status":"firing","alerts":[]})", "no alerts"},
  };
  for (const auto& [body, reason] : cases) {
    HttpResponse r = m->ServeWebhook(Post("/api/v1/heal", body, User("alertmanager")));
    EXPECT_EQ(r.status, 400) << body;
    const std::string error = json::parse(r.body)["error"];
    EXPECT_NE(error.find(reason), std::string::npos) << error;
  }
  EXPECT_TRUE(records_.empty());
  m->Stop();
}

TEST_F(HealingModuleTest, AnApprovalRunsTheRunbookAndEveryStepIsEvidence) {
  auto m = Make();
  HttpResponse accepted =
      m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, User("alertmanager")));
  ASSERT_EQ(accepted.status, 200) << accepted.body;
  const json body = json::parse(accepted.body);
  EXPECT_EQ(body["alerts"][0]["result"], "awaiting_approval");
  const std::string id = body["alerts"][0]["action"];
  EXPECT_NE(Metrics().find("drift_healing_pending_approvals 1"), std::string::npos);

  // The webhook's caller is no approver.
  EXPECT_EQ(
      m->ServeAction(Post("/api/v1/heal/actions/" + id + "/approve", "", User("alertmanager")))
          .status,
      403);
  EXPECT_EQ(m->ServeAction(Post("/api/v1/heal/actions/a0/approve", "", User("alice"))).status, 404);
  HttpResponse approved =
      m->ServeAction(Post("/api/v1/heal/actions/" + id + "/approve", "", User("alice")));
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(json::parse(approved.body)["decided_by"], "alice");
  EXPECT_EQ(
      m->ServeAction(Post("/api/v1/heal/actions/" + id + "/approve", "", User("alice"))).status,
      409);
  m->healer().RunDue();
  EXPECT_EQ(m->healer().Find(id)->status, healing::ActionStatus::kHealed);

  std::vector<std::string> kinds;
  for (const evidence::Record& r : records_) kinds.push_back(r.kind);
  EXPECT_EQ(kinds,
            (std::vector<std::string>{"healing_requested", "healing_decided", "healing_snapshot",
                                      "healing_approved", "healing_snapshot", "healing_step",
                                      "healing_verified", "healing_finished"}));
  const evidence::Record& step = records_[5];
  EXPECT_EQ(step.check, "firewall");
  EXPECT_EQ(step.controls, std::vector<std::string>{"hipaa:164.312(a)(1)"});
  EXPECT_EQ(step.payload["step"]["argv"], json({"/usr/sbin/nft", "-f", "/etc/nftables.conf"}));
  EXPECT_EQ(step.payload["step"]["output"]["exit_code"], 0);
  EXPECT_EQ(records_[3].actor, "alice");
  EXPECT_EQ(records_[0].actor, "alertmanager");
  EXPECT_NE(Metrics().find("drift_healing_actions_total{outcome=\"healed\",runbook=\"restore_"
                           "firewall_baseline\"} 1"),
            std::string::npos);

  HttpRequest list;
  list.method = "GET";
  list.path = "/api/v1/heal/actions";
  list.identity = User("alertmanager");
  HttpResponse listed = m->ServeActions(list);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(json::parse(listed.body)["actions"][0]["status"], "healed");
  m->Stop();
}

// Paths under the actions API name an action or a check the healer knows, or get a 404 that
// says what was expected; nothing of them reaches a file or a command.
TEST_F(HealingModuleTest, UnknownPathsAndNamesGet404) {
  auto m = Make();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/v1/heal/checks/../../etc/passwd/reset", "no check named \"../../etc/passwd\""},
      {"/api/v1/heal/checks/nope/reset", "no check named \"nope\""},
      {"/api/v1/heal/checks/firewall/restart", "expected POST /api/v1/heal/checks/<check>/reset"},
      {"/api/v1/heal/actions/a1/run",
       "expected GET /api/v1/heal/actions/<id> or POST "
       "/api/v1/heal/actions/<id>/approve|reject"},
      {"/api/v1/heal/actions/$(id)/approve", "no action \"$(id)\""},
      {"/api/v1/heal/actions//reject", "no action \"\""},
  };
  for (const auto& [path, error] : cases) {
    HttpResponse r = m->ServeAction(Post(path, "", User("alice")));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(json::parse(r.body)["error"], error) << path;
  }
  HttpRequest get;
  get.method = "GET";
  get.path = "/api/v1/heal/actions/a0";
  get.identity = User("alertmanager");
  EXPECT_EQ(m->ServeAction(get).status, 404);
  EXPECT_TRUE(records_.empty());
  EXPECT_TRUE(m->healer().Actions().empty());
  m->Stop();
}

TEST_F(HealingModuleTest, AnUnhealthyEvidenceStoreGetsA503AndRunsNothing) {
  auto m = Make();
  evidence_ok_ = false;
  HttpResponse r = m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, User("alertmanager")));
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("the evidence store is unhealthy"), std::string::npos);
  EXPECT_TRUE(m->healer().Actions().empty());
  evidence_ok_ = true;
  EXPECT_EQ(m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, User("alertmanager"))).status,
            200);
  m->Stop();
}

TEST_F(HealingModuleTest, WithoutAStateDirectoryItDoesNotStart) {
  context_.state_dir.clear();
  EXPECT_THROW(Make(), StartupError);
}

TEST_F(HealingModuleTest, AllowUnauthenticatedIsForDemos) {
  config_.healing.allow_unauthenticated = true;
  auto m = Make();
  EXPECT_EQ(m->ServeWebhook(Post("/api/v1/heal", kFirewallAlert, {})).status, 200);
  m->Stop();
}

}  // namespace
}  // namespace drift::exporter
