#include "exporter/evidence_module.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>

#include <thread>

#include "checks/registry.h"
#include "common/config_node.h"
#include "evidence/canonical_json.h"
#include "evidence/catalog.h"
#include "evidence/keys.h"
#include "evidence/verify.h"
#include "exporter/state.h"
#include "tests/support/fakes.h"
#include "tests/unit/evidence/test_util.h"

namespace drift::exporter {
namespace {

using checks::CheckResult;
using checks::Severity;
using evidence::testing::TempDir;
using std::chrono::seconds;

const WallTime kT0 = WallTime(seconds(1'722'513'600));  // 2024-08-01T12:00:00Z

std::shared_ptr<CheckSpec> Spec(const std::string& name) {
  auto spec = std::make_shared<CheckSpec>();
  spec->name = name;
  spec->type = checks::FindCheckType("firewall");
  spec->severity = Severity::kCritical;
  spec->controls = {{"hipaa", "164.312(a)(1)"}, {"soc2", "CC6.6"}};
  spec->recommended_action = "restore_firewall_baseline";
  return spec;
}

CheckState RunCheck(CheckState s, CheckResult r, int seconds_later) {
  return Advance(s, std::move(r), kT0 + seconds(seconds_later), 0.0125);
}

CheckResult Drifted() {
  return checks::Conclude({{"ruleset_hash_mismatch", "3f1c", "9b0e", Severity::kNone}},
                          {{"service", "active"}}, {}, "");
}

std::string Canon(const nlohmann::json& j) {
  Result<std::string> s = evidence::CanonicalJson(j);
  EXPECT_TRUE(s.ok());
  return s.ok() ? *s : "";
}

TEST(TransitionRecord, CarriesObservedExpectedSeverityControlsAndBaseline) {
  CheckState s;
  s.spec = Spec("fw");
  CheckState compliant =
      RunCheck(s, checks::Conclude({}, {{"service", "active"}}, {}, "matches"), 0);
  CheckState drifted = RunCheck(compliant, Drifted(), 60);
  std::vector<SourceFile> files = {{"/etc/drift/config.yml", Sha256Of("config")}};
  evidence::Record r = TransitionRecord(compliant, drifted, files);
  EXPECT_EQ(r.kind, "transition");
  EXPECT_EQ(r.check, "fw");
  EXPECT_EQ(r.severity, "critical");
  EXPECT_EQ(r.controls, (std::vector<std::string>{"hipaa:164.312(a)(1)", "soc2:CC6.6"}));
  EXPECT_EQ(Canon(r.payload),
            R"({"baseline_files":[{"path":"/etc/drift/config.yml","sha256":")" +
                ToHex(Sha256Of("config")) +
                R"("}],"check_type":"firewall","drift_since":"2024-08-01T12:01:00.000Z",)"
                R"("drift_streak":1,"drift_threshold":1,"duration_ms":13,"findings":[{"cause":)"
                R"("ruleset_hash_mismatch","expected":"9b0e","observed":"3f1c"}],"from":)"
                R"("compliant","observed":{"service":"active"},"reason":"ruleset_hash_mismatch: )"
                R"(observed 3f1c, expected 9b0e","recommended_action":"restore_firewall_baseline",)"
                R"("run_finished":"2024-08-01T12:01:00.000Z","runs":2,"to":"drifted","verdict":)"
                R"("drifted"})");
  evidence::Record back =
      TransitionRecord(drifted, RunCheck(drifted, CheckResult::Error("boom"), 120), files);
  EXPECT_EQ(back.payload["from"], "drifted");
  EXPECT_EQ(back.payload["to"], "error");
  EXPECT_EQ(back.payload["reason"], "boom");
  // An error keeps the last known drift (state.h), so the severity stays that of the drift.
  EXPECT_EQ(back.severity, "critical");
}

