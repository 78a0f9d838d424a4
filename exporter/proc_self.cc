#include "exporter/proc_self.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <iterator>
#include <string>

namespace drift::exporter {
namespace {

// The next space-separated token of `text` from `at`, moving `at` past it.
std::string_view NextField(std::string_view text, std::size_t& at) {
  while (at < text.size() && text[at] == ' ') ++at;
  std::size_t start = at;
  while (at < text.size() && text[at] != ' ' && text[at] != '\n') ++at;
  return text.substr(start, at - start);
}

template <typename T>
bool ParseNumber(std::string_view field, T& out) {
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
  return ec == std::errc() && end == field.data() + field.size();
}

// Reads up to `size - 1` bytes of a /proc file into `buf`; returns how many, or -1 (errno set).
ssize_t ReadSmall(const char* path, char* buf, std::size_t size) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, size - 1);
  int err = errno;
  ::close(fd);
  errno = err;
  return n;
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text) {
  std::size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return Err("no ')' after the command name");
  std::size_t at = paren + 1;
  ProcStat out;
  // Field 3 (state) is the first after the command name.
  for (int field = 3; field <= 24; ++field) {
    std::string_view value = NextField(text, at);
    if (value.empty()) return Err("field {} missing", field);
    bool ok = true;
    switch (field) {
      case 14:
        ok = ParseNumber(value, out.utime_ticks);
        break;
      case 15:
        ok = ParseNumber(value, out.stime_ticks);
        break;
      case 22:
        ok = ParseNumber(value, out.start_time_ticks);
        break;
      case 23:
        ok = ParseNumber(value, out.vsize_bytes);
        break;
      case 24:
        ok = ParseNumber(value, out.rss_pages);
        break;
      default:
        break;
    }
    if (!ok) return Err("field {}: not a number: {:?}", field, value);
  }
  return out;
}

Result<std::int64_t> ParseBootTime(std::string_view text) {
  for (std::size_t line = 0; line < text.size();) {
    std::size_t end = text.find('\n', line);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(line, end - line);
    if (l.starts_with("btime ")) {
      std::size_t at = 6;
      std::string_view value = NextField(l, at);
      std::int64_t btime = 0;
      if (!ParseNumber(value, btime)) return Err("btime: not a number: {:?}", value);
      return btime;
    }
    line = end + 1;
  }
  return Err("no btime line");
}

Result<ProcSelf> ReadProcSelf() {
  char buf[1024];
  ssize_t n = ReadSmall("/proc/self/stat", buf, sizeof buf);
  if (n < 0) return SysErr("/proc/self/stat", errno);
  Result<ProcStat> stat = ParseProcStat(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!stat.ok()) return Err("/proc/self/stat: {}", stat.error().message);
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  ProcSelf out;
  out.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks;
  out.virtual_memory_bytes = static_cast<double>(stat->vsize_bytes);
  out.resident_memory_bytes = static_cast<double>(stat->rss_pages) * page;
  int fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (struct dirent* e = ::readdir(d)) fds += e->d_name[0] != '.';
    ::closedir(d);
    --fds;  // the descriptor opendir itself holds
  }
  out.open_fds = fds;
  struct rlimit lim {};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  out.max_fds = static_cast<double>(lim.rlim_cur);
  return out;
}

double ReadProcessStartTime() {
  // /proc/stat grows with the CPUs and interrupts: read it whole, once, at start-up.
  std::ifstream file("/proc/stat");
  std::string proc_stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Result<std::int64_t> btime = ParseBootTime(proc_stat);
  char buf[1024];
  ssize_t n = ReadSmall("/proc/self/stat", buf, sizeof buf);
  if (!btime.ok() || n < 0) return 0;
  Result<ProcStat> stat = ParseProcStat(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!stat.ok()) return 0;
  return static_cast<double>(*btime) +
         static_cast<double>(stat->start_time_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace drift::exporter
