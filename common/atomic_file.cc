#include "common/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/fd.h"

namespace drift {
namespace {

// rename(2), or with RENAME_NOREPLACE when `replace` is false. A file system without
// RENAME_NOREPLACE (EINVAL) gets link + unlink, which fails with EEXIST the same way.
int Rename(const std::string& from, const std::string& to, bool replace) {
  if (replace) return ::rename(from.c_str(), to.c_str());
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL) return -1;
  if (::link(from.c_str(), to.c_str()) != 0) return -1;
  ::unlink(from.c_str());
  return 0;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view content,
                           const AtomicWriteOptions& options) {
  const std::filesystem::path target(path);
  const std::string dir =
      target.parent_path().empty() ? std::string(".") : target.parent_path().string();
  std::string tmp = fmt::format("{}/.{}.XXXXXX", dir, target.filename().string());
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.open()) {
    return SysErr(fmt::format("cannot create a temporary file in {}", dir), errno);
  }
  auto fail = [&](std::string_view what, int err) {
    ::unlink(tmp.c_str());
    return SysErr(fmt::format("{} {}", what, tmp), err);
  };
  mode_t mode = 0644;
  if (options.mode) {
    mode = *options.mode;
  } else if (struct stat old{}; ::stat(path.c_str(), &old) == 0) {
    mode = old.st_mode & 07777;
  }
  for (std::size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write", errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot set the mode of", errno);
  if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
  // Linux releases the descriptor even when close fails: never close it twice.
  if (::close(fd.Release()) != 0 && errno != EINTR) return fail("cannot close", errno);
  if (Rename(tmp, path, options.replace) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST && !options.replace) return SysErr(path, err);
    return SysErr(fmt::format("cannot rename {} to {}", tmp, path), err);
  }
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.open() || ::fsync(dir_fd.get()) != 0) {
    return SysErr(fmt::format("cannot fsync the folder {}", dir), errno);
  }
  return {};
}

}  // namespace drift