TEST(AttestationRecord, ListsEveryEnabledCheckWithTheUnionOfControls) {
  auto fw = Spec("fw");
  auto av = Spec("av");
  av->controls = {{"hipaa", "164.308(a)(5)(ii)(B)"}, {"soc2", "CC6.6"}};
  auto off = Spec("off");
  off->enabled = false;
  CheckState s;
  s.spec = fw;
  std::map<std::string, std::shared_ptr<const CheckState>, std::less<>> states = {
      {"fw", std::make_shared<const CheckState>(RunCheck(s, Drifted(), 0))}};
  evidence::Record r =
      AttestationRecord({fw, av, off}, states, std::chrono::hours(1), kT0 + seconds(30));
  EXPECT_EQ(r.kind, "attestation");
  EXPECT_EQ(r.controls, (std::vector<std::string>{"hipaa:164.308(a)(5)(ii)(B)",
                                                  "hipaa:164.312(a)(1)", "soc2:CC6.6"}));
  EXPECT_EQ(r.payload["checks"].size(), 2u);
  EXPECT_EQ(r.payload["checks"][0]["state"], "drifted");
  EXPECT_EQ(r.payload["checks"][0]["severity"], "critical");
  EXPECT_EQ(r.payload["checks"][1]["state"], "pending");
  EXPECT_EQ(r.payload["counts"], (nlohmann::json{{"drifted", 1}, {"pending", 1}}));
  EXPECT_EQ(r.payload["interval_seconds"], 3600);
  EXPECT_EQ(r.payload["attested_at"], "2024-08-01T12:00:30.000Z");
}

TEST(ConfigLoadRecord, HashesEveryFile) {
  Config c;
  c.checks = {Spec("fw")};
  c.files = {{"/etc/a.yml", Sha256Of("a")}, {"/etc/b.yml", Sha256Of("b")}};
  evidence::Record r = ConfigLoadRecord(c, true);
  EXPECT_EQ(Canon(r.payload), R"({"checks":["fw"],"disabled_checks":0,"files":[{"path":)"
                              R"("/etc/a.yml","sha256":")" +
                                  ToHex(Sha256Of("a")) + R"("},{"path":"/etc/b.yml","sha256":")" +
                                  ToHex(Sha256Of("b")) + R"("}],"reload":true})");
}

class EvidenceModuleTest : public ::testing::Test {
 protected:
  Config MakeConfig(bool create_key) {
    Config c;
    c.checks = {Spec("fw")};
    c.files = {{dir_ / "config.yml", Sha256Of("x")}};
    c.evidence.enabled = true;
    c.evidence.directory = dir_ / "evidence";
    c.evidence.secret_key_file = dir_ / "keys/drift-evidence.key";
    c.evidence.create_key_if_missing = create_key;
    c.evidence.host = "web-1";
    return c;
  }
  std::string Metrics() { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  TempDir dir_;
  drift::testing::FakeClock clock_{kT0};
  prometheus::Registry registry_;
  ModuleContext context_{clock_, registry_, "/etc/drift/config.yml", "http://127.0.0.1:9968"};
};

TEST_F(EvidenceModuleTest, RecordsTransitionsAndHandsOutRecordIds) {
  Config config = MakeConfig(/*create_key=*/true);
  auto module = std::make_unique<EvidenceModule>(context_, config);
  module->OnConfigLoaded(config);
  CheckState s;
  s.spec = config.checks[0];
  CheckState first = RunCheck(s, checks::Conclude({}, {}, {}, "ok"), 0);
  module->OnTransition(s, first);
  CheckState again = RunCheck(first, checks::Conclude({}, {}, {}, "ok"), 10);
  module->OnTransition(first, again);  // same state: no record
  CheckState drifted = RunCheck(again, Drifted(), 20);
  module->OnTransition(again, drifted);
  evidence::Record heal;
  heal.kind = "heal_request";
  heal.check = "fw";
  heal.actor = "alice@example.com";
  Result<evidence::Published> p = module->Append(heal);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->id, "00000000000000000005-heal_request");
  EXPECT_EQ(module->LatestRecordId("fw"), "00000000000000000005-heal_request");
  EXPECT_EQ(module->LatestRecordId("other"), "");
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("drift_evidence_records_total{kind=\"transition\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("drift_evidence_store_healthy 1"), std::string::npos);
  EXPECT_NE(metrics.find("drift_evidence_last_sequence 5"), std::string::npos);
  module->Stop();

  Result<std::vector<evidence::StoredRecord>> all =
      evidence::ListRecords(dir_ / "evidence", evidence::ListFilter{});
  ASSERT_TRUE(all.ok());
  std::vector<std::string> kinds;
  for (const auto& r : *all) kinds.push_back(r.parsed.record.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"start", "config_load", "transition", "transition",
                                             "heal_request", "stop"}));
  EXPECT_EQ((*all)[0].parsed.header.host, "web-1");
  EXPECT_EQ((*all)[0].parsed.record.payload["config_file"], "/etc/drift/config.yml");
  Result<evidence::PublicKey> pub = evidence::LoadPublicKeyFile(dir_ / "keys/drift-evidence.pub");
  ASSERT_TRUE(pub.ok());
  evidence::VerifyOptions options;
  options.trusted_keys = {*pub};
  Result<evidence::VerifyReport> v = evidence::VerifyStore(dir_ / "evidence", options);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << evidence::SummaryLine(*v);
}

