#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "checks/check.h"

// logging: the logging services are active and the journal really records: every run writes a
// canary line and expects to read a canary of this check back within the window.
namespace drift::checks::logging {

extern const CheckType kType;

// A parsed canary line: "drift_exporter canary check=<instance> nonce=<nonce>", where instance
// is 8 and nonce 16 lower-case hex digits.
struct CanaryLine {
  std::string instance;
  std::string nonce;

  bool operator==(const CanaryLine&) const = default;
};

// The canary line for `instance` and `nonce`, exactly as the check writes it.
std::string FormatCanaryLine(std::string_view instance, std::string_view nonce);

// The canary in `line`, or nullopt when the line is anything else (other messages of the same
// syslog identifier are not errors, just not canaries).
std::optional<CanaryLine> ParseCanaryLine(std::string_view line);

}  // namespace drift::checks::logging
