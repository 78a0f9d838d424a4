#include "checks/steps.h"

#include <fmt/format.h>

#include <cerrno>
#include <utility>

namespace drift::checks {

std::string NotPinnedReason(std::string_view key) {
  return fmt::format("{} not pinned: run `drift_exporter baseline capture`", key);
}

Error CaptureFailed(const Error& why, std::string_view what_to_do) {
  return Error{fmt::format("{}; {}", why.message, what_to_do), why.sys_errno};
}

std::string FileCaptureRemedy(int sys_errno, std::string_view if_missing) {
  switch (sys_errno) {
    case ENOENT:
      return std::string(if_missing);
    case EACCES:
    case EPERM:
      return "run the capture as a user who can read it (root, or the exporter's user)";
    case ELOOP:
      return "point the check at the file itself, or set follow_symlinks: true";
    default:
      return "fix that, then capture again";
  }
}

Status CheckServiceActive(const Host& host, std::string_view unit, Deadline deadline,
                          ServiceRecord record, Severity severity,
                          std::vector<Observation>& observations, std::vector<Finding>& findings) {
  Result<std::string> state = host.services.ActiveState(unit, deadline);
  if (!state.ok()) return Err("cannot read the state of {}: {}", unit, state.error().message);
  const bool by_unit = record == ServiceRecord::kByUnit;
  observations.push_back({by_unit ? std::string(unit) : "service_state", *state});
  if (*state != "active") {
    findings.push_back({"service_inactive", by_unit ? fmt::format("{}: {}", unit, *state) : *state,
                        "active", severity});
  }
  return {};
}

CheckResult ConcludeIncomplete(std::vector<Finding> findings, std::vector<Observation> observations,
                               std::string key, std::string error) {
  if (findings.empty()) return CheckResult::Error(std::move(error));
  observations.push_back({std::move(key), "unknown: " + error});
  return Conclude(std::move(findings), std::move(observations), {}, "");
}

}  // namespace drift::checks
