#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace drift {

// Parses an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), with 't' and
// 'z' accepted in lower case as the RFC allows. Rejects out-of-range fields (month 13, April 31,
// hour 24), leap seconds (:60, which the system clock cannot represent), trailing characters, and
// instants outside what WallTime can hold. Digits of the fraction beyond the clock's resolution
// are truncated. Pure; thread-safe; never throws.
Result<WallTime> ParseRfc3339(std::string_view text);

// Formats `t` in UTC with a "Z" suffix, e.g. "2024-03-01T12:00:05Z"; milliseconds are shown only
// when non-zero ("2024-03-01T12:00:05.250Z"), finer digits are dropped (rounded down).
std::string FormatRfc3339(WallTime t);

}  // namespace drift
