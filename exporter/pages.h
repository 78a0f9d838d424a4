#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "exporter/state.h"

namespace drift::exporter {

// The landing page: every check with its state, severity, drift age, reason and controls.
std::string RenderLandingPage(const Snapshot& snapshot, WallTime now, bool ready);

// A check's page: latest result with every finding and observation. nullopt if no such check.
std::optional<std::string> RenderCheckPage(const Snapshot& snapshot, std::string_view name,
                                           WallTime now);

// The state word shown for a check: pending, compliant, drifted, error.
std::string_view StateWord(const CheckState& state);

std::string HtmlEscape(std::string_view text);

}  // namespace drift::exporter
