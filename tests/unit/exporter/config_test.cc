#include "exporter/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "checks/registry.h"
#include "common/config_node.h"

namespace drift::exporter {
namespace {

const std::string kBad = std::string(DRIFT_FIXTURES_DIR) + "/configs/bad/";
const std::string kGood = std::string(DRIFT_FIXTURES_DIR) + "/configs/good/";

std::string ErrorOf(const std::string& path) {
  try {
    LoadConfig(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

struct BadConfig {
  std::string file;      // under configs/bad/
  std::string expected;  // ConfigError::what() with the fixture folder as the prefix "<bad>"
};

// One row per fixture: the exact message a user sees for each kind of mistake. "<bad>" stands for
// the absolute path of configs/bad/, "<types>" for the registered check types.
const std::vector<BadConfig> kBadConfigs = {
    // Unknown keys, at every level, name what was expected instead.
    {"unknown_key_top.yml",
     "<bad>unknown_key_top.yml:2:1: scrape_interval: unknown key; expected one of: alerting, "
     "baseline_file, checks, evidence, healing, host, runbooks, scheduler, state_dir"},
    {"unknown_key_check.yml",
     "<bad>unknown_key_check.yml:4:5: checks[0].serverity: unknown key; expected one of: controls, "
     "drift_threshold, enabled, name, params, recommended_action, severity, timeout, type"},
    {"unknown_key_params.yml",
     "<bad>unknown_key_params.yml:6:7: checks[0].params.max_agee: unknown key; expected one of: "
     "max_age, restore_test_max_age, status_file"},
    {"other_os_param.yml",
     "<bad>other_os_param.yml:7:7: checks[0].params.apt_lists_max_age: unknown key; expected one "
     "of: expected_generation, max_age, os, profile"},
    {"duplicate_key.yml",
     "<bad>duplicate_key.yml:3:3: scheduler.interval: duplicate key; first defined at line 2"},
    // Wrong types.
    {"wrong_type_int.yml",
     "<bad>wrong_type_int.yml:2:16: scheduler.concurrency: expected an integer from 1 to 64, got "
     "\"four\""},
    {"wrong_type_bool.yml",
     "<bad>wrong_type_bool.yml:4:14: checks[0].enabled: expected true or false, got \"yes\""},
    {"wrong_type_list.yml",
     "<bad>wrong_type_list.yml:5:16: checks[0].params.volumes: expected a list, got "
     "\"cryptroot\""},
    {"checks_not_a_list.yml",
     "<bad>checks_not_a_list.yml:2:3: checks: expected a list, got a mapping"},
    {"top_level_list.yml", "<bad>top_level_list.yml:1:1: expected a mapping at the top level"},
    // Missing required keys.
    {"missing_checks.yml", "<bad>missing_checks.yml:1:1: checks: required key missing"},
    {"missing_type.yml", "<bad>missing_type.yml:2:5: checks[0].type: required key missing"},
    {"missing_required_param.yml",
     "<bad>missing_required_param.yml:5:7: checks[0].params.status_file: required key missing"},
    {"missing_params.yml",
     "<bad>missing_params.yml:2:5: checks[0].params.service: required key missing"},
    // Values outside their set or range.
    {"bad_severity.yml",
     "<bad>bad_severity.yml:4:15: checks[0].severity: expected one of low, medium, high, "
     "critical, got \"urgent\""},
    {"bad_scheduler_mode.yml",
     "<bad>bad_scheduler_mode.yml:2:9: scheduler.mode: expected interval or on_scrape, got "
     "\"cron\""},
    {"bad_check_type.yml",
     "<bad>bad_check_type.yml:3:11: checks[0].type: unknown check type \"antivirus\"; expected one "
     "of: <types>"},
    {"bad_patching_os.yml",
     "<bad>bad_patching_os.yml:5:11: checks[0].params.os: expected one of auto, nixos, debian, got "
     "\"windows\""},
    {"concurrency_out_of_range.yml",
     "<bad>concurrency_out_of_range.yml:2:16: scheduler.concurrency: expected an integer from 1 to "
     "64, got 0"},
    {"drift_threshold_zero.yml",
     "<bad>drift_threshold_zero.yml:4:22: checks[0].drift_threshold: expected an integer from 1 "
     "to 1000, got 0"},
    {"bad_check_name.yml",
     "<bad>bad_check_name.yml:2:11: checks[0].name: expected a name of letters, digits, '_', '-', "
     "'.' (at most 64, starting with a letter or digit), got \"backups/nightly\""},
    {"bad_control_id.yml",
     "<bad>bad_control_id.yml:5:14: checks[0].controls.soc2[0]: expected a control id without "
     "spaces, ',', ';' or ':', got \"CC7.1, CC7.2\""},
    {"bad_framework.yml",
     "<bad>bad_framework.yml:5:16: checks[0].controls.PCI-DSS: framework name \"PCI-DSS\" must be "
     "lower case letters, digits and '_'"},
    {"bad_recommended_action.yml",
     "<bad>bad_recommended_action.yml:4:25: checks[0].recommended_action: expected a runbook name "
     "in lower case letters, digits and '_', got \"rm -rf /\""},
    {"empty_command_path.yml",
     "<bad>empty_command_path.yml:2:17: host.command_path: expected at least one directory"},
    {"state_dir_empty.yml",
     "<bad>state_dir_empty.yml:2:12: state_dir: expected a path, got an empty string"},
    {"state_dir_list.yml",
     "<bad>state_dir_list.yml:2:12: state_dir: expected a string, got a list"},
    {"host_root_missing.yml",
     "<bad>host_root_missing.yml:2:9: host.root: \"<bad>no-such-host-tree\" is not a directory "
     "the exporter can open"},
    // Durations.
    {"negative_duration.yml",
     "<bad>negative_duration.yml:6:16: checks[0].params.max_age: negative duration \"-1h\"; "
     "expected a positive duration"},
    {"zero_duration.yml",
     "<bad>zero_duration.yml:2:13: scheduler.interval: zero duration \"0s\"; expected a positive "
     "duration"},
    {"bad_duration_unit.yml",
     "<bad>bad_duration_unit.yml:4:14: checks[0].timeout: invalid duration \"30 seconds\"; units "
     "are ms, s, m, h, d, w (e.g. 30s, 1h30m)"},
    // Hashes.
    {"malformed_sha256_short.yml",
     "<bad>malformed_sha256_short.yml:7:22: checks[0].params.binary_sha256: expected a SHA-256 as "
     "64 hex digits, got 16 characters"},
    {"malformed_sha256_char.yml",
     "<bad>malformed_sha256_char.yml:5:23: checks[0].params.ruleset_sha256: expected a SHA-256 as "
     "64 hex digits, found 'g' at position 64"},
    // The file itself.
    {"does_not_exist.yml", "<bad>does_not_exist.yml: cannot read: No such file or directory"},
    {"empty_file.yml", "<bad>empty_file.yml:1:1: empty configuration; expected a mapping"},
    {"comments_only.yml", "<bad>comments_only.yml:1:1: empty configuration; expected a mapping"},
    {"tabs_in_indentation.yml",
     "<bad>tabs_in_indentation.yml:2:1: tab in indentation; YAML indents with spaces"},
    {"non_utf8.yml",
     "<bad>non_utf8.yml:4:28: invalid UTF-8 (byte 0xe9); the configuration must be UTF-8"},
    // yaml-cpp marks the end of the line, not the bracket past its depth limit.
    {"deeply_nested.yml",
     "<bad>deeply_nested.yml:1:10009: nesting too deep; a configuration is a few levels deep"},
    // yaml-cpp marks where it gave up (the end of the file), not the unclosed bracket.
    {"invalid_yaml.yml", "<bad>invalid_yaml.yml:4:1: invalid YAML: end of sequence flow not found"},
    {"two_documents.yml",
     "<bad>two_documents.yml:7:1: more than one YAML document; expected exactly one"},
    // The checks list.
    {"empty_checks.yml", "<bad>empty_checks.yml:1:9: checks: expected at least one check"},
    {"duplicate_check_name.yml",
     "<bad>duplicate_check_name.yml:10:11: checks[2].name: duplicate check name; first used at "
     "line 2"},
    // Baseline files and pins.
    {"baseline_unknown_check.yml",
     "<bad>baselines/unknown_check.yml:5:5: checks.firewall: no check named \"firewall\" in "
     "<bad>baseline_unknown_check.yml"},
    {"baseline_unknown_key.yml",
     "<bad>baselines/unknown_key.yml:4:5: checks.agent.binary_sha512: unknown key; expected one "
     "of: binary, binary_sha256, follow_symlinks, service"},
    {"baseline_not_a_file.yml",
     "<bad>baseline_not_a_file.yml:3:16: baseline_file: <bad>baselines/a_folder.yml: not a "
     "regular file (a directory); name the file itself, not a pipe, device, socket or "
     "directory"},
    {"pinned_in_both.yml",
     "<bad>baselines/pinned_in_both.yml:3:20: checks.agent.binary_sha256: also set in "
     "<bad>pinned_in_both.yml at line 8; set it in one place"},
    // Host paths and unit names in params.
    {"relative_host_path.yml",
     "<bad>relative_host_path.yml:5:20: checks[0].params.status_file: expected an absolute host "
     "path, got \"var/lib/backup/status.json\""},
    {"relative_host_path_av.yml",
     "<bad>relative_host_path_av.yml:6:15: checks[0].params.binary: expected an absolute host "
     "path, got \"usr/sbin/clamd\""},
    {"bad_unit_name.yml",
     "<bad>bad_unit_name.yml:5:16: checks[0].params.service: expected a systemd unit name like "
     "nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got \"--now\""},
    {"bad_unit_name_list.yml",
     "<bad>bad_unit_name_list.yml:5:44: checks[0].params.services[1]: expected a systemd unit "
     "name like nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got "
     "\"rsyslog service\""},
    {"duplicate_unit.yml",
     "<bad>duplicate_unit.yml:5:35: checks[0].params.services[1]: duplicate unit; list each unit "
     "once"},
    {"bad_volume_name.yml",
     "<bad>bad_volume_name.yml:5:28: checks[0].params.volumes[1]: expected a device-mapper name as "
     "in /dev/mapper/<name> (1 to 127 of A-Z a-z 0-9 _ . + -, not starting with -), got "
     "\"../sda1\""},
};

void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.file; }

std::string Replace(std::string text, const std::string& marker, const std::string& with) {
  for (std::size_t pos = text.find(marker); pos != std::string::npos;
       pos = text.find(marker, pos + with.size())) {
    text.replace(pos, marker.size(), with);
  }
  return text;
}

// Every registered type in registry order; the list grows as types are added.
std::string TypeList() {
  std::string out;
  for (const checks::CheckType* t : checks::AllCheckTypes()) {
    out += out.empty() ? std::string(t->name) : ", " + std::string(t->name);
  }
  return out;
}

std::string Expand(const std::string& text) {
  return Replace(Replace(text, "<bad>", kBad), "<types>", TypeList());
}

class LoadBadConfig : public ::testing::TestWithParam<BadConfig> {};

TEST_P(LoadBadConfig, FailsWithExactMessage) {
  const BadConfig& c = GetParam();
  EXPECT_EQ(ErrorOf(kBad + c.file), Expand(c.expected));
}

// Test names are the fixture names, so a failure says which file at once.
std::string FixtureName(const ::testing::TestParamInfo<BadConfig>& param_info) {
  return param_info.param.file.substr(0, param_info.param.file.find('.'));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoadBadConfig, ::testing::ValuesIn(kBadConfigs), FixtureName);

// A fixture without a row would never be loaded: every file in configs/bad/ has one.
TEST(LoadBadConfigTable, CoversEveryFixture) {
  std::set<std::string> in_table;
  for (const BadConfig& c : kBadConfigs) in_table.insert(c.file);
  for (const auto& entry : std::filesystem::directory_iterator(kBad)) {
    if (!entry.is_regular_file()) continue;
    EXPECT_TRUE(in_table.contains(entry.path().filename().string()))
        << entry.path() << " has no row in kBadConfigs";
  }
}

std::vector<std::string> ControlStrings(const CheckSpec& spec) {
  std::vector<std::string> out;
  for (const Control& c : spec.controls) out.push_back(c.framework + ":" + c.id);
  return out;
}

TEST(LoadConfig, MinimalConfigTakesEveryDefault) {
  Config config = LoadConfig(kGood + "minimal.yml");
  EXPECT_EQ(config.host.root, "/");
  EXPECT_EQ(config.host.command_path, DefaultCommandPath());
  EXPECT_EQ(config.host.command_path,
            (std::vector<std::string>{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                      "/sbin", "/bin"}));
  EXPECT_EQ(config.scheduler.mode, ScheduleMode::kInterval);
  EXPECT_EQ(config.scheduler.interval, std::chrono::seconds(60));
  EXPECT_EQ(config.scheduler.min_interval, std::chrono::seconds(15));
  EXPECT_EQ(config.scheduler.concurrency, 4);

  ASSERT_EQ(config.checks.size(), 1u);
  const CheckSpec& spec = *config.checks[0];
  EXPECT_EQ(spec.name, "backups");
  ASSERT_NE(spec.type, nullptr);
  EXPECT_EQ(spec.type->name, "backup");
  ASSERT_NE(spec.check, nullptr);
  EXPECT_EQ(spec.severity, checks::Severity::kHigh);
  EXPECT_FALSE(spec.severity_configured);
  EXPECT_EQ(ControlStrings(spec),
            (std::vector<std::string>{"hipaa:164.308(a)(7)(ii)(A)", "hipaa:164.310(d)(2)(iv)"}));
  EXPECT_EQ(spec.controls_label, "hipaa:164.308(a)(7)(ii)(A),164.310(d)(2)(iv)");
  EXPECT_EQ(spec.recommended_action, "run_backup_job");
  EXPECT_TRUE(spec.enabled);
  EXPECT_EQ(spec.drift_threshold, 1);
  EXPECT_EQ(spec.timeout, std::chrono::seconds(30));

  ASSERT_EQ(config.files.size(), 1u);
  EXPECT_EQ(config.files[0].path, kGood + "minimal.yml");
  EXPECT_EQ(config.state_dir, "") << "the daemon falls back to $STATE_DIRECTORY, then to none";
}

TEST(LoadConfig, FullConfigReadsEverySetting) {
  Config config = LoadConfig(kGood + "full.yml");
  // Relative paths resolve against the configuration file's folder.
  const std::filesystem::path dir(kGood);
  EXPECT_EQ(config.host.root, (dir / "host").lexically_normal().string());
  EXPECT_EQ(
      config.host.command_path,
      (std::vector<std::string>{(dir / "bin").lexically_normal().string(),
                                (dir / "../shared/bin").lexically_normal().string(), "/usr/bin"}));
  EXPECT_EQ(config.scheduler.mode, ScheduleMode::kOnScrape);
  EXPECT_EQ(config.scheduler.interval, std::chrono::minutes(2));
  EXPECT_EQ(config.scheduler.min_interval, std::chrono::seconds(30));
  EXPECT_EQ(config.scheduler.concurrency, 2);
  EXPECT_EQ(config.state_dir, (dir / "../state").lexically_normal().string());

  ASSERT_EQ(config.checks.size(), 3u);
  const CheckSpec& backups = *config.checks[0];
  EXPECT_EQ(backups.name, "backups");
  // A framework the type has no defaults for is added; the type's HIPAA defaults stay.
  EXPECT_EQ(ControlStrings(backups),
            (std::vector<std::string>{"hipaa:164.308(a)(7)(ii)(A)", "hipaa:164.310(d)(2)(iv)",
                                      "soc2:CC7.1", "soc2:A1.2"}));
  EXPECT_EQ(backups.controls_label, "hipaa:164.308(a)(7)(ii)(A),164.310(d)(2)(iv);soc2:CC7.1,A1.2");
  // scheduler.timeout is every check's default timeout.
  EXPECT_EQ(backups.timeout, std::chrono::seconds(45));
  EXPECT_EQ(backups.severity, checks::Severity::kHigh);

  const CheckSpec& agent = *config.checks[1];
  EXPECT_EQ(agent.name, "agent");
  EXPECT_EQ(agent.type->name, "av_edr");
  EXPECT_EQ(agent.severity, checks::Severity::kMedium);
  EXPECT_TRUE(agent.severity_configured);
  EXPECT_EQ(agent.recommended_action, "page_security");
  EXPECT_EQ(agent.drift_threshold, 3);
  EXPECT_EQ(agent.timeout, std::chrono::seconds(90));
  // A configured framework replaces that framework's defaults.
  EXPECT_EQ(ControlStrings(agent),
            (std::vector<std::string>{"hipaa:164.312(b)", "pci_dss:5.2", "pci_dss:5.3"}));
  EXPECT_EQ(agent.controls_label, "hipaa:164.312(b);pci_dss:5.2,5.3");

  // Disabled checks are loaded (and validated) too; their pins come from the baseline.
  const CheckSpec& fw = *config.checks[2];
  EXPECT_EQ(fw.name, "firewall.main");
  EXPECT_FALSE(fw.enabled);
  EXPECT_EQ(fw.severity, checks::Severity::kCritical);
  EXPECT_EQ(fw.controls_label, "hipaa:164.312(a)(1),164.312(e)(1)");
  EXPECT_EQ(fw.recommended_action, "restore_firewall_baseline");

  ASSERT_EQ(config.files.size(), 2u);
  EXPECT_EQ(config.files[0].path, kGood + "full.yml");
  EXPECT_EQ(config.files[1].path, kGood + "baseline.yml");
  EXPECT_NE(config.files[0].sha256, config.files[1].sha256);
}

TEST(LoadConfig, EveryTypeLoadsWithItsDefaults) {
  Config config = LoadConfig(kGood + "all_types.yml");
  std::vector<std::string> got;
  for (const auto& spec_ptr : config.checks) {
    const CheckSpec& spec = *spec_ptr;
    got.push_back(spec.name + " " + std::string(spec.type->name) + " " +
                  std::string(checks::SeverityName(spec.severity)) + " " + spec.recommended_action +
                  " " + spec.controls_label);
  }
  EXPECT_EQ(got,
            (std::vector<std::string>{
                "patches patching high update_to_baseline_generation hipaa:164.308(a)(5)(ii)(B)",
                "agent av_edr high restart_av_service hipaa:164.308(a)(5)(ii)(B),164.312(b)",
                "backups backup high run_backup_job "
                "hipaa:164.308(a)(7)(ii)(A),164.310(d)(2)(iv)",
                "logs logging high restart_logging_services "
                "hipaa:164.312(b),164.308(a)(1)(ii)(D)",
                "fw firewall critical restore_firewall_baseline "
                "hipaa:164.312(a)(1),164.312(e)(1)",
                "disks encryption critical enable_volume_encryption "
                "hipaa:164.312(a)(2)(iv),164.312(e)(2)(ii)",
                "sshd file high restore_file_baseline hipaa:164.312(c)(1);pci_dss:11.5.2",
            }));
}

// The default runbook fits the host's OS; a configured one wins.
TEST(LoadConfig, PatchingActionFollowsTheHostOs) {
  Config debian = LoadConfig(kGood + "patching_debian.yml");
  ASSERT_EQ(debian.checks.size(), 3u);
  EXPECT_EQ(debian.checks[0]->recommended_action, "apply_security_upgrades");
  EXPECT_EQ(debian.checks[1]->recommended_action, "update_to_baseline_generation");  // os: nixos
  EXPECT_EQ(debian.checks[2]->recommended_action, "page_platform_team");
  Config nixos = LoadConfig(kGood + "patching_nixos.yml");
  ASSERT_EQ(nixos.checks.size(), 1u);
  EXPECT_EQ(nixos.checks[0]->recommended_action, "update_to_baseline_generation");
}

TEST(LoadConfig, DisabledCheckNeedsNoPins) {
  Config config = LoadConfig(kGood + "disabled_unpinned.yml");
  ASSERT_EQ(config.checks.size(), 2u);
  EXPECT_TRUE(config.checks[0]->enabled);
  EXPECT_EQ(config.checks[1]->name, "agent");
  EXPECT_FALSE(config.checks[1]->enabled);
  EXPECT_TRUE(config.checks[1]->unpinned_keys.empty());
  EXPECT_TRUE(ConfigWarnings(config).empty());
}

// A host not captured yet loads: its unpinned checks are listed, and each run of one is an error
// saying how to pin it.
TEST(LoadConfig, UnpinnedChecksLoadAndSaySo) {
  Config config = LoadConfig(kGood + "unpinned.yml");
  ASSERT_EQ(config.checks.size(), 2u);
  EXPECT_EQ(config.checks[0]->unpinned_keys, (std::vector<std::string_view>{"binary_sha256"}));
  EXPECT_EQ(config.checks[1]->unpinned_keys, (std::vector<std::string_view>{"ruleset_sha256"}));
  EXPECT_TRUE(config.missing_baseline_file.empty());
  const std::string capture =
      "drift_exporter baseline capture --config.file=" + kGood + "unpinned.yml --out=<file>";
  EXPECT_EQ(CaptureCommand(config), capture);
  EXPECT_EQ(ConfigWarnings(config),
            (std::vector<std::string>{
                "check agent is not pinned (binary_sha256): it reports an error until a "
                "baseline capture pins it",
                "check fw is not pinned (ruleset_sha256): it reports an error until a baseline "
                "capture pins it",
                "to pin: `" + capture +
                    "` as root (or as the exporter's user when no firewall check needs "
                    "pinning), review the file, then reload"}));
}

TEST(LoadConfig, MissingBaselineFileIsAWarning) {
  Config config = LoadConfig(kGood + "baseline_missing_file.yml");
  ASSERT_EQ(config.checks.size(), 2u);
  EXPECT_EQ(config.missing_baseline_file, kGood + "baselines/does_not_exist.yml");
  // Only the configuration was read.
  ASSERT_EQ(config.files.size(), 1u);
  EXPECT_EQ(config.checks[0]->unpinned_keys, (std::vector<std::string_view>{"binary_sha256"}));
  EXPECT_TRUE(config.checks[1]->unpinned_keys.empty());
  EXPECT_EQ(ConfigWarnings(config),
            (std::vector<std::string>{
                "baseline file " + kGood + "baselines/does_not_exist.yml does not exist yet",
                "check agent is not pinned (binary_sha256): it reports an error until a "
                "baseline capture pins it",
                "to pin: `drift_exporter baseline capture --config.file=" + kGood +
                    "baseline_missing_file.yml --out=" + kGood +
                    "baselines/does_not_exist.yml` as root (or as the exporter's user when no "
                    "firewall check needs pinning), review the file, then reload"}));
}

TEST(ParseConfig, ReadsTextAsLoadConfigReadsTheFile) {
  const std::string path = kGood + "full.yml";  // names baseline.yml
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Config loaded = LoadConfig(path);
  Config parsed = ParseConfig(text, path);
  ASSERT_EQ(parsed.checks.size(), loaded.checks.size());
  for (std::size_t i = 0; i < parsed.checks.size(); ++i) {
    EXPECT_EQ(parsed.checks[i]->name, loaded.checks[i]->name);
    EXPECT_EQ(parsed.checks[i]->fingerprint, loaded.checks[i]->fingerprint);
  }
  ASSERT_EQ(parsed.files.size(), 2u) << "the baseline file it names is read";
  EXPECT_EQ(parsed.files[0].sha256, loaded.files[0].sha256);
  EXPECT_EQ(parsed.files[1].path, loaded.files[1].path);
  EXPECT_THROW(ParseConfig("checks: []\n", path), ConfigError);
}

}  // namespace
}  // namespace drift::exporter

namespace drift::exporter {
namespace {

std::string Fingerprint(std::string_view type, std::string_view params,
                        std::string_view baseline = "") {
  std::optional<ConfigNode> p;
  std::optional<ConfigNode> b;
  if (!params.empty()) p = ConfigNode::Parse(params, "params.yml");
  if (!baseline.empty()) b = ConfigNode::Parse(baseline, "baseline.yml");
  return CheckFingerprint(type, p, b);
}

TEST(CheckFingerprint, WhatTheCheckComparesNotHowItIsWritten) {
  const std::string fp = Fingerprint("file", "path: /etc/x\nmode: \"0644\"\nowners: [a, b]\n");
  EXPECT_EQ(fp.size(), 64u);
  EXPECT_EQ(Fingerprint("file", "# a comment\nowners:\n  - a\n  - b\nmode: '0644'\npath: /etc/x\n"),
            fp)
      << "key order, quoting, flow or block style and comments do not count";
  EXPECT_EQ(Fingerprint("file", "path: /etc/x\nowners: [a, b]\n", "mode: \"0644\"\n"), fp)
      << "a pin moved to the baseline file (baseline capture) is the same comparison";
  EXPECT_NE(Fingerprint("file", "path: /etc/x\nmode: \"0600\"\nowners: [a, b]\n"), fp);
  EXPECT_NE(Fingerprint("file", "path: /etc/x\nmode: \"0644\"\nowners: [b, a]\n"), fp)
      << "list order is kept";
  EXPECT_NE(Fingerprint("firewall", "path: /etc/x\nmode: \"0644\"\nowners: [a, b]\n"), fp);
  EXPECT_EQ(Fingerprint("firewall", ""), Fingerprint("firewall", "{}\n"))
      << "no params and empty params";
}

TEST(LoadConfig, FingerprintsCoverParamsAndPinsButNotMetadata) {
  Config full = LoadConfig(kGood + "full.yml");
  const CheckSpec& agent = *full.checks[1];
  EXPECT_EQ(agent.fingerprint,
            Fingerprint("av_edr", "service: clamav-daemon.service\nbinary: /usr/sbin/clamd\n",
                        "binary_sha256: "
                        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"));
  // Each check has its own, and a disabled one has one too.
  std::set<std::string> all;
  for (const auto& spec : full.checks) all.insert(spec->fingerprint);
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(all.count(""), 0u);
}

}  // namespace
}  // namespace drift::exporter
