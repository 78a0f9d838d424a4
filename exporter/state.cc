#include "exporter/state.h"

#include <algorithm>

namespace drift::exporter {

std::string_view Name(CheckStatus status) {
  switch (status) {
    case CheckStatus::kPending:
      return "pending";
    case CheckStatus::kCompliant:
      return "compliant";
    case CheckStatus::kDrifted:
      return "drifted";
    case CheckStatus::kError:
      return "error";
  }
  return "error";
}

CheckStatus CheckState::Status() const {
  // An overdue check (on_scrape: still running at the scrape's deadline) failed that scrape,
  // even before its first run.
  if (!overdue.empty()) return CheckStatus::kError;
  if (!ran) return CheckStatus::kPending;
  if (!success) return CheckStatus::kError;
  return drifted ? CheckStatus::kDrifted : CheckStatus::kCompliant;
}

std::chrono::nanoseconds CheckState::DriftAge(WallTime now) const {
  if (!drifted) return std::chrono::nanoseconds(0);
  return std::max(std::chrono::nanoseconds(0),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(now - drift_since));
}

checks::Severity CauseSeverity(const CheckSpec& spec, const checks::Finding& finding) {
  if (spec.severity_configured || finding.severity == checks::Severity::kNone) {
    return spec.severity;
  }
  return finding.severity;
}

checks::Severity DriftSeverity(const CheckSpec& spec, const checks::CheckResult& result) {
  if (spec.severity_configured) return spec.severity;
  checks::Severity highest = checks::Severity::kNone;
  for (const checks::Finding& f : result.findings) {
    highest = std::max(highest, CauseSeverity(spec, f));
  }
  return highest == checks::Severity::kNone ? spec.severity : highest;
}

CheckState Advance(const CheckState& previous, checks::CheckResult result, WallTime finished,
                   double duration_seconds) {
  CheckState next = previous;
  next.ran = true;
  next.runs = previous.runs + 1;
  next.last_run = finished;
  next.duration_seconds = duration_seconds;
  switch (result.verdict) {
    case checks::Verdict::kCompliant:
      next.known = true;
      next.success = true;
      next.drift_streak = 0;
      next.drifted = false;
      next.severity = checks::Severity::kNone;
      next.drift_since = {};
      break;
    case checks::Verdict::kDrifted:
      next.known = true;
      next.success = true;
      if (previous.drift_streak == 0) next.drift_since = finished;
      next.drift_streak = previous.drift_streak + 1;
      next.drifted = next.drift_streak >= next.spec->drift_threshold;
      next.severity = next.drifted ? DriftSeverity(*next.spec, result) : checks::Severity::kNone;
      break;
    case checks::Verdict::kError:
      next.success = false;
      break;
  }
  next.result = std::move(result);
  return next;
}

}  // namespace drift::exporter
