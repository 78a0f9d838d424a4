#pragma once

#include <string>

#include "checks/host.h"

namespace drift::checks {

// Serves host paths from a directory: "/" in production, a fixture tree in tests, a mounted host
// filesystem in a container (like node_exporter's --path.rootfs). Paths resolve with openat2's
// RESOLVE_IN_ROOT, so absolute symlinks inside the tree (e.g. NixOS profile links) stay inside it
// and ".." cannot climb out. Thread-safe: holds only an O_PATH descriptor of the root.
class RootedFileSystem final : public FileSystem {
 public:
  // Throws std::runtime_error if `root` cannot be opened as a directory (start-up only).
  explicit RootedFileSystem(std::string root);
  ~RootedFileSystem() override;
  RootedFileSystem(const RootedFileSystem&) = delete;
  RootedFileSystem& operator=(const RootedFileSystem&) = delete;

  const std::string& root() const { return root_; }

  Result<std::string> ReadFile(std::string_view path, std::size_t max_bytes) const override;
  Result<FileStat> Stat(std::string_view path) const override;
  Result<std::vector<std::string>> ListDir(std::string_view path) const override;
  Result<std::string> ReadLink(std::string_view path) const override;
  Result<Sha256Digest> HashFile(std::string_view path, bool no_follow,
                                Deadline deadline) const override;

 private:
  // Opens `path` below the root; `flags` as for open(2). Returns the descriptor or an error
  // naming the host path.
  Result<int> Open(std::string_view path, int flags, bool follow_last) const;

  std::string root_;
  int root_fd_ = -1;
};

}  // namespace drift::checks
