#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.h"
#include "common/result.h"

// `patching`: is the host on its baseline patch level?
// - NixOS: the system profile's current generation must be the expected one and not older than
//   max_age. Read from the profile symlinks alone (system -> system-42-link), no command.
// - Debian and derivatives: apt lists fresh, no pending upgrades beyond the allowance (counted
//   with `apt-get --simulate`), and no reboot pending (/run/reboot-required).
namespace drift::checks::patching {

extern const CheckType kType;

enum class Os { kNixos, kDebian };

// The fields of /etc/os-release (os-release(5)) the check uses.
struct OsRelease {
  std::string id;       // "nixos", "debian", "ubuntu"; empty when absent
  std::string id_like;  // space-separated, e.g. "debian" on Ubuntu
};

// Parses os-release text: KEY=value lines, values optionally in single or double quotes with
// backslash escapes; comments and other keys are skipped. Pure; never fails.
OsRelease ParseOsRelease(std::string_view text);

// NixOS for ID=nixos; Debian for ID=debian or an ID_LIKE naming debian; otherwise an error.
Result<Os> DetectOs(const OsRelease& release);

// The generation a profile link points at: "system-42-link" for profile "system" is 42.
// Rejects other profiles' links, paths, signs, leading zeros, zero and overflow.
Result<std::int64_t> ParseGenerationLink(std::string_view target, std::string_view profile);

// Every generation named in a profile directory listing ("system-41-link", "system-42-link"),
// ascending; other names are skipped.
std::vector<std::int64_t> ParseGenerations(std::span<const std::string> names,
                                           std::string_view profile);

struct AptSimulation {
  std::int64_t upgrades = 0;           // "Inst " lines
  std::int64_t security_upgrades = 0;  // of those, from a -security suite
};

// Counts the packages `apt-get --simulate --quiet --quiet upgrade` would install, e.g.
//   Inst libssl3 [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])
// Other lines (Conf, apt's "NOTE: This is only a simulation!" for unprivileged users) are
// skipped; an "Inst" line without a package and candidate version is an error.
Result<AptSimulation> ParseAptSimulate(std::string_view text);

}  // namespace drift::checks::patching
