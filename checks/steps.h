#pragma once

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
// "service_inactive" finding of `severity` (expected "active"). When the state cannot be had,
// adds nothing and returns the error "cannot read the state of <unit>: <why>".
Status CheckServiceActive(const Host& host, std::string_view unit, Deadline deadline,
                          ServiceRecord record, Severity severity,
                          std::vector<Observation>& observations, std::vector<Finding>& findings);

// The result of a run that a step could not complete because of `error`. Drift already found
// stands (the host is drifted whatever the rest would have shown), with the observation `key`
// recorded as "unknown: <error>"; with none found yet, the check could not tell: an error result.
CheckResult ConcludeIncomplete(std::vector<Finding> findings, std::vector<Observation> observations,
                               std::string key, std::string error);

}  // namespace drift::checks
