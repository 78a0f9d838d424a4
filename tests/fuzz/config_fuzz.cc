// The strict configuration loader on arbitrary text: the whole file (exporter/config.h
// ParseConfig), and when that fails, its `alerting:` and `evidence:` sections read on their own.
// The only exception allowed out is ConfigError; anything else (a yaml-cpp exception,
// std::out_of_range, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alerts/config.h"
#include "common/config_node.h"
#include "evidence/config.h"
#include "exporter/config.h"

namespace {

// In a folder that does not exist: files named relative to the configuration (baseline, keys,
// secrets) are missing, never whatever the machine holds.
const std::string kPath = "/nonexistent/drift-fuzz/drift.yml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // ParseConfig is the whole-file reader over ConfigNode::Parse: text that does not parse fails
  // both alike (most inputs), so it is parsed once here and goes no further.
  std::optional<drift::ConfigNode> root;
  try {
    root.emplace(drift::ConfigNode::Parse(text, kPath));
  } catch (const drift::ConfigError&) {
    return 0;
  }
  try {
    const drift::exporter::Config config = drift::exporter::ParseConfig(text, kPath);
    (void)drift::exporter::ConfigWarnings(config);
    return 0;  // it read the alerting: and evidence: sections of these very nodes
  } catch (const drift::ConfigError&) {
  }
  // The whole file failed, perhaps before its `alerting:` or `evidence:` section: each is read
  // on its own too, so that an error elsewhere does not keep them from being fuzzed.
  if (!root->IsMap()) return 0;
  try {
    if (auto alerting = root->Find("alerting")) (void)drift::alerts::ReadAlertingConfig(*alerting);
  } catch (const drift::ConfigError&) {
  }
  try {
    if (auto evidence = root->Find("evidence"))
      (void)drift::evidence::ReadEvidenceConfig(*evidence);
  } catch (const drift::ConfigError&) {
  }
  return 0;
}
