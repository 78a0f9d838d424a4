#pragma once

#include <string>
#include <string_view>

#include "checks/host.h"

namespace drift::checks {

// Whether `name` is a systemd unit name: 1 to 255 characters out of [A-Za-z0-9:_.\@-], not
// starting with '-' or '.'. The unit type suffix is not checked. Pure; thread-safe.
bool IsValidUnitName(std::string_view name);

// Asks systemctl for a unit's ActiveState (`systemctl is-active -- <unit>`, 10 s at most).
// Thread-safe as the runner is; `commands` is not owned and must outlive this object.
class SystemctlServiceManager final : public ServiceManager {
 public:
  explicit SystemctlServiceManager(const CommandRunner& commands) : commands_(commands) {}

  // The state systemctl printed (active, reloading, inactive, failed, activating, deactivating,
  // maintenance, refreshing), or kUnitNotFound for a unit without a unit file. Anything else is
  // an error: "systemd is not running here (container?)" when systemctl says so, the runner's
  // "systemctl is not installed (...)", else "systemctl is-active <unit>: <why>" for an invalid
  // unit name, no answer, a timeout... Errors are one line. Never throws.
  Result<std::string> ActiveState(std::string_view unit, Deadline deadline) const override;

 private:
  const CommandRunner& commands_;
};

}  // namespace drift::checks
