#include "common/regular_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/fd.h"

namespace drift {
namespace {

Error Failed(int err) {
  Error e{std::strerror(err)};
  e.sys_errno = err;
  return e;
}

std::string_view FileTypeName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  return "of another kind";
}

Error TooLarge(std::size_t max_bytes) {
  Error e{fmt::format("larger than {} bytes", max_bytes)};
  e.sys_errno = EFBIG;
  return e;
}

}  // namespace

Result<std::string> ReadRegularFile(const std::string& path, std::size_t max_bytes) {
  return ReadRegularFile(path, max_bytes, RegularFileOptions{});
}

Result<std::string> ReadRegularFile(const std::string& path, std::size_t max_bytes,
                                    const RegularFileOptions& options) {
  const int nofollow = options.follow_symlinks ? 0 : O_NOFOLLOW;
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | nofollow));
  if (!fd.open()) return Failed(errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Failed(errno);
  if (!S_ISREG(st.st_mode)) {
    return Error{fmt::format("not a regular file ({})", FileTypeName(st.st_mode))};
  }
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) return TooLarge(max_bytes);
  if (options.check) {
    if (Status s = options.check(st); !s.ok()) return s.error();
  }
  // Read in chunks up to the cap (the size may change while reading): sizing a buffer to the cap
  // up front would touch (and, through malloc's heap, keep resident) megabytes for a file of a
  // few hundred bytes. A secret is capped at a few KiB and must never be copied by a
  // reallocation, so its buffer takes the cap at once (reserved, not touched).
  std::string text;
  text.reserve(options.wipe ? max_bytes + 1 : static_cast<std::size_t>(st.st_size));
  std::vector<char> chunk(options.wipe ? std::min<std::size_t>(max_bytes + 1, 64 * 1024)
                                       : 64 * 1024);  // on the heap: small thread stacks
  auto wipe = [&] {
    if (!options.wipe) return;
    ::explicit_bzero(chunk.data(), chunk.size());
    ::explicit_bzero(text.data(), text.size());
  };
  for (;;) {
    // Never more than one byte past the cap, so that a secret's buffer never grows.
    const std::size_t room = std::min(chunk.size(), max_bytes + 1 - text.size());
    const ssize_t n = ::read(fd.get(), chunk.data(), room);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      wipe();
      return Failed(err);
    }
    if (n == 0) break;
    text.append(chunk.data(), static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      wipe();
      return TooLarge(max_bytes);
    }
  }
  if (options.wipe) ::explicit_bzero(chunk.data(), chunk.size());
  return text;
}

}  // namespace drift