TEST_F(EvidenceModuleTest, ReloadWithANewKeyRotatesIt) {
  Config config = MakeConfig(true);
  auto module = std::make_unique<EvidenceModule>(context_, config);
  module->OnConfigLoaded(config);
  std::string old_pub = module->PublicKeyFile();
  ASSERT_TRUE(evidence::WriteKeyPair(dir_ / "next", evidence::SecretKey::Generate()).ok());
  Config next = MakeConfig(false);
  next.evidence.secret_key_file = dir_ / "next/drift-evidence.key";
  module->OnConfigLoaded(next);
  module->Stop();
  EXPECT_NE(module->PublicKeyFile(), old_pub);
  evidence::ListFilter rotations;
  rotations.kind = "key_rotation";
  Result<std::vector<evidence::StoredRecord>> r =
      evidence::ListRecords(dir_ / "evidence", rotations);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].parsed.record.payload["signed_by_previous_key"], true);
  evidence::VerifyOptions options;
  options.trusted_keys = {*evidence::ParsePublicKeyFile(old_pub)};
  Result<evidence::VerifyReport> v = evidence::VerifyStore(dir_ / "evidence", options);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << evidence::SummaryLine(*v);
}

TEST_F(EvidenceModuleTest, AReloadMayRotateTheKeyButNotMoveTheStore) {
  Config config = MakeConfig(/*create_key=*/true);
  auto module = std::make_unique<EvidenceModule>(context_, config);
  module->OnConfigLoaded(config);
  using Changes = std::vector<std::string>;

  Config same = MakeConfig(/*create_key=*/false);  // acts at start-up only: no restart needed
  Result<Changes> r = module->CheckReload(same);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Changes{});

  ASSERT_TRUE(evidence::WriteKeyPair(dir_ / "next", evidence::SecretKey::Generate()).ok());
  Config rotated = MakeConfig(false);
  rotated.evidence.secret_key_file = dir_ / "next/drift-evidence.key";
  r = module->CheckReload(rotated);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Changes{});

  Config moved = MakeConfig(false);
  moved.evidence.directory = dir_ / "elsewhere";
  moved.evidence.host = "web-2";
  moved.evidence.attestation_interval = std::chrono::minutes(5);
  moved.evidence.retention = std::chrono::hours(24 * 30);
  moved.evidence.queue_capacity = 10;
  r = module->CheckReload(moved);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, (Changes{"evidence.directory: changed", "evidence.host: changed",
                         "evidence.attestation_interval: changed", "evidence.retention: changed",
                         "evidence.queue_capacity: changed"}));

  Config off = MakeConfig(false);
  off.evidence = {};
  r = module->CheckReload(off);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Changes{"evidence: section removed"});

  // A key that does not load refuses the reload instead of leaving it half applied.
  Config bad_key = MakeConfig(false);
  bad_key.evidence.secret_key_file = dir_ / "no-such.key";
  r = module->CheckReload(bad_key);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("evidence.secret_key_file: "), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("no-such.key"), std::string::npos) << r.error().message;
  module->Stop();
}

