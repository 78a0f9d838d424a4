#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace drift::evidence {

// The file operations the store makes, named as in drift_evidence_write_errors_total{op}.
enum class FsOp {
  kMkdir,
  kOpen,
  kWrite,
  kFsync,
  kClose,
  kRename,
  kFsyncDir,
  kUnlink,
  kRead,
  kList,
  kSign,       // sealing a record (signing and the signature self-check), not a file operation
  kTailCheck,  // records this process did not write found in the store (another writer)
};
std::string_view FsOpName(FsOp op);

// The writer seam: every file operation of the evidence store goes through this interface, so that
// tests inject ENOSPC, EIO or EROFS at any single step. Paths are absolute. Failures return an
// Error with sys_errno set. Implementations must be thread-safe (the store fsyncs two files at
// once from two threads).
class StoreFs {
 public:
  virtual ~StoreFs() = default;
  // mkdir with `mode`; an existing directory is success.
  virtual Status MakeDir(const std::string& path, mode_t mode) = 0;
  // open(O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC) with `mode`: never reuses a file.
  virtual Result<int> CreateExclusive(const std::string& path, mode_t mode) = 0;
  // Writes all of `data` (short writes continue; EINTR is retried, nothing else is).
  virtual Status Write(int fd, std::string_view data) = 0;
  virtual Status Sync(int fd) = 0;
  virtual Status Close(int fd) = 0;
  // renameat2(RENAME_NOREPLACE) when `no_replace`, so a published record is never overwritten;
  // plain rename otherwise.
  virtual Status Rename(const std::string& from, const std::string& to, bool no_replace) = 0;
  // fsync of a directory, making the renames and unlinks in it durable.
  virtual Status SyncDir(const std::string& path) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // rmdir.
  virtual Status RemoveDir(const std::string& path) = 0;
  // The names in a directory (not "." or ".."), unsorted.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // Reads a whole file of at most `max_bytes`.
  virtual Result<std::string> Read(const std::string& path, std::size_t max_bytes) = 0;
};

// The real thing, on POSIX calls.
std::unique_ptr<StoreFs> MakePosixStoreFs();

// Reads a whole file (at most max_bytes) with open/read; shared by the store's fs and the verifier.
Result<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes);
// The same, relative to an open directory (saves the path walk when reading many files of one
// folder); `shown` names the file in messages.
Result<std::string> ReadSmallFileAt(int dir_fd, const std::string& name, std::size_t max_bytes,
                                    const std::string& shown);
// The names in a directory; ENOENT keeps its sys_errno.
Result<std::vector<std::string>> ListDir(const std::string& dir);

}  // namespace drift::evidence
