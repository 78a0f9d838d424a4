#include "checks/check.h"

#include <fmt/format.h>

#include "checks/steps.h"
#include "common/strings.h"

namespace drift::checks {

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kCompliant:
      return "compliant";
    case Verdict::kDrifted:
      return "drifted";
    case Verdict::kError:
      return "error";
  }
  return "error";
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kNone:
      return "none";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "none";
}

Result<Severity> ParseSeverity(std::string_view name) {
  for (Severity s : {Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (SeverityName(s) == name) return s;
  }
  return Err("expected one of low, medium, high, critical, got {:?}", name);
}

CheckResult CheckResult::Error(std::string reason) {
  CheckResult r;
  r.verdict = Verdict::kError;
  r.reason = OneLine(reason, kMaxReasonBytes);
  return r;
}

CheckResult Conclude(std::vector<Finding> findings, std::vector<Observation> observations,
                     std::vector<MeasureValue> measures, std::string compliant_reason) {
  CheckResult r;
  r.observations = std::move(observations);
  r.measures = std::move(measures);
  if (findings.empty()) {
    r.verdict = Verdict::kCompliant;
    r.reason = OneLine(compliant_reason, kMaxReasonBytes);
    return r;
  }
  r.verdict = Verdict::kDrifted;
  std::string reason;
  for (const Finding& f : findings) {
    if (!reason.empty()) reason += "; ";
    reason += fmt::format("{}: observed {}, expected {}", f.cause, f.observed, f.expected);
  }
  r.reason = OneLine(reason, kMaxReasonBytes);
  r.findings = std::move(findings);
  return r;
}

Result<std::vector<Observation>> Check::Capture(const Host&, Deadline) const {
  return std::vector<Observation>{};
}

std::string_view Check::HostDefaultAction(const FileSystem&) const { return {}; }

Params::Params(const ConfigNode& check, std::optional<ConfigNode> params,
               std::optional<ConfigNode> baseline)
    : check_(check), params_(std::move(params)), baseline_(std::move(baseline)) {}

std::optional<ConfigNode> Params::Find(std::string_view key) const {
  std::optional<ConfigNode> from_params = params_ ? params_->Find(key) : std::nullopt;
  std::optional<ConfigNode> from_baseline = baseline_ ? baseline_->Find(key) : std::nullopt;
  if (from_params && from_baseline) {
    from_baseline->Fail(fmt::format("also set in {} at line {}; set it in one place",
                                    from_params->file(), from_params->line()));
  }
  return from_params ? from_params : from_baseline;
}

ConfigNode Params::Child(std::string_view key) const {
  std::optional<ConfigNode> c = Find(key);
  if (c) return *c;
  const ConfigNode& at = params_ ? *params_ : check_;
  std::string path = fmt::format("{}.params.{}", check_.path(), key);
  throw ConfigError(at.file(), at.line(), at.column(), path, "required key missing");
}

void Params::Fail(std::string_view what) const {
  if (params_) params_->Fail(what);
  throw ConfigError(check_.file(), check_.line(), check_.column(), check_.path() + ".params",
                    std::string(what));
}

}  // namespace drift::checks
