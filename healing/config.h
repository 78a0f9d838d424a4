#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_node.h"
#include "healing/window.h"

namespace drift::healing {

// How much a runbook may do on its own.
enum class Tier {
  kAuto,      // runs when the alert arrives (inside its window when it needs one)
  kApproval,  // the drifted state is recorded, then it waits for an approver
  kManual,    // never runs: recorded and shown (enabling disk encryption)
};
std::string_view TierName(Tier tier);  // "auto", "approval", "manual"

// One command of a runbook: a fixed argv (argv[0] an absolute path; never a shell, never an
// alert's label) and how long it may take.
struct Step {
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout{60'000};

  bool operator==(const Step&) const = default;
};

struct Runbook {
  std::string name;  // the key under `runbooks:`, which checks name as recommended_action
  std::string description;
  Tier tier = Tier::kApproval;
  std::vector<Step> steps;     // run in order, stop at the first failure
  std::vector<Step> rollback;  // when a step failed or the check still drifts after the steps
  bool dry_run = false;        // record what would run, run nothing
  // Names of maintenance windows it may run in; empty: any time.
  std::vector<std::string> windows;
  // Drift causes it never acts on, whatever its tier: with one of them among the check's
  // findings the action is manual ("binary_hash_mismatch": a replaced antivirus binary needs a
  // person, not a restart).
  std::vector<std::string> manual_causes;

  bool operator==(const Runbook&) const = default;
};

// The `healing:` section. Absent = healing disabled (the webhook is not served).
struct HealingConfig {
  bool enabled = false;
  // Web config identities (basic-auth user names or client-certificate SANs) that may POST the
  // webhook, and that may approve or reject. Empty webhook_callers: any authenticated caller.
  std::vector<std::string> webhook_callers;
  std::vector<std::string> approvers;
  // Serve the webhook without a web config's authentication (a demo): logged at every start.
  bool allow_unauthenticated = false;
  // The `instance` label of alerts for this host; empty: alerting's instance, else the host name.
  std::string instance;
  bool dry_run = false;
  std::chrono::milliseconds cooldown{std::chrono::minutes(15)};
  int max_attempts = 3;  // per check within attempts_window
  std::chrono::milliseconds attempts_window{std::chrono::hours(24)};
  std::chrono::milliseconds approval_expiry{std::chrono::hours(4)};
  std::vector<MaintenanceWindow> maintenance_windows;
  std::size_t max_output_bytes = 64 << 10;  // kept per step and stream

  bool operator==(const HealingConfig&) const = default;
};

// Reads the `healing:` mapping strictly. Throws ConfigError ("file:line:col: healing.<key>: what").
HealingConfig ReadHealingConfig(const ConfigNode& node);

// SHA-256 (hex) of what a runbook does: tier, steps, rollback, windows, manual causes, dry run.
// Pure.
std::string RunbookDigest(const Runbook& runbook);

// Reads the `runbooks:` mapping (name -> runbook) strictly; `config` gives the window names a
// runbook may refer to. Throws ConfigError.
std::map<std::string, Runbook> ReadRunbooks(const ConfigNode& node, const HealingConfig& config);

}  // namespace drift::healing
