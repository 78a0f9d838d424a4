#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/config_node.h"

namespace drift::evidence {

// The `evidence:` section of the configuration. Default: disabled.
struct EvidenceConfig {
  bool enabled = false;
  std::string directory;        // the store
  std::string secret_key_file;  // our secret key format, mode 0400 (keys.h)
  std::chrono::milliseconds attestation_interval{std::chrono::hours(1)};
  // HIPAA 164.316(b)(2)(i): six years. "6y" counts 366 days a year, so that no retention ends
  // before its calendar years have passed.
  std::chrono::milliseconds retention{std::chrono::hours(24 * 366 * 6)};
  // Demo only: generate a key pair at start-up when the key file is missing (logged loudly).
  bool create_key_if_missing = false;
  std::size_t queue_capacity = 1024;
  std::string host;  // the host name in records; empty: gethostname()
};

// Reads `evidence:` strictly. Relative paths resolve against the configuration file's folder.
// Checks that the key file exists, is a regular file and is not accessible to group or others
// (unless create_key_if_missing and it does not exist yet); the daemon reads it at start-up.
// Throws ConfigError ("file:line:col: evidence.<key>: what was expected").
EvidenceConfig ReadEvidenceConfig(const ConfigNode& node);

// "6y" (366-day years), or a duration (common/duration.h) of at least a day.
Result<std::chrono::milliseconds> ParseRetention(std::string_view text);

}  // namespace drift::evidence
