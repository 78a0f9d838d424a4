#pragma once

// The process_* facts the Prometheus client libraries export, read from /proc. The parsers are
// pure (tested with string literals); ReadProcSelf() does the I/O.

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace drift::exporter {

// The fields of /proc/<pid>/stat the process_* families need, in the kernel's units.
struct ProcStat {
  std::uint64_t utime_ticks = 0;       // field 14: user CPU time, clock ticks
  std::uint64_t stime_ticks = 0;       // field 15: system CPU time, clock ticks
  std::uint64_t start_time_ticks = 0;  // field 22: start time, clock ticks after boot
  std::uint64_t vsize_bytes = 0;       // field 23: virtual memory size
  std::int64_t rss_pages = 0;          // field 24: resident set size, pages
};

// Parses one /proc/<pid>/stat line ("pid (comm) state ..."). The command name may hold spaces
// and parentheses: fields are counted from its last ')'. Pure; allocates only on error.
Result<ProcStat> ParseProcStat(std::string_view text);

// The boot time (Unix seconds) from /proc/stat's "btime" line. Pure; allocates only on error.
Result<std::int64_t> ParseBootTime(std::string_view text);

// This process' facts as process_* families show them.
struct ProcSelf {
  double cpu_seconds = 0;
  double virtual_memory_bytes = 0;
  double resident_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
};

// Reads /proc/self/stat, counts /proc/self/fd and asks for RLIMIT_NOFILE. Bounded reads into a
// stack buffer: called at every render. Thread-safe.
Result<ProcSelf> ReadProcSelf();

// When this process started (Unix seconds), from /proc/stat and /proc/self/stat; 0 if unknown.
double ReadProcessStartTime();

}  // namespace drift::exporter
