#include "evidence/store_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace drift::evidence {
namespace {

class PosixStoreFs final : public StoreFs {
 public:
  Status MakeDir(const std::string& path, mode_t mode) override {
    if (::mkdir(path.c_str(), mode) == 0) return {};
    if (errno == EEXIST) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
      return Err("{}: exists and is not a directory", path);
    }
    return SysErr("mkdir " + path, errno);
  }

  Result<int> CreateExclusive(const std::string& path, mode_t mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return SysErr("create " + path, errno);
    return fd;
  }

  Status Write(int fd, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return SysErr("write", errno);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

  Status Sync(int fd) override {
    if (::fsync(fd) != 0) return SysErr("fsync", errno);
    return {};
  }

  Status Close(int fd) override {
    // Linux releases the descriptor even when close reports an error: never close twice.
    if (::close(fd) != 0 && errno != EINTR) return SysErr("close", errno);
    return {};
  }

  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    int rc = no_replace
                 ? ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE)
                 : ::rename(from.c_str(), to.c_str());
    if (rc != 0) return SysErr("rename " + from + " to " + to, errno);
    return {};
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return SysErr("open " + path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return SysErr("fsync " + path, err);
    return {};
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return SysErr("unlink " + path, errno);
    return {};
  }

  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return SysErr("rmdir " + path, errno);
    return {};
  }

  Result<std::vector<std::string>> List(const std::string& dir) override { return ListDir(dir); }

  Result<std::string> Read(const std::string& path, std::size_t max_bytes) override {
    return ReadSmallFile(path, max_bytes);
  }
};

}  // namespace

std::string_view FsOpName(FsOp op) {
  switch (op) {
    case FsOp::kMkdir:
      return "mkdir";
    case FsOp::kOpen:
      return "open";
    case FsOp::kWrite:
      return "write";
    case FsOp::kFsync:
      return "fsync";
    case FsOp::kClose:
      return "close";
    case FsOp::kRename:
      return "rename";
    case FsOp::kFsyncDir:
      return "fsync_dir";
    case FsOp::kUnlink:
      return "unlink";
    case FsOp::kRead:
      return "read";
    case FsOp::kList:
      return "list";
    case FsOp::kSign:
      return "sign";
    case FsOp::kTailCheck:
      return "tail_check";
  }
  return "unknown";
}

std::unique_ptr<StoreFs> MakePosixStoreFs() { return std::make_unique<PosixStoreFs>(); }

Result<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes) {
  return ReadSmallFileAt(AT_FDCWD, path, max_bytes, path);
}

Result<std::string> ReadSmallFileAt(int dir_fd, const std::string& name, std::size_t max_bytes,
                                    const std::string& shown) {
  const std::string& path = shown;
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return SysErr(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return SysErr(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Err("{}: not a regular file", path);
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Err("{}: {} bytes, more than {}", path, st.st_size, max_bytes);
  }
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  for (;;) {
    // The size fstat gave is enough: a file that grows meanwhile is read as it was. (Saves the
    // read that would return 0: the verifier reads two files per record.)
    if (done == out.size() && done > 0) break;
    if (done == out.size()) out.resize(out.size() + 512);
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return SysErr(path, err);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    if (done > max_bytes) {
      ::close(fd);
      return Err("{}: more than {} bytes", path, max_bytes);
    }
  }
  ::close(fd);
  out.resize(done);
  return out;
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return SysErr(dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return SysErr(dir, err);
  return names;
}

}  // namespace drift::evidence
