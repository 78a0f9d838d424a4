#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.h"
#include "common/config_node.h"
#include "common/sha256.h"

// Readers for parameter values that several check types share, so that every type validates a
// unit name or a host path the same way and says the same thing when it is wrong. All of them
// run at configuration load only and throw ConfigError positioned at the offending node.
namespace drift::checks {

// A systemd unit name as IsValidUnitName (checks/systemctl.h) defines it: 1 to 255 characters
// from [A-Za-z0-9:_.\@-], not starting with '-' (it would read as an option) or '.'.
std::string ReadUnitName(const ConfigNode& node);

// A non-empty list of distinct systemd unit names, each as ReadUnitName.
std::vector<std::string> ReadUnitNames(const ConfigNode& node);

// An absolute path on the checked host, lexically normalised ("/usr//sbin/./x" -> "/usr/sbin/x").
// Unlike ConfigNode::AsPath it is never resolved against the configuration file's folder: it
// names a file on the host, which the FileSystem may serve from another root.
std::string ReadHostPath(const ConfigNode& node);

// The SHA-256 that pinned key `key` (see CheckType::pinned_keys) holds, or nullopt when it is not
// set: the check then loads unpinned and its Run() reports NotPinnedReason (checks/steps.h). A
// value that is not a SHA-256 throws ConfigError.
std::optional<Sha256Digest> FindPinnedSha256(const Params& params, std::string_view key);

// The duration `key` holds (ConfigNode::AsDuration), or `fallback` when it is not set.
std::chrono::milliseconds FindDuration(const Params& params, std::string_view key,
                                       std::chrono::milliseconds fallback);

// The listing that `baseline capture` kept beside the baseline for a pinned hash (ListingKey in
// checks/check.h), read at load time.
struct BaselineListing {
  std::optional<std::string> text;  // the listing, when it was kept and its SHA-256 is the pin
  std::string note;                 // otherwise why there is none, for the check's observations
};

// Reads the file that listing key `key` names (a path relative to the file it is set in), if
// `pin` is set. Throws ConfigError only when `key` is not a string: a listing explains a pin and
// is not one, so a file that is missing, unreadable, larger than `max_bytes` or whose SHA-256 is
// not `pin` (it would explain another baseline) gives a note instead of text.
BaselineListing ReadBaselineListing(const Params& params, std::string_view key,
                                    const std::optional<Sha256Digest>& pin, std::size_t max_bytes);

}  // namespace drift::checks
