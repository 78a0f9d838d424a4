#include "checks/command_journal.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "checks/steps.h"

namespace drift::checks {
namespace {

constexpr std::chrono::milliseconds kTimeout{10'000};
constexpr std::size_t kMaxOutputBytes = 1 << 20;

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

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

// Why a command that ran did not succeed, or an empty string if it did. One line: stderr may
// hold several.
std::string Failure(const CommandOutput& output) {
  if (output.timed_out) return "timed out";
  if (output.signal != 0) return fmt::format("killed by signal {}", output.signal);
  if (output.exit_code != 0) {
    if (std::string no_systemd = NoSystemdReason(output.err); !no_systemd.empty()) {
      return no_systemd;
    }
    const std::string_view err = Trim(output.err);
    if (err.empty()) return fmt::format("exit code {}", output.exit_code);
    return fmt::format("exit code {}: {}", output.exit_code, OneLine(err));
  }
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
  Result<CommandOutput> ran = commands_.Run(command, deadline);
  if (!ran) return Error{RunFailure("logger", ran.error())};
  if (std::string why = Failure(*ran); !why.empty()) return Err("logger: {}", why);
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
  Result<CommandOutput> ran = commands_.Run(command, deadline);
  if (!ran) return Error{RunFailure("journalctl", ran.error())};
  const CommandOutput& output = *ran;
  // Before the exit status: the runner kills a command whose output overflows.
  if (output.truncated) {
    return Err("journalctl: output larger than {} bytes; the answer would be incomplete",
               command.max_output_bytes);
  }
  if (std::string why = Failure(output); !why.empty()) return Err("journalctl: {}", why);
  std::vector<std::string> lines;
  std::string_view rest = output.out;
  while (!rest.empty()) {
    const auto newline = rest.find('\n');
    lines.emplace_back(rest.substr(0, newline));
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  return lines;
}

}  // namespace drift::checks
