#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift {

struct AtomicWriteOptions {
  // The new file's mode, set exactly whatever the umask. Unset: the mode of the file it
  // replaces, else 0644.
  std::optional<mode_t> mode;
  // false: never replace; a `path` that exists is an error with sys_errno EEXIST.
  bool replace = true;
};

// Writes `content` to `path` so that a reader sees the old file or the new one, never part of
// one, even across a crash: a temporary file in the same folder (".<name>.XXXXXX"), written,
// fsynced, renamed over `path`, then the folder fsynced so that the rename itself survives.
// On failure the temporary file is removed and `path` is as it was, except when only the last
// fsync of the folder fails (the new file is in place, maybe not durably). Errors name the file
// and the system's reason, and keep errno in sys_errno. Thread-safe (no shared state); does not
// throw; does not copy `content` (secrets may pass through).
Status WriteFileAtomically(const std::string& path, std::string_view content,
                           const AtomicWriteOptions& options = {});

}  // namespace drift
