#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "exporter/state.h"

namespace drift::exporter {

// What the landing page says about where the exporter runs.
struct PageHost {
  std::string hostname;    // the exporter's host name
  std::string root = "/";  // host.root: the checked host's files; shown when it is not "/"
};

// The landing page: the host, when the last run finished, and every check with its state,
// severity, drift age, reason, controls and last run.
std::string RenderLandingPage(const Snapshot& snapshot, WallTime now, bool ready,
                              const PageHost& host);

// A check's page: latest result with every finding and observation, its severity and recommended
// action explained. nullopt if no such check.
std::optional<std::string> RenderCheckPage(const Snapshot& snapshot, std::string_view name,
                                           WallTime now);

std::string HtmlEscape(std::string_view text);

// What a runbook named as a recommended_action does, for the runbooks the check types name by
// default (docs/configuration.md, "Recommended actions"); empty for any other name.
std::string_view ActionDescription(std::string_view action);

}  // namespace drift::exporter
