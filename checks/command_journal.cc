#include "checks/command_journal.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "checks/steps.h"
#include "common/strings.h"

namespace drift::checks {
namespace {

constexpr std::chrono::milliseconds kTimeout{10'000};
constexpr std::size_t kMaxOutputBytes = 1 << 20;

// Callers validate identifiers against their own rules; this only keeps out what would change
// the meaning of "--identifier=<id>" or of logger's tag.
Status CheckIdentifier(std::string_view identifier) {
  if (identifier.empty()) return Err("journal identifier is empty");
  const bool bad = std::any_of(identifier.begin(), identifier.end(), [](char c) {
    return c == '=' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  });
  if (bad) return Err("journal identifier {:?} contains '=' or whitespace", identifier);
  return {};
}

}  // namespace

Status CommandJournal::Write(std::string_view identifier, std::string_view message,
                             Deadline deadline) const {
  if (Status s = CheckIdentifier(identifier); !s) return s;
  Command command;
  command.argv = {"logger",      "--tag", std::string(identifier), "--priority",
                  "user.notice", "--",    std::string(message)};
  command.timeout = kTimeout;
  command.max_output_bytes = 64 * 1024;
  Result<CommandOutput> ran =
      RunChecked(commands_, command, deadline, {.name = "logger", .systemd = true});
  if (!ran) return ran.error();
  return {};
}

Result<std::vector<std::string>> CommandJournal::ReadSince(std::string_view identifier,
                                                           WallTime since,
                                                           Deadline deadline) const {
  if (Status s = CheckIdentifier(identifier); !s) return s.error();
  // Whole seconds, rounded down, so that nothing logged at or after `since` is missed.
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since.time_since_epoch()).count();
  Command command;
  command.argv = {"journalctl",
                  "--no-pager",
                  "--quiet",
                  "--output=cat",
                  "--identifier=" + std::string(identifier),
                  fmt::format("--since=@{}", seconds)};
  command.timeout = kTimeout;
  command.max_output_bytes = kMaxOutputBytes;
  // Truncated output fails: the answer would be incomplete.
  Result<CommandOutput> ran =
      RunChecked(commands_, command, deadline, {.name = "journalctl", .systemd = true});
  if (!ran) return ran.error();
  std::vector<std::string> lines;
  for (std::string_view line : SplitLines(ran->out)) lines.emplace_back(line);
  return lines;
}

}  // namespace drift::checks
