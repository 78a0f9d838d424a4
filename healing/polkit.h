#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "healing/config.h"

namespace drift::healing {

// The polkit rule (JavaScript, polkit >= 0.106) that lets `user` run exactly the systemctl
// unit actions of `runbooks`' steps and rollbacks, and nothing else: the hardened unit's
// NoNewPrivileges rules out sudo, while systemctl asks systemd over D-Bus, which asks polkit
// with the unit and the verb (details "unit" and "verb" of org.freedesktop.systemd1.manage-units).
struct PolkitRule {
  std::string text;
  // unit -> polkit verbs ("restart", "reload", "reload-or-try-restart" ...), as the rule allows.
  std::map<std::string, std::vector<std::string>> allowed;
  // Steps that are no systemctl unit action, one sentence each: polkit cannot authorise them,
  // so they run with the exporter's own privileges.
  std::vector<std::string> uncovered;
};

// Builds the rule; `source` (the configuration file) is named in its header comment. Error: a
// user name that is not a plain system user name. Pure.
Result<PolkitRule> MakePolkitRule(const std::map<std::string, Runbook>& runbooks,
                                  std::string_view user, std::string_view source);

}  // namespace drift::healing
