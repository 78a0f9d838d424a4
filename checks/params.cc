#include "checks/params.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>
#include <utility>

#include "checks/systemctl.h"

namespace drift::checks {

std::string ReadUnitName(const ConfigNode& node) {
  std::string name = node.AsString();
  if (!IsValidUnitName(name)) {
    node.Fail(
        fmt::format("expected a systemd unit name like nftables.service (letters, digits and "
                    ":_.\\@-, not starting with '-' or '.'), got {:?}",
                    name));
  }
  return name;
}

std::vector<std::string> ReadUnitNames(const ConfigNode& node) {
  std::vector<ConfigNode> items = node.Items();
  if (items.empty()) node.Fail("expected a non-empty list of systemd unit names");
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const ConfigNode& item : items) {
    std::string name = ReadUnitName(item);
    if (!seen.insert(name).second) item.Fail("duplicate unit; list each unit once");
    names.push_back(std::move(name));
  }
  return names;
}

std::string ReadHostPath(const ConfigNode& node) {
  std::string path = node.AsString();
  if (path.find('\0') != std::string::npos || !path.starts_with('/')) {
    node.Fail(fmt::format("expected an absolute host path, got {:?}", path));
  }
  return std::filesystem::path(path).lexically_normal().string();
}

std::optional<Sha256Digest> FindPinnedSha256(const Params& params, std::string_view key) {
  std::optional<ConfigNode> node = params.Find(key);
  if (!node) return std::nullopt;
  return node->AsSha256();
}

}  // namespace drift::checks
