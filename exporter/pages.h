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

// Something the pages say about a check, with the command that acts on it: healing's actions
// awaiting approval, the checks waiting for a baseline capture. Plain text; the pages escape it.
struct PageNote {
  std::string section;  // the heading the note is listed under: "Healing"
  std::string check;
  std::string title;  // "Awaiting approval"
  std::string text;
  std::string command;  // shown as code, for copying; may be empty
};

// The landing page: the host, when the last run finished, every check with its state, severity,
// drift age, reason, controls and last run, then the modules' notes.
std::string RenderLandingPage(const Snapshot& snapshot, WallTime now, bool ready,
                              const PageHost& host, const std::vector<PageNote>& notes = {});

// A check's page: latest result with every finding and observation, its severity and recommended
// action explained, and the modules' notes about it. nullopt if no such check.
std::optional<std::string> RenderCheckPage(const Snapshot& snapshot, std::string_view name,
                                           WallTime now, const std::vector<PageNote>& notes = {});

std::string HtmlEscape(std::string_view text);

// What a runbook named as a recommended_action does, for the runbooks the check types name by
// default (docs/configuration.md, "Recommended actions"); empty for any other name.
std::string_view ActionDescription(std::string_view action);

}  // namespace drift::exporter
