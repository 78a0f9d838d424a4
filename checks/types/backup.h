#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "checks/check.h"
#include "common/clock.h"
#include "common/result.h"

// `backup`: reads the status file a backup job writes after each run and reports drift when the
// last backup or the last restore test is too old, the last run failed, or the file is missing or
// unreadable as a status. The exporter never runs the backup itself (that is the run_backup_job
// runbook); it only judges what the job recorded.
namespace drift::checks::backup {

extern const CheckType kType;

// What the backup job recorded: a JSON object such as
//   {"last_backup": "2024-03-01T02:00:00Z", "last_restore_test": "2024-02-20T03:00:00Z",
//    "status": "success"}
// Other members are allowed and ignored, so backup tools may record more.
struct BackupStatus {
  WallTime last_backup;
  WallTime last_restore_test;
  std::optional<std::string> status;  // "success", "failed", or whatever the job writes
};

// Parses a status file's contents. Errors say what is wrong in one line, e.g.
// "last_backup: missing" or "not valid JSON". Pure; never throws.
Result<BackupStatus> ParseBackupStatus(std::string_view text);

}  // namespace drift::checks::backup
