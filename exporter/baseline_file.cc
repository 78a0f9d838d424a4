#include "exporter/baseline_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace drift::exporter {
namespace {

// Emits `node` as it was read: a quoted scalar stays quoted (so "0640" or "42" stays a string),
// a plain one is plain where YAML allows, collections in flow style.
void EmitValue(YAML::Emitter& out, const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") out << YAML::DoubleQuoted;
      out << node.Scalar();
      break;
    case YAML::NodeType::Sequence:
      out << YAML::Flow << YAML::BeginSeq;
      for (const YAML::Node& item : node) EmitValue(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Map:
      out << YAML::Flow << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key;
        EmitValue(out, kv.first);
        out << YAML::Value;
        EmitValue(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

}  // namespace

YAML::Node PinValue(std::string_view value) {
  const bool integer =
      !value.empty() && value.size() <= 18 && value.front() != '0' &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  YAML::Node node{std::string(value)};
  if (!integer) node.SetTag("!");
  return node;
}

void SetParam(BaselineEntry& entry, std::string_view key, YAML::Node value) {
  auto same = [&](const auto& kv) { return kv.first == key; };
  if (auto it = std::find_if(entry.begin(), entry.end(), same); it != entry.end()) {
    it->second = std::move(value);
  } else {
    entry.emplace_back(std::string(key), std::move(value));
  }
}

Result<std::map<std::string, BaselineEntry>> ReadBaselineEntries(const std::string& path) {
  std::map<std::string, BaselineEntry> entries;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return entries;
  try {
    YAML::Node root = YAML::LoadFile(path);
    YAML::Node checks = root.IsMap() ? root["checks"] : YAML::Node();
    if (!checks.IsDefined() || checks.IsNull()) return entries;
    if (!checks.IsMap()) return Err("{}: `checks` is not a mapping", path);
    for (const auto& check : checks) {
      BaselineEntry& entry = entries[check.first.as<std::string>()];
      if (check.second.IsNull()) continue;
      if (!check.second.IsMap()) {
        return Err("{}: checks.{} is not a mapping", path, check.first.as<std::string>());
      }
      for (const auto& kv : check.second) {
        entry.emplace_back(kv.first.as<std::string>(), YAML::Clone(kv.second));
      }
    }
  } catch (const YAML::Exception& e) {
    return Err("{}: {}", path, e.what());
  }
  return entries;
}

std::string EmitBaseline(std::string_view header, const BaselineEntries& entries) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "checks" << YAML::Value;
  if (entries.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  } else {
    out << YAML::BeginMap;
    for (const auto& [name, params] : entries) {
      out << YAML::Key << name << YAML::Value << YAML::BeginMap;
      for (const auto& [key, value] : params) {
        out << YAML::Key << key << YAML::Value;
        EmitValue(out, value);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return fmt::format("{}{}\n", header, out.c_str());
}

}  // namespace drift::exporter
