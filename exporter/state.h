#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks/check.h"
#include "exporter/config.h"

namespace drift::exporter {

// What the exporter knows about one check after its latest run. Immutable once published.
struct CheckState {
  std::shared_ptr<const CheckSpec> spec;
  checks::CheckResult result;  // the latest run's result, error or not
  bool ran = false;            // at least one run has finished (in this process or, restored
                               // from the state file, in an earlier one: see `runs`)
  bool known = false;          // at least one run gave a verdict, so `drifted` means something
  bool success = false;        // the latest run gave a verdict (not an error or timeout)
  bool drifted = false;        // drifted for at least drift_threshold consecutive runs
  int drift_streak = 0;        // consecutive drifted runs (errors neither count nor reset)
  checks::Severity severity = checks::Severity::kNone;  // of the current drift
  WallTime drift_since{};  // when the current streak's first drifted run finished
  WallTime last_run{};     // when the latest run finished
  double duration_seconds = 0;
  std::uint64_t runs = 0;  // runs finished in this process: 0 for a state restored at start-up
  // Only in a snapshot an on_scrape scrape shows, never in what observers see: the scrape's
  // deadline passed while this check was still running or queued, and why (then `success` is
  // false there). The run's real result replaces it.
  std::string overdue;
};

// Folds one run's result into a check's state (pure: tested without threads or clocks).
// An error keeps the last known drift verdict, so a failing check never reads as compliant.
CheckState Advance(const CheckState& previous, checks::CheckResult result, WallTime finished,
                   double duration_seconds);

// The drift severity of a drifted result: the configured severity, else the highest of its causes
// (a cause without its own severity takes the type's default).
checks::Severity DriftSeverity(const CheckSpec& spec, const checks::CheckResult& result);

// Every enabled check's state, in configuration order. Published atomically by the scheduler;
// readers (HTTP handlers) never wait for a running check.
struct Snapshot {
  std::vector<std::shared_ptr<const CheckState>> checks;
  std::uint64_t version = 0;  // increases with every publication
};

}  // namespace drift::exporter
