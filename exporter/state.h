#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.h"
#include "exporter/config.h"

namespace drift::exporter {

// What a check's state says, in one word: on its page, in drift_checks{state}, in log lines,
// alert decisions and evidence records. Derived only by CheckState::Status().
enum class CheckStatus {
  kPending,    // no run has finished yet
  kCompliant,  // the latest run gave a verdict, and the check is not drifted
  kDrifted,    // the latest run gave a verdict, and the check is drifted (drift_threshold runs)
  kError,      // the latest run failed or timed out, or (on_scrape) was still running at the
               // scrape's deadline; the last known drift verdict stays in `drifted`
};

// Every status, in the order of their names: the order drift_checks{state} lists them.
inline constexpr CheckStatus kAllCheckStatuses[] = {CheckStatus::kCompliant, CheckStatus::kDrifted,
                                                    CheckStatus::kError, CheckStatus::kPending};

// "pending", "compliant", "drifted", "error".
std::string_view Name(CheckStatus status);

// What the exporter knows about one check after its latest run. Immutable once published.
struct CheckState {
  std::shared_ptr<const CheckSpec> spec;
  checks::CheckResult result;  // the latest run's result, error or not
  bool ran = false;            // at least one run has finished (in this process or, restored
                               // from the state file, in an earlier one: see `runs`)
  bool known = false;          // at least one run gave a verdict, so `drifted` means something
  bool success = false;        // the latest run gave a verdict (not an error or timeout)
  bool drifted = false;        // drifted for at least drift_threshold consecutive runs (implies
                               // `known`)
  int drift_streak = 0;        // consecutive drifted runs (errors neither count nor reset)
  checks::Severity severity = checks::Severity::kNone;  // of the current drift: read it through
                                                        // CurrentSeverity()
  WallTime drift_since{};  // when the current streak's first drifted run finished
  WallTime last_run{};     // when the latest run finished
  double duration_seconds = 0;
  std::uint64_t runs = 0;  // runs finished in this process: 0 for a state restored at start-up
  // Only in a snapshot an on_scrape scrape shows, never in what observers see: the scrape's
  // deadline passed while this check was still running or queued, and why (then `success` is
  // false there). The run's real result replaces it.
  std::string overdue;

  // The one place the status is derived from the fields above.
  CheckStatus Status() const;
  // The severity of the current drift; kNone while not drifted (a severity counts only then).
  checks::Severity CurrentSeverity() const { return drifted ? severity : checks::Severity::kNone; }
  // How long the check has been continuously drifted at `now` (drift_check_drift_age_seconds):
  // zero while not drifted, and never negative (the wall clock may step back).
  std::chrono::nanoseconds DriftAge(WallTime now) const;
};

// Folds one run's result into a check's state (pure: tested without threads or clocks).
// An error keeps the last known drift verdict, so a failing check never reads as compliant.
CheckState Advance(const CheckState& previous, checks::CheckResult result, WallTime finished,
                   double duration_seconds);

// The drift severity of a drifted result: the configured severity, else the highest of its causes
// (CauseSeverity).
checks::Severity DriftSeverity(const CheckSpec& spec, const checks::CheckResult& result);

// One cause's severity as the drift counts it: a configured severity replaces every cause's own,
// and a cause without its own takes the check's (the type's default).
checks::Severity CauseSeverity(const CheckSpec& spec, const checks::Finding& finding);

// Every enabled check's state, in configuration order. Published atomically by the scheduler;
// readers (HTTP handlers) never wait for a running check.
struct Snapshot {
  std::vector<std::shared_ptr<const CheckState>> checks;
  std::uint64_t version = 0;  // increases with every publication
};

}  // namespace drift::exporter
