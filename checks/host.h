#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/command.h"
#include "common/result.h"
#include "common/sha256.h"

// Everything a check knows about the host comes through these interfaces, so that tests point
// them at fixture trees and scripted commands (node_exporter's --path.rootfs, ninja's
// DiskInterface). Production implementations: RootedFileSystem, ProcessRunner,
// SystemctlServiceManager, CommandJournal.
namespace drift::checks {

struct FileStat {
  enum class Type { kRegular, kDirectory, kSymlink, kOther };
  Type type = Type::kOther;
  std::uint64_t size = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  WallTime mtime;
};

// Read-only view of the host's files. Paths are absolute host paths ("/etc/os-release"); an
// implementation may serve them from another root. Thread-safe.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Reads a whole file, failing if it is larger than `max_bytes` (never reads unbounded files).
  virtual Result<std::string> ReadFile(std::string_view path, std::size_t max_bytes) const = 0;
  // lstat: a symlink is reported as a symlink.
  virtual Result<FileStat> Stat(std::string_view path) const = 0;
  // Entry names of a directory, without "." and "..", sorted.
  virtual Result<std::vector<std::string>> ListDir(std::string_view path) const = 0;
  virtual Result<std::string> ReadLink(std::string_view path) const = 0;
  // SHA-256 of a file's contents, streamed with a bounded buffer; gives up with an error once
  // `deadline` passes. With `no_follow`, a symlink at `path` itself is an error.
  virtual Result<Sha256Digest> HashFile(std::string_view path, bool no_follow,
                                        Deadline deadline) const = 0;
};

// What ServiceManager::ActiveState answers for a unit that systemd has no unit file for
// (LoadState=not-found): the service is not installed. Not one of systemd's ActiveStates, which
// would say "inactive" and hide why.
inline constexpr std::string_view kUnitNotFound = "not-found";

// Whether a unit is running. One seam for every check, so that systemctl can give way to D-Bus
// without touching them. Thread-safe.
class ServiceManager {
 public:
  virtual ~ServiceManager() = default;
  // The unit's ActiveState as systemd names it: "active", "inactive", "failed", "activating", ...
  // or kUnitNotFound.
  virtual Result<std::string> ActiveState(std::string_view unit, Deadline deadline) const = 0;
};

// The system journal, for the logging check's canary. Thread-safe.
class Journal {
 public:
  virtual ~Journal() = default;
  // Writes `message` with syslog identifier `identifier`.
  virtual Status Write(std::string_view identifier, std::string_view message,
                       Deadline deadline) const = 0;
  // Messages with syslog identifier `identifier` logged at or after `since`, oldest first.
  virtual Result<std::vector<std::string>> ReadSince(std::string_view identifier, WallTime since,
                                                     Deadline deadline) const = 0;
};

// The host as checks see it. Non-owning; everything outlives the checks that use it.
struct Host {
  const FileSystem& fs;
  const CommandRunner& commands;
  const ServiceManager& services;
  const Journal& journal;
  const Clock& clock;
  // What a check that waits (between re-reads, say) waits through; deadlines are on it.
  const MonotonicClock& monotonic;
};

}  // namespace drift::checks
