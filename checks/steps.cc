#include "checks/steps.h"

#include <fmt/format.h>

#include <utility>

namespace drift::checks {

std::string NotPinnedReason(std::string_view key) {
  return fmt::format("{} is not pinned; pin it with `drift_exporter baseline capture`", key);
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
