#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift {

// Parses a Prometheus-style duration: one or more <integer><unit> terms, units ms, s, m, h, d, w,
// in decreasing order ("1h30m", "500ms", "7d"). Zero and negative durations are rejected: every
// duration in the configuration is an interval or a timeout.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The inverse of ParseDuration, using the largest units that divide exactly ("90s" -> "1m30s").
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace drift
