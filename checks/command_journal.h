#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "checks/host.h"

namespace drift::checks {

// The system journal through its command-line tools: `logger` writes, `journalctl` reads (10 s
// each at most, bounded by the caller's deadline). Thread-safe as the runner is; `commands` is
// not owned and must outlive this object.
class CommandJournal final : public Journal {
 public:
  explicit CommandJournal(const CommandRunner& commands) : commands_(commands) {}

  // `logger --tag <identifier> --priority user.notice -- <message>`. Errors: an empty
  // identifier or one with '=' or whitespace, logger not runnable, timed out, or a non-zero
  // exit (with logger's stderr). Never throws.
  Status Write(std::string_view identifier, std::string_view message,
               Deadline deadline) const override;

  // Messages logged with `identifier` at or after `since` (to the whole second), oldest first, one
  // element per line. Errors as for Write, and when the output exceeds the runner's cap (the
  // answer would be incomplete). Never throws.
  Result<std::vector<std::string>> ReadSince(std::string_view identifier, WallTime since,
                                             Deadline deadline) const override;

 private:
  const CommandRunner& commands_;
};

}  // namespace drift::checks
