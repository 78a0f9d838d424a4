#include "healing/state_file.h"

#include "common/atomic_file.h"
#include "common/regular_file.h"

namespace drift::healing {

namespace {
constexpr std::size_t kMaxStateBytes = 64 << 20;
}  // namespace

Result<std::optional<std::string>> FileStateStore::Load() const {
  Result<std::string> text = ReadRegularFile(path_, kMaxStateBytes);
  if (!text.ok()) {
    if (IsNotFound(text.error())) return std::optional<std::string>();
    return text.error();
  }
  return std::optional<std::string>(std::move(*text));
}

Status FileStateStore::Save(std::string_view text) {
  AtomicWriteOptions options;
  options.mode = 0600;
  return WriteFileAtomically(path_, text, options);
}

}  // namespace drift::healing
