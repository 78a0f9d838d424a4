#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

// The baseline file as `baseline capture` writes it: read what a previous capture left, add the
// new pins, emit it again through yaml-cpp's emitter so that every value reads back the same.
namespace drift::exporter {

// One check's params in a baseline file, in file order: param -> value. A scalar tagged "!" was
// quoted and stays a string; an untagged one is written plain when YAML allows it.
using BaselineEntry = std::vector<std::pair<std::string, YAML::Node>>;
// The entries of a baseline file, in the order they are written.
using BaselineEntries = std::vector<std::pair<std::string, BaselineEntry>>;

// The value of a captured pin: a whole number stays plain (the loader reads a quoted "42" as a
// string where it wants an integer: expected_generation), anything else is a quoted string.
YAML::Node PinValue(std::string_view value);

// Sets `key` of `entry` to `value`, in place when the key is there, else at the end.
void SetParam(BaselineEntry& entry, std::string_view key, YAML::Node value);

// The entries of the baseline file at `path` by check name, or none when it does not exist:
// capture merges into it rather than lose pins it cannot capture again. An error when the file
// is not YAML or not shaped as a baseline file. Does not throw.
Result<std::map<std::string, BaselineEntry>> ReadBaselineEntries(const std::string& path);

// The text of a baseline file: `header` (comment lines, each ending in "\n") and then
// `checks:` with one block mapping per entry. Quoted values are written double-quoted, lists
// and mappings in flow style. Does not throw.
std::string EmitBaseline(std::string_view header, const BaselineEntries& entries);

}  // namespace drift::exporter
