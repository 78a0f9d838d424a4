#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/config.h"
#include "checks/check.h"
#include "common/config_node.h"
#include "common/sha256.h"
#include "evidence/config.h"
#include "healing/config.h"

namespace drift::exporter {

struct Control {
  std::string framework;  // "hipaa", "soc2", "pci_dss", "nist_800_53", ...
  std::string id;         // "164.312(a)(1)", "CC7.1", ...
};

// One configured check with its metadata. Immutable once loaded; shared by the scheduler's runs.
struct CheckSpec {
  std::string name;
  const checks::CheckType* type = nullptr;
  std::shared_ptr<const checks::Check> check;
  checks::Severity severity = checks::Severity::kHigh;  // configured, or the type's default
  bool severity_configured = false;  // a configured severity overrides every drift cause's own
  std::vector<Control> controls;
  std::string controls_label;  // "hipaa:164.312(a)(1),164.312(e)(1);soc2:CC7.1"
  // Configured, else the check's for this host (patching: by OS), else the type's default.
  std::string recommended_action;
  bool enabled = true;
  int drift_threshold = 1;  // consecutive drifted runs before the check counts as drifted
  std::chrono::milliseconds timeout{30'000};
  // What the check compares: SHA-256 (hex) of its type and its params with the baseline file's
  // pins, as canonical JSON (CheckFingerprint). A restart restores the check's state from the
  // state file only while this is unchanged. Metadata (severity, controls, timeout...) is not in
  // it.
  std::string fingerprint;
  // Pinned keys (CheckType::pinned_keys) this enabled check has no value for: it loads, and every
  // run reports an error until `baseline capture` pins them.
  std::vector<std::string_view> unpinned_keys;
};

enum class ScheduleMode { kInterval, kOnScrape };

struct SchedulerSettings {
  ScheduleMode mode = ScheduleMode::kInterval;
  std::chrono::milliseconds interval{60'000};      // interval mode: how often every check runs
  std::chrono::milliseconds min_interval{15'000};  // on_scrape mode: at most one run per this
  int concurrency = 4;                             // checks running at once
};

struct HostSettings {
  std::string root = "/";
  std::vector<std::string> command_path;
};

// A file the configuration was read from, for the record of what was loaded.
struct SourceFile {
  std::string path;
  Sha256Digest sha256{};
};

struct Config {
  HostSettings host;
  SchedulerSettings scheduler;
  // In file order, disabled ones included. Shared with the scheduler's plan and the modules.
  std::vector<std::shared_ptr<const CheckSpec>> checks;
  std::vector<SourceFile> files;  // the config file, then the baseline file if any
  // `baseline_file:`, resolved against the config file's folder; empty when absent.
  std::string baseline_file;
  // `baseline_file` when it names a file that does not exist yet (a host not captured yet), else
  // empty. Not an error: the checks that need its pins report an error instead.
  std::string missing_baseline_file;
  // `alerting:`; disabled when absent.
  alerts::AlertingConfig alerting;
  // `evidence:`; disabled when absent.
  evidence::EvidenceConfig evidence;
  // `healing:`; disabled when absent. Needs `evidence:` (every action is recorded).
  healing::HealingConfig healing;
  // `runbooks:`, by name; what checks' recommended_action names.
  std::map<std::string, healing::Runbook> runbooks;
  // `state_dir:`, resolved against the config file's folder; empty when absent (then the
  // daemon uses $STATE_DIRECTORY, else keeps no state across restarts: exporter/state_file.h).
  std::string state_dir;
};

// Reads and validates the whole configuration (and the baseline file it names). Relative paths
// resolve against the folder of the file they appear in. Reads the checked host's files only for
// host-dependent defaults (the patching type's OS, for its recommended_action). Throws ConfigError
// ("file:line:col: key: what was expected") on the first problem. A baseline file that does not
// exist and pins that are absent are not problems (see ConfigWarnings); a pin that is present
// but malformed is.
Config LoadConfig(const std::string& path);
// LoadConfig of `text` as if read from `path` (files it names resolve against path's folder).
// Reads no configuration file but the baseline file the text names.
Config ParseConfig(std::string_view text, const std::string& path);

// What a loaded configuration lacks without being invalid, one sentence each, for the log and
// `--config.check`: a missing baseline file, enabled checks that are not pinned, and then how to
// pin them (CaptureCommand).
std::vector<std::string> ConfigWarnings(const Config& config);

// The command that writes the pins this configuration lacks into its baseline file:
// `drift_exporter baseline capture --config.file=<the config file> --out=<baseline_file>`, with
// "<file>" for --out when the configuration names no baseline file.
std::string CaptureCommand(const Config& config);

// CheckSpec::fingerprint: SHA-256 (hex) of {"params": <params and baseline pins merged>,
// "type": type} as canonical JSON (keys sorted, scalars as their text). Reads every key of the
// nodes: call only after the document's Finish(). Pure.
std::string CheckFingerprint(std::string_view type, const std::optional<ConfigNode>& params,
                             const std::optional<ConfigNode>& baseline);

// The default search path for programs checks run.
std::vector<std::string> DefaultCommandPath();

}  // namespace drift::exporter
