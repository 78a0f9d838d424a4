#pragma once

#include <string>
#include <string_view>

#include "checks/check.h"
#include "common/result.h"

// `encryption`: every required device-mapper volume must be an active LUKS volume. Reads the
// kernel's view first (/sys/block/dm-*/dm/{name,uuid}, readable without privilege; dm-crypt
// gives LUKS volumes a "CRYPT-LUKS1-"/"CRYPT-LUKS2-" uuid), and asks `cryptsetup status` (which
// needs root) only for volumes sysfs does not list.
namespace drift::checks::encryption {

extern const CheckType kType;

// Whether `name` can be a device-mapper name as the check accepts it: 1 to 127 characters of
// [A-Za-z0-9_.+-], not starting with '-' (it would read as an option) and not "." or "..".
bool IsValidVolumeName(std::string_view name);

// The volume type a dm uuid names: "LUKS2" for "CRYPT-LUKS2-...", "LUKS1", "PLAIN" for
// "CRYPT-PLAIN-...", other dm-crypt types likewise, "LVM" for "LVM-...", and for anything else
// the text before the first '-' (or "none" for an empty uuid).
std::string VolumeTypeFromDmUuid(std::string_view uuid);

struct CryptsetupStatus {
  bool active = false;
  std::string type;  // "LUKS2", "LUKS1", "PLAIN", "n/a", ...; empty when inactive
};

// Parses the standard output of `cryptsetup status <name>`:
//   /dev/mapper/cryptroot is active and is in use.
//     type:    LUKS2
//     cipher:  aes-xts-plain64
//     ...
// or "/dev/mapper/cryptroot is inactive." Anything else is an error. Pure; never throws.
Result<CryptsetupStatus> ParseCryptsetupStatus(std::string_view text);

}  // namespace drift::checks::encryption
