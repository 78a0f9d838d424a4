#include "checks/params.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "checks/systemctl.h"
#include "common/fd.h"

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
  // No NUL can be here: ConfigNode::Parse refuses a value holding one.
  if (!path.starts_with('/')) {
    node.Fail(fmt::format("expected an absolute host path, got {:?}", path));
  }
  return std::filesystem::path(path).lexically_normal().string();
}

std::optional<Sha256Digest> FindPinnedSha256(const Params& params, std::string_view key) {
  std::optional<ConfigNode> node = params.Find(key);
  if (!node) return std::nullopt;
  return node->AsSha256();
}

BaselineListing ReadBaselineListing(const Params& params, std::string_view key,
                                    const std::optional<Sha256Digest>& pin, std::size_t max_bytes) {
  std::optional<ConfigNode> node = params.Find(key);
  std::string path = node ? node->AsPath().string() : std::string();
  if (!pin) return {std::nullopt, "no pin to explain"};
  if (!node) {
    return {std::nullopt,
            "no listing was kept with the pin; capture again with `drift_exporter baseline "
            "capture` to keep one"};
  }
  // As the configuration itself (common/config_node.cc): a FIFO or device must not block a load.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.open()) {
    return {std::nullopt,
            fmt::format("cannot read the kept listing {}: {}", path, std::strerror(errno))};
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return {std::nullopt, fmt::format("the kept listing {} is not a regular file; ignored", path)};
  }
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return {std::nullopt,
              fmt::format("cannot read the kept listing {}: {}", path, std::strerror(errno))};
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      return {std::nullopt,
              fmt::format("the kept listing {} is larger than {} bytes; ignored", path, max_bytes)};
    }
  }
  if (Sha256Digest hash = Sha256Of(text); hash != *pin) {
    return {std::nullopt, fmt::format("the kept listing {} has SHA-256 {}, not the pinned one; "
                                      "ignored (capture again to keep a matching one)",
                                      path, ToHex(hash))};
  }
  return {std::move(text), ""};
}

std::chrono::milliseconds FindDuration(const Params& params, std::string_view key,
                                       std::chrono::milliseconds fallback) {
  std::optional<ConfigNode> node = params.Find(key);
  return node ? node->AsDuration() : fallback;
}

}  // namespace drift::checks
