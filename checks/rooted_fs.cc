#include "checks/rooted_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "common/fd.h"

namespace drift::checks {
namespace {

WallTime ToWallTime(const struct timespec& ts) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

FileStat ToFileStat(const struct stat& st) {
  FileStat out;
  out.type = S_ISREG(st.st_mode)   ? FileStat::Type::kRegular
             : S_ISDIR(st.st_mode) ? FileStat::Type::kDirectory
             : S_ISLNK(st.st_mode) ? FileStat::Type::kSymlink
                                   : FileStat::Type::kOther;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mode = st.st_mode & 07777;
  out.uid = st.st_uid;
  out.mtime = ToWallTime(st.st_mtim);
  return out;
}

}  // namespace

RootedFileSystem::RootedFileSystem(std::string root) : root_(std::move(root)) {
  root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) {
    throw std::runtime_error(
        fmt::format("cannot open host root {:?}: {}", root_, std::strerror(errno)));
  }
}

RootedFileSystem::~RootedFileSystem() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

Result<int> RootedFileSystem::Open(std::string_view path, int flags, bool follow_last) const {
  if (path.empty() || path.front() != '/') {
    return Err("{:?}: expected an absolute host path", path);
  }
  // "/" itself is the root directory: "." relative to it.
  const std::string relative = path.size() > 1 ? std::string(path.substr(1)) : std::string(".");
  struct open_how how {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, root_fd_, relative.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0) {
    if (errno == ELOOP && !follow_last) return Error{fmt::format("{}: is a symlink", path), ELOOP};
    return SysErr(path, errno);
  }
  return static_cast<int>(fd);
}

Result<std::string> RootedFileSystem::ReadFile(std::string_view path, std::size_t max_bytes) const {
  Result<int> opened = Open(path, O_RDONLY | O_NONBLOCK, true);
  if (!opened.ok()) return opened.error();
  Fd fd(*opened);
  std::string out;
  std::array<char, 16384> buf;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysErr(path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Err("{}: larger than {} bytes", path, max_bytes);
    }
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

Result<FileStat> RootedFileSystem::Stat(std::string_view path) const {
  Result<int> opened = Open(path, O_PATH, false);
  if (!opened.ok()) {
    // O_PATH|O_NOFOLLOW on a symlink succeeds, so ELOOP cannot happen here; pass the error on.
    return opened.error();
  }
  Fd fd(*opened);
  struct stat st {};
  if (::fstatat(fd.get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
    return SysErr(path, errno);
  }
  return ToFileStat(st);
}

Result<std::vector<std::string>> RootedFileSystem::ListDir(std::string_view path) const {
  Result<int> opened = Open(path, O_RDONLY | O_DIRECTORY, true);
  if (!opened.ok()) return opened.error();
  Fd fd(*opened);
  DIR* dir = ::fdopendir(fd.get());
  if (dir == nullptr) return SysErr(path, errno);
  fd.Release();  // closedir closes it
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return SysErr(path, err);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> RootedFileSystem::ReadLink(std::string_view path) const {
  Result<int> opened = Open(path, O_PATH, false);
  if (!opened.ok()) return opened.error();
  Fd fd(*opened);
  std::array<char, 4096> buf;
  ssize_t n = ::readlinkat(fd.get(), "", buf.data(), buf.size());
  if (n < 0) {
    if (errno == ENOENT || errno == EINVAL) return Err("{}: not a symlink", path);
    return SysErr(path, errno);
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

Result<Sha256Digest> RootedFileSystem::HashFile(std::string_view path, bool no_follow,
                                                Deadline deadline) const {
  Result<int> opened = Open(path, O_RDONLY | O_NONBLOCK, !no_follow);
  if (!opened.ok()) return opened.error();
  Fd fd(*opened);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return SysErr(path, errno);
  if (!S_ISREG(st.st_mode)) return Err("{}: not a regular file", path);
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 hasher;
  // 256 KiB keeps syscalls few without a large resident buffer.
  static constexpr std::size_t kChunk = 256 << 10;
  // Page-aligned: the kernel copies page-cache pages into a buffer 16 bytes into a page (where
  // malloc's mmapped chunks start) several times slower than into an aligned one.
  struct AlignedFree {
    void operator()(std::uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<std::uint8_t, AlignedFree> buf(
      static_cast<std::uint8_t*>(std::aligned_alloc(4096, kChunk)));
  if (!buf) return Err("{}: out of memory for the hash buffer", path);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.get(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysErr(path, errno);
    }
    if (n == 0) break;
    hasher.Update(std::span<const std::uint8_t>(buf.get(), static_cast<std::size_t>(n)));
    if (std::chrono::steady_clock::now() > deadline) {
      return Err("{}: hashing did not finish before the check's timeout", path);
    }
  }
  return hasher.Finish();
}

}  // namespace drift::checks
