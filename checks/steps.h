#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "checks/check.h"
#include "checks/host.h"
#include "common/clock.h"
#include "common/result.h"

// Steps of Run() that several check types take, so that they take them the same way and say the
// same thing about them. None throws.
namespace drift::checks {

// The longest reason a check gives, in bytes. Reasons are label-free text for people (the check
// table, pages, alerts, evidence); a bound keeps a chatty program from filling them.
// CheckResult::Error and Conclude pass every reason through OneLine (common/strings.h) with this
// bound, so that no reason can break a table row or a log line.
inline constexpr std::size_t kMaxReasonBytes = 512;

// How RunChecked names a command in reasons, and what it accepts from it.
struct RunOptions {
  // The command as reasons name it, e.g. "nft -s list ruleset" or "systemctl is-active
  // sshd.service"; empty for the argv joined by spaces.
  std::string name = "";
  // Every exit status is an answer for the caller to read (systemctl is-active exits 3 for an
  // inactive unit, cryptsetup status 4 for an inactive device): a non-zero exit is returned as
  // output. A timeout, truncated output or a signal still fail.
  bool any_exit_status = false;
  // For systemd's tools and journald's clients (systemctl, journalctl, logger): a non-zero exit
  // whose stderr says systemd is not running here fails with NoSystemdReason, whatever
  // any_exit_status says.
  bool systemd = false;
};

// The longest part of a program's stderr that a failure reason quotes, in bytes.
inline constexpr std::size_t kMaxStderrInReason = 300;

// Runs `command` through `runner` until the earlier of `deadline` and command.timeout, and turns
// each way it can fail into one reason, worded the same for every check (docs/configuration.md):
//   "<program> is not installed (<where the runner looked>)"   sys_errno ENOENT
//   "<name> could not start: <the runner's error>"              the runner's sys_errno
//   "<name> timed out after <N>s"                               the limit that applied
//   "<name> printed more than <N> bytes (output truncated)"
//   "<name> was killed by signal <N>"
//   "<name> exited with status <N>[: <stderr>]"                 unless any_exit_status
// where <program> is argv[0] and <stderr> its non-empty lines through OneLine, at most
// kMaxStderrInReason bytes. Returns the output of a run that did not fail. Thread-safe as the
// runner is; never throws.
Result<CommandOutput> RunChecked(const CommandRunner& runner, const Command& command,
                                 Deadline deadline, const RunOptions& options = {});

// "<name> exited with status <N>[: <stderr>]", as RunChecked says it: for callers that take
// any_exit_status and then find that the status means failure.
std::string ExitStatusReason(std::string_view name, const CommandOutput& output);

// Whether systemd tooling failed because systemd is not the init system here, or its bus cannot
// be reached (a container, a chroot): stderr as systemctl or journalctl print it then,
// "System has not been booted with systemd as init system (PID 1). Can't operate." and/or
// "Failed to connect to bus: ...". Returns the reason to give, or an empty string when `err`
// says something else.
std::string NoSystemdReason(std::string_view err);

// Why a check whose pinned value is absent cannot run: "<key> not pinned: run `drift_exporter
// baseline capture`". Such a check loads (a host is onboarded before it is captured), and Run()
// returns this as an error result; `baseline capture` calls Capture() instead.
std::string NotPinnedReason(std::string_view key);

// A Capture() failure, as `baseline capture` prints it after "<check>: cannot capture: ":
// "<why>; <what to do>". Keeps why's errno.
Error CaptureFailed(const Error& why, std::string_view what_to_do);

// What to do when a file that Capture() hashes cannot be read, by its errno: `if_missing` for
// ENOENT (e.g. "install the agent, or correct params.binary"), a user who can read it for
// EACCES/EPERM, follow_symlinks for ELOOP (a symlink where none is followed), else "fix that".
std::string FileCaptureRemedy(int sys_errno, std::string_view if_missing);

// How CheckServiceActive records a unit's state. A check watching one service records it as
// "service_state", and a finding observes the bare state ("failed"). A check watching several
// records each under the unit's name, and a finding names the unit ("rsyslog.service: failed").
enum class ServiceRecord { kSoleService, kByUnit };

// Asks for `unit`'s ActiveState; adds it to `observations` and, unless it is "active", adds a
// "service_inactive" finding of `severity` (expected "active"). A unit systemd has no unit file
// for (kUnitNotFound) is observed as "not installed" and the finding says "<unit> is not
// installed". When the state cannot be had, adds nothing and returns the error "cannot read the
// state of <unit>: <why>".
Status CheckServiceActive(const Host& host, std::string_view unit, Deadline deadline,
                          ServiceRecord record, Severity severity,
                          std::vector<Observation>& observations, std::vector<Finding>& findings);

// The result of a run that a step could not complete because of `error`. Drift already found
// stands (the host is drifted whatever the rest would have shown), with the observation `key`
// recorded as "unknown: <error>"; with none found yet, the check could not tell: an error result.
CheckResult ConcludeIncomplete(std::vector<Finding> findings, std::vector<Observation> observations,
                               std::string key, std::string error);

}  // namespace drift::checks
