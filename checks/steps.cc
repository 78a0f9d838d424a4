#include "checks/steps.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace drift::checks {
namespace {

constexpr std::string_view kBlank = " \t\r\v\f";
constexpr std::string_view kEllipsis = "...";

std::string_view TrimBlank(std::string_view s) {
  const auto first = s.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
}

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string OneLine(std::string_view text, std::size_t max_bytes) {
  std::string out;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = TrimBlank(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty()) continue;
    if (!out.empty()) {
      // A line that already ends a sentence or introduces the next needs only a space.
      const char last = out.back();
      out += last == '.' || last == ';' || last == ':' ? " " : "; ";
    }
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '\t') {
        out += ' ';
      } else if (u < 0x20 || u == 0x7f) {
        out += '?';
      } else {
        out += c;
      }
    }
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes > kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
    while (cut > 0 && IsUtf8Continuation(out[cut])) --cut;
    out.resize(cut);
    out += kEllipsis.substr(0, std::min(kEllipsis.size(), max_bytes));
  }
  return out;
}

std::string RunFailure(std::string_view what, const Error& error) {
  // The runner's "<program> is not installed (...)" names the program already.
  if (error.sys_errno == ENOENT) return OneLine(error.message);
  return OneLine(fmt::format("{}: {}", what, error.message));
}

std::string NoSystemdReason(std::string_view err) {
  if (err.find("System has not been booted with systemd") != std::string_view::npos) {
    return "systemd is not running here (container?)";
  }
  // Without the line above, systemd may be running but its bus unreachable (no socket in a
  // chroot, a sandbox): keep systemctl's own words.
  const auto bus = err.find("Failed to connect to bus");
  if (bus == std::string_view::npos) return {};
  const std::string_view line = err.substr(bus, err.find('\n', bus) - bus);
  return fmt::format("systemd is not running here (container?), or its bus is unreachable: {}",
                     OneLine(line));
}

std::string NotPinnedReason(std::string_view key) {
  return fmt::format("{} not pinned: run `drift_exporter baseline capture`", key);
}

Error CaptureFailed(const Error& why, std::string_view what_to_do) {
  return Error{fmt::format("{}; {}", why.message, what_to_do), why.sys_errno};
}

std::string FileCaptureRemedy(int sys_errno, std::string_view if_missing) {
  switch (sys_errno) {
    case ENOENT:
      return std::string(if_missing);
    case EACCES:
    case EPERM:
      return "run the capture as a user who can read it (root, or the exporter's user)";
    case ELOOP:
      return "point the check at the file itself, or set follow_symlinks: true";
    default:
      return "fix that, then capture again";
  }
}

Status CheckServiceActive(const Host& host, std::string_view unit, Deadline deadline,
                          ServiceRecord record, Severity severity,
                          std::vector<Observation>& observations, std::vector<Finding>& findings) {
  Result<std::string> state = host.services.ActiveState(unit, deadline);
  if (!state.ok()) return Err("cannot read the state of {}: {}", unit, state.error().message);
  const bool by_unit = record == ServiceRecord::kByUnit;
  if (*state == kUnitNotFound) {
    // Not drift of a running service but a missing one: say so, rather than "inactive".
    observations.push_back({by_unit ? std::string(unit) : "service_state", "not installed"});
    findings.push_back(
        {"service_inactive", fmt::format("{} is not installed", unit), "active", severity});
    return {};
  }
  observations.push_back({by_unit ? std::string(unit) : "service_state", *state});
  if (*state != "active") {
    findings.push_back({"service_inactive", by_unit ? fmt::format("{}: {}", unit, *state) : *state,
                        "active", severity});
  }
  return {};
}

CheckResult ConcludeIncomplete(std::vector<Finding> findings, std::vector<Observation> observations,
                               std::string key, std::string error) {
  if (findings.empty()) return CheckResult::Error(std::move(error));
  observations.push_back({std::move(key), "unknown: " + error});
  return Conclude(std::move(findings), std::move(observations), {}, "");
}

}  // namespace drift::checks
