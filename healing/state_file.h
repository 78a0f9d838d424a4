#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "healing/healer.h"

namespace drift::healing {

// The healing state in a file (state_dir/healing.json), replaced atomically on every save
// (common/atomic_file.h: the old file or the new one survives a crash, never half of one), mode
// 0600. Thread-safe.
class FileStateStore final : public StateStore {
 public:
  explicit FileStateStore(std::string path) : path_(std::move(path)) {}
  // nullopt when the file does not exist; an error when it cannot be read or is larger than
  // 64 MiB.
  Result<std::optional<std::string>> Load() const override;
  Status Save(std::string_view text) override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace drift::healing
