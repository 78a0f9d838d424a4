// The strict configuration loader on arbitrary text: the whole file (exporter/config.h
// ParseConfig), then its `alerting:` and `evidence:` sections read on their own. The only
// exception allowed out is ConfigError; anything else (a yaml-cpp exception, std::out_of_range,
// a crash) is a finding.
#include <cstddef>
#include <cstdint>
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
  try {
    const drift::exporter::Config config = drift::exporter::ParseConfig(text, kPath);
    (void)drift::exporter::ConfigWarnings(config);
  } catch (const drift::ConfigError&) {
  }
  try {
    const drift::ConfigNode root = drift::ConfigNode::Parse(text, kPath);
    if (root.IsMap()) {
      if (auto alerting = root.Find("alerting")) (void)drift::alerts::ReadAlertingConfig(*alerting);
      if (auto evidence = root.Find("evidence"))
        (void)drift::evidence::ReadEvidenceConfig(*evidence);
    }
  } catch (const drift::ConfigError&) {
  }
  return 0;
}
