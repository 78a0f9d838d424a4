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
inline constexpr std::size_t kMaxReasonBytes = 512;

// `text` made fit for a one-line reason: trimmed; each line break (with the blanks around it)
// becomes "; ", so that "first\nsecond" reads "first; second"; tabs become spaces and other
// control characters "?"; cut to at most `max_bytes` bytes, never inside a UTF-8 sequence, with
// "..." at the cut. Pure; thread-safe. CheckResult::Error and Conclude pass every reason through
// it, so no reason can break a table row or a log line.
std::string OneLine(std::string_view text, std::size_t max_bytes = kMaxReasonBytes);

// Why a program could not be run, from the CommandRunner's error. A program that is not
// installed reads as the runner says it ("nft is not installed (not found in command path
// ...)"); any other failure is prefixed with `what` ("nft -s list ruleset: cannot create a
// pipe: ...").
std::string RunFailure(std::string_view what, const Error& error);

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
