#include "healing/config.h"

#include <gtest/gtest.h>

#include <string>

#include "common/config_node.h"

namespace drift::healing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

struct Loaded {
  HealingConfig healing;
  std::map<std::string, Runbook> runbooks;
};

Loaded Load(const std::string& text) {
  ConfigNode root = ConfigNode::Parse(text, "c.yml");
  Loaded l;
  if (auto h = root.Find("healing")) l.healing = ReadHealingConfig(*h);
  if (auto r = root.Find("runbooks")) l.runbooks = ReadRunbooks(*r, l.healing);
  root.Finish();
  return l;
}

std::string ErrorOf(const std::string& text) {
  try {
    Load(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "loaded";
}

TEST(HealingConfig, DefaultsWhenEmpty) {
  Loaded l = Load("healing: {}\n");
  EXPECT_TRUE(l.healing.enabled);
  EXPECT_FALSE(l.healing.allow_unauthenticated);
  EXPECT_FALSE(l.healing.dry_run);
  EXPECT_EQ(l.healing.cooldown, minutes(15));
  EXPECT_EQ(l.healing.max_attempts, 3);
  EXPECT_EQ(l.healing.attempts_window, hours(24));
  EXPECT_EQ(l.healing.approval_expiry, hours(4));
  EXPECT_TRUE(l.healing.webhook_callers.empty());
  EXPECT_TRUE(l.runbooks.empty());
}

TEST(HealingConfig, ReadsEverySetting) {
  Loaded l = Load(R"(healing:
  webhook_callers: [alertmanager, am.example.org]
  approvers: [alice]
  instance: web-1
  dry_run: true
  cooldown: 30m
  max_attempts: 5
  attempts_window: 12h
  approval_expiry: 1h
  max_output_bytes: 4096
  maintenance_windows:
    - name: weekend
      days: [sat, sun]
      start: "02:00"
      duration: 4h
      time_zone: Europe/Berlin
runbooks:
  restart_logging_services:
    description: Restart rsyslog
    tier: auto
    steps:
      - argv: [/usr/bin/systemctl, restart, rsyslog.service]
        timeout: 30s
  restart_av_service:
    tier: auto
    manual_causes: [binary_hash_mismatch]
    steps:
      - argv: [/usr/bin/systemctl, restart, clamav-daemon.service]
  restore_firewall_baseline:
    tier: approval
    windows: [weekend]
    dry_run: true
    steps:
      - argv: [/usr/bin/systemctl, reload, nftables.service]
    rollback:
      - argv: [/usr/bin/systemctl, restart, nftables.service]
  enable_volume_encryption:
    tier: manual
)");
  const HealingConfig& h = l.healing;
  EXPECT_EQ(h.webhook_callers, (std::vector<std::string>{"alertmanager", "am.example.org"}));
  EXPECT_EQ(h.approvers, std::vector<std::string>{"alice"});
  EXPECT_EQ(h.instance, "web-1");
  EXPECT_TRUE(h.dry_run);
  EXPECT_EQ(h.cooldown, minutes(30));
  EXPECT_EQ(h.max_attempts, 5);
  EXPECT_EQ(h.attempts_window, hours(12));
  EXPECT_EQ(h.approval_expiry, hours(1));
  EXPECT_EQ(h.max_output_bytes, 4096U);
  ASSERT_EQ(h.maintenance_windows.size(), 1U);
  EXPECT_EQ(h.maintenance_windows[0].Describe(), "sat,sun 02:00+4h Europe/Berlin");

  ASSERT_EQ(l.runbooks.size(), 4U);
  EXPECT_EQ(l.runbooks.at("restart_av_service").manual_causes,
            std::vector<std::string>{"binary_hash_mismatch"});
  const Runbook& logging = l.runbooks.at("restart_logging_services");
  EXPECT_EQ(logging.tier, Tier::kAuto);
  EXPECT_EQ(logging.description, "Restart rsyslog");
  ASSERT_EQ(logging.steps.size(), 1U);
  EXPECT_EQ(logging.steps[0].argv,
            (std::vector<std::string>{"/usr/bin/systemctl", "restart", "rsyslog.service"}));
  EXPECT_EQ(logging.steps[0].timeout, std::chrono::seconds(30));
  const Runbook& fw = l.runbooks.at("restore_firewall_baseline");
  EXPECT_EQ(fw.tier, Tier::kApproval);
  EXPECT_TRUE(fw.dry_run);
  EXPECT_EQ(fw.windows, std::vector<std::string>{"weekend"});
  EXPECT_EQ(fw.steps[0].timeout, std::chrono::seconds(60));
  ASSERT_EQ(fw.rollback.size(), 1U);
  EXPECT_EQ(l.runbooks.at("enable_volume_encryption").tier, Tier::kManual);
  EXPECT_TRUE(l.runbooks.at("enable_volume_encryption").steps.empty());
}

// Like the exporter's other files, a relative program resolves against the configuration's
// folder (the demo's stand-in systemctl); a bare name would be a PATH lookup, and is refused.
TEST(HealingConfig, ARelativeProgramIsBesideTheConfiguration) {
  ConfigNode root = ConfigNode::Parse(
      "runbooks:\n  r:\n    tier: auto\n    steps: [{argv: [bin/../bin/systemctl, restart, x]}]\n",
      "/etc/drift/c.yml");
  std::map<std::string, Runbook> runbooks = ReadRunbooks(root.Child("runbooks"), {});
  EXPECT_EQ(runbooks.at("r").steps[0].argv,
            (std::vector<std::string>{"/etc/drift/bin/systemctl", "restart", "x"}));
}

// Every bad setting names the file, line, column and key, and says what was expected.
TEST(HealingConfig, BadSettingsSayWhereAndWhat) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"healing:\n  cooldwn: 1m\n", "c.yml:2:3: healing.cooldwn: unknown key"},
      {"healing:\n  max_attempts: 0\n", "c.yml:2:17: healing.max_attempts:"},
      {"healing:\n  approval_expiry: 4s\n",
       "c.yml:2:20: healing.approval_expiry: expected a duration from 5s to 30d"},
      {"healing:\n  approvers: alice\n", "c.yml:2:14: healing.approvers:"},
      {"healing:\n  maintenance_windows:\n    - {name: w, days: [fri], start: \"25:00\", "
       "duration: 1h, time_zone: UTC}\n",
       "c.yml:3:37: healing.maintenance_windows[0].start: expected a time of day as HH:MM (00:00 "
       "to 23:59), got \"25:00\""},
      {"healing:\n  maintenance_windows:\n    - {name: w, days: [friday], start: \"01:00\", "
       "duration: 1h, time_zone: UTC}\n",
       "c.yml:3:23: healing.maintenance_windows[0].days: expected days as mon, tue, wed, thu, "
       "fri, sat, sun; got \"friday\""},
      {"healing:\n  maintenance_windows:\n    - {name: w, days: [fri], start: \"01:00\", "
       "duration: 1h, time_zone: Mars/Olympus}\n",
       "c.yml:3:71: healing.maintenance_windows[0].time_zone: unknown time zone"},
      {"healing:\n  maintenance_windows:\n    - {name: w, days: [fri], start: \"01:00\", "
       "duration: 1h, time_zone: UTC}\n    - {name: w, days: [sat], start: \"01:00\", "
       "duration: 1h, time_zone: UTC}\n",
       "c.yml:4:14: healing.maintenance_windows[1].name: duplicate window name \"w\""},
      {"runbooks:\n  r:\n    tier: sometimes\n    steps: [{argv: [/bin/true]}]\n",
       "c.yml:3:11: runbooks.r.tier: expected auto, approval or manual, got \"sometimes\""},
      {"runbooks:\n  r:\n    tier: auto\n    steps: [{argv: [systemctl, restart, x]}]\n",
       "c.yml:4:20: runbooks.r.steps[0].argv: expected a path to the program, got "
       "\"systemctl\" (steps never search PATH and never run a shell)"},
      {"runbooks:\n  r:\n    tier: auto\n    steps: [{argv: []}]\n",
       "c.yml:4:20: runbooks.r.steps[0].argv: expected the program and its arguments, at least "
       "one"},
      {"runbooks:\n  r:\n    tier: auto\n    steps: [{argv: [/bin/true], timeout: 7h}]\n",
       "c.yml:4:42: runbooks.r.steps[0].timeout: expected a timeout above 0 and at most 6h"},
      {"runbooks:\n  r:\n    tier: auto\n    steps: [{argv: [/bin/true], shell: true}]\n",
       "c.yml:4:33: runbooks.r.steps[0].shell: unknown key"},
      {"runbooks:\n  r:\n    tier: auto\n",
       "c.yml:3:5: runbooks.r: expected at least one step; a runbook that runs nothing has tier "
       "manual"},
      {"runbooks:\n  r:\n    tier: manual\n    rollback: [{argv: [/bin/true]}]\n",
       "c.yml:4:15: runbooks.r.rollback: a manual runbook never runs, so it has nothing to roll "
       "back"},
      {"runbooks:\n  r:\n    tier: auto\n    windows: [night]\n    steps: [{argv: [/bin/true]}]\n",
       "c.yml:4:14: runbooks.r.windows: unknown maintenance window \"night\"; "
       "healing.maintenance_windows names: none"},
      {"runbooks:\n  Restart-It:\n    tier: manual\n",
       "c.yml:3:5: runbooks.Restart-It: expected a runbook name in lower case letters, digits "
       "and '_', got \"Restart-It\""},
  };
  for (const auto& [text, expected] : cases) {
    const std::string error = ErrorOf(text);
    EXPECT_TRUE(error.starts_with(expected)) << text << "\n got: " << error;
  }
}

}  // namespace
}  // namespace drift::healing
