#include "checks/steps.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <utility>

#include "common/strings.h"

namespace drift::checks {

namespace {

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string joined;
  for (const std::string& arg : argv) {
    if (!joined.empty()) joined += ' ';
    joined += arg;
  }
  return joined;
}

// "<program> is not installed (<detail>)", with the detail the runner gave: ProcessRunner says
// "<program> is not installed (not found in command path ...)", whose tail is that detail.
std::string NotInstalledReason(std::string_view program, std::string_view runner_message) {
  const std::string head = fmt::format("{} is not installed", program);
  std::string_view detail = runner_message;
  if (detail.starts_with(head)) detail = Trim(detail.substr(head.size()));
  if (detail.size() >= 2 && detail.front() == '(' && detail.back() == ')') {
    detail = detail.substr(1, detail.size() - 2);
  }
  if (detail.empty()) return head;
  return fmt::format("{} ({})", head, detail);
}

}  // namespace

Result<CommandOutput> RunChecked(const CommandRunner& runner, const Command& command,
                                 Deadline deadline, const RunOptions& options) {
  const std::string name = options.name.empty() ? JoinArgv(command.argv) : options.name;
  const Deadline start = std::chrono::steady_clock::now();
  Result<CommandOutput> ran = runner.Run(command, deadline);
  if (!ran.ok()) {
    const Error& e = ran.error();
    if (IsNotFound(e)) {
      const std::string program = command.argv.empty() ? name : command.argv.front();
      return Error{OneLine(NotInstalledReason(program, e.message), kMaxReasonBytes), e.sys_errno};
    }
    return Error{OneLine(fmt::format("{} could not start: {}", name, e.message), kMaxReasonBytes),
                 e.sys_errno};
  }
  const CommandOutput& out = *ran;
  if (out.timed_out) {
    // The runner stops at the earlier of the two limits; when the check's deadline has passed,
    // that was the one.
    std::chrono::milliseconds limit = command.timeout;
    if (std::chrono::steady_clock::now() >= deadline) {
      const Deadline::duration left =
          deadline > start ? deadline - start : Deadline::duration::zero();
      if (left < command.timeout) {
        limit = std::chrono::duration_cast<std::chrono::milliseconds>(left);
      }
    }
    return Err("{} timed out after {}s", name,
               std::chrono::ceil<std::chrono::seconds>(limit).count());
  }
  // Before the exit status: the runner kills a program whose output overflows.
  if (out.truncated) {
    return Err("{} printed more than {} bytes (output truncated)", name, command.max_output_bytes);
  }
  if (out.signal != 0 || out.exit_code < 0) {
    return Err("{} was killed by signal {}", name, out.signal);
  }
  if (out.exit_code != 0) {
    if (options.systemd) {
      if (std::string no_systemd = NoSystemdReason(out.err); !no_systemd.empty()) {
        return Error{std::move(no_systemd)};
      }
    }
    if (!options.any_exit_status) return Error{ExitStatusReason(name, out)};
  }
  return ran;
}

std::string ExitStatusReason(std::string_view name, const CommandOutput& output) {
  std::string reason = fmt::format("{} exited with status {}", name, output.exit_code);
  const std::string err = OneLine(output.err, kMaxStderrInReason);
  if (!err.empty()) reason += ": " + err;
  return reason;
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
                     OneLine(line, kMaxReasonBytes));
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