TEST_F(EvidenceModuleTest, ASectionTurnedOnAtReloadNeedsARestart) {
  Config config = MakeConfig(/*create_key=*/true);
  std::vector<std::unique_ptr<Module>> modules = MakeModules(context_, config);
  ASSERT_EQ(modules.size(), 1u);
  EXPECT_EQ(modules[0]->section(), "evidence");
  Result<std::vector<std::string>> r = RestartRequiredBy(modules, config);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->empty());

  Config next = MakeConfig(false);
  next.alerting.enabled = true;
  next.evidence.retention = std::chrono::hours(24 * 30);
  r = RestartRequiredBy(modules, next);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r,
            (std::vector<std::string>{"alerting: section added", "evidence.retention: changed"}));
  for (const auto& m : modules) m->Stop();
}

// Two daemons on one configuration: the second stops at start-up (exit 3), naming the lock file
// and the first one's pid, before it read or wrote anything in the store; a reload of the first
// keeps the lock; its Stop releases it.
TEST_F(EvidenceModuleTest, ASecondModuleOnTheStoreIsAStartupErrorUntilTheFirstStops) {
  Config config = MakeConfig(/*create_key=*/true);
  auto module = std::make_unique<EvidenceModule>(context_, config);
  module->OnConfigLoaded(config);
  module->OnConfigLoaded(config);  // a reload
  evidence::Record heal;
  heal.kind = "heal_request";
  ASSERT_TRUE(module->Append(heal).ok());
  prometheus::Registry other_registry;
  ModuleContext other{clock_, other_registry, "/etc/drift/config.yml", ""};
  try {
    EvidenceModule second(other, config);
    FAIL() << "no error";
  } catch (const StartupError& e) {
    EXPECT_EQ(std::string(e.what()),
              "evidence directory " + (dir_ / "evidence") + " is in use by another writer: pid " +
                  std::to_string(::getpid()) + " holds " + (dir_ / "evidence/writer.lock") +
                  ". One writer per store: stop it, or give this instance its own "
                  "evidence.directory");
  }
  EXPECT_TRUE(module->healthy());
  module->Stop();
  {
    EvidenceModule next(other, config);  // the lock is free again
    next.Stop();
  }
  Result<std::vector<evidence::StoredRecord>> all =
      evidence::ListRecords(dir_ / "evidence", evidence::ListFilter{});
  ASSERT_TRUE(all.ok());
  std::vector<std::string> kinds;
  for (const auto& r : *all) kinds.push_back(r.parsed.record.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"start", "config_load", "config_load", "heal_request",
                                             "stop", "start", "stop"}));
}

TEST_F(EvidenceModuleTest, LostRecordsAreCountedByReason) {
  Config config = MakeConfig(/*create_key=*/true);
  auto module = std::make_unique<EvidenceModule>(context_, config);
  std::string metrics = Metrics();
  EXPECT_NE(metrics.find("drift_evidence_dropped_records_total{reason=\"queue_full\"} 0"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("drift_evidence_dropped_records_total{reason=\"store_unhealthy\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.find("drift_evidence_write_errors_total{op=\"tail_check\"} 0"),
            std::string::npos);
  module->Stop();
}

TEST_F(EvidenceModuleTest, AMissingKeyIsAConfigErrorInProduction) {
  Config config = MakeConfig(/*create_key=*/false);
  try {
    EvidenceModule module(context_, config);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/etc/drift/config.yml: evidence.secret_key_file: cannot read secret key file " +
                  (dir_ / "keys/drift-evidence.key") + ": No such file or directory");
  }
}

}  // namespace
}  // namespace drift::exporter
