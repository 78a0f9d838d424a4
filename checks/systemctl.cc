#include "checks/systemctl.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "checks/steps.h"
#include "common/strings.h"

namespace drift::checks {
namespace {

constexpr std::chrono::milliseconds kTimeout{10'000};
// A state is one short word; anything longer is not an answer worth keeping.
constexpr std::size_t kMaxOutputBytes = 64 * 1024;

// systemd's ActiveState values.
constexpr std::array<std::string_view, 8> kStates = {
    "active",     "reloading",    "inactive",    "failed",
    "activating", "deactivating", "maintenance", "refreshing",
};

bool IsUnitNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' ||
         c == '_' || c == '.' || c == '\\' || c == '@' || c == '-';
}

}  // namespace

bool IsValidUnitName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  if (name.front() == '-' || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), IsUnitNameChar);
}

Result<std::string> SystemctlServiceManager::ActiveState(std::string_view unit,
                                                         Deadline deadline) const {
  if (!IsValidUnitName(unit)) return Err("systemctl is-active {:?}: invalid unit name", unit);
  Command command;
  command.argv = {"systemctl", "is-active", "--", std::string(unit)};
  command.timeout = kTimeout;
  command.max_output_bytes = kMaxOutputBytes;
  // is-active exits non-zero for every state but active, so only what it printed counts.
  const std::string name = fmt::format("systemctl is-active {}", unit);
  Result<CommandOutput> ran = RunChecked(commands_, command, deadline,
                                         {.name = name, .any_exit_status = true, .systemd = true});
  if (!ran) return ran.error();
  const CommandOutput& output = *ran;
  const std::string_view out = output.out;
  const std::string_view state = Trim(out.substr(0, out.find('\n')));
  if (std::find(kStates.begin(), kStates.end(), state) != kStates.end()) {
    // For a unit without a unit file (LoadState=not-found) systemctl prints "inactive" and
    // exits with LSB's 4, "program or service status is unknown".
    if (state == "inactive" && output.exit_code == 4) return std::string(kUnitNotFound);
    return std::string(state);
  }
  // What older systemctl versions, and other verbs, print for such a unit.
  if (output.err.find(fmt::format("Unit {} could not be found", unit)) != std::string::npos) {
    return std::string(kUnitNotFound);
  }
  if (!Trim(out).empty()) {
    return Err("{} printed no unit state but: {}", name, OneLine(out, kMaxStderrInReason));
  }
  if (output.exit_code != 0) return Error{ExitStatusReason(name, output)};
  return Err("{} printed nothing", name);
}

}  // namespace drift::checks
