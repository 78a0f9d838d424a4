#pragma once

// An in-memory evidence::StoreFs: folders and files in maps, no system call. For the verify fuzz
// target (a store per input, no disk) and tests that want a store without a folder. Paths are
// absolute, without "." or ".." parts; "/" always exists. Failures carry the errno the POSIX
// implementation would give (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EBADF, EFBIG).

#include <sys/types.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "evidence/store_fs.h"

namespace drift::testing {

class MemoryStoreFs final : public evidence::StoreFs {
 public:
  MemoryStoreFs() { dirs_.insert("/"); }

  // Back to an empty "/" (open files are forgotten).
  void Clear() DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    files_.clear();
    dirs_ = {"/"};
    open_.clear();
  }
  bool Exists(const std::string& path) DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return files_.contains(path) || dirs_.contains(path);
  }
  // Adds (or replaces) a file and the folders above it; false (and nothing changed) if the path or
  // a folder above it is taken by the other kind.
  bool AddFile(const std::string& path, std::string content) DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (dirs_.contains(path) || !AddParents(path)) return false;
    files_[path] = std::move(content);
    return true;
  }
  // Adds a folder and the folders above it; false if a file is in the way.
  bool AddDir(const std::string& path) DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (files_.contains(path) || !AddParents(path)) return false;
    dirs_.insert(path);
    return true;
  }

  Status MakeDir(const std::string& path, mode_t /*mode*/) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (dirs_.contains(path)) return {};
    if (files_.contains(path)) return Err("{}: exists and is not a directory", path);
    if (Status s = ParentIsDir("mkdir " + path, path); !s.ok()) return s;
    dirs_.insert(path);
    return {};
  }
  Result<int> CreateExclusive(const std::string& path, mode_t /*mode*/) override
      DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (files_.contains(path) || dirs_.contains(path)) return SysErr("create " + path, EEXIST);
    if (Status s = ParentIsDir("create " + path, path); !s.ok()) return s.error();
    files_[path];
    int fd = next_fd_++;
    open_[fd] = path;
    return fd;
  }
  Status Write(int fd, std::string_view data) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = open_.find(fd);
    if (it == open_.end()) return SysErr("write", EBADF);
    files_[it->second].append(data);
    return {};
  }
  Status Sync(int fd) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!open_.contains(fd)) return SysErr("fsync", EBADF);
    return {};
  }
  Status Close(int fd) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (open_.erase(fd) == 0) return SysErr("close", EBADF);
    return {};
  }
  // Files only (the store renames no folder).
  Status Rename(const std::string& from, const std::string& to, bool no_replace) override
      DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const std::string what = "rename " + from + " to " + to;
    auto it = files_.find(from);
    if (it == files_.end()) return SysErr(what, dirs_.contains(from) ? EISDIR : ENOENT);
    if (dirs_.contains(to)) return SysErr(what, EISDIR);
    if (no_replace && files_.contains(to)) return SysErr(what, EEXIST);
    if (Status s = ParentIsDir(what, to); !s.ok()) return s;
    std::string content = std::move(it->second);
    files_.erase(it);
    files_[to] = std::move(content);
    return {};
  }
  Status SyncDir(const std::string& path) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!dirs_.contains(path)) return SysErr("open " + path, ENOENT);
    return {};
  }
  Status Remove(const std::string& path) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (dirs_.contains(path)) return SysErr("unlink " + path, EISDIR);
    if (files_.erase(path) == 0) return SysErr("unlink " + path, ENOENT);
    return {};
  }
  Status RemoveDir(const std::string& path) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (files_.contains(path)) return SysErr("rmdir " + path, ENOTDIR);
    if (!dirs_.contains(path) || path == "/") return SysErr("rmdir " + path, ENOENT);
    if (!Children(path).empty()) return SysErr("rmdir " + path, ENOTEMPTY);
    dirs_.erase(path);
    return {};
  }
  Result<std::vector<std::string>> List(const std::string& dir) override DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (files_.contains(dir)) return SysErr(dir, ENOTDIR);
    if (!dirs_.contains(dir)) return SysErr(dir, ENOENT);
    return Children(dir);
  }
  Result<std::string> Read(const std::string& path, std::size_t max_bytes) override
      DRIFT_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) return SysErr(path, dirs_.contains(path) ? EISDIR : ENOENT);
    if (it->second.size() > max_bytes) {
      return Err("{}: {} bytes, more than {}", path, it->second.size(), max_bytes);
    }
    return it->second;
  }

 private:
  static std::string Parent(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  Status ParentIsDir(const std::string& what, const std::string& path) DRIFT_REQUIRES(mu_) {
    const std::string parent = Parent(path);
    if (dirs_.contains(parent)) return {};
    return SysErr(what, files_.contains(parent) ? ENOTDIR : ENOENT);
  }
  bool AddParents(const std::string& path) DRIFT_REQUIRES(mu_) {
    std::vector<std::string> missing;
    for (std::string p = Parent(path); !dirs_.contains(p); p = Parent(p)) {
      if (files_.contains(p)) return false;
      missing.push_back(p);
    }
    dirs_.insert(missing.begin(), missing.end());
    return true;
  }
  // The names right under `dir`, files and folders.
  std::vector<std::string> Children(const std::string& dir) DRIFT_REQUIRES(mu_) {
    const std::string prefix = dir == "/" ? dir : dir + "/";
    std::vector<std::string> names;
    auto collect = [&](const auto& sorted) {
      for (auto it = sorted.lower_bound(prefix); it != sorted.end(); ++it) {
        const std::string& p = KeyOf(*it);
        if (!p.starts_with(prefix)) break;
        std::string_view rest = std::string_view(p).substr(prefix.size());
        if (!rest.empty() && rest.find('/') == std::string_view::npos) names.emplace_back(rest);
      }
    };
    collect(files_);
    collect(dirs_);
    return names;
  }
  static const std::string& KeyOf(const std::string& s) { return s; }
  static const std::string& KeyOf(const std::pair<const std::string, std::string>& p) {
    return p.first;
  }

  Mutex mu_;
  std::map<std::string, std::string> files_ DRIFT_GUARDED_BY(mu_);
  std::set<std::string> dirs_ DRIFT_GUARDED_BY(mu_);
  std::map<int, std::string> open_ DRIFT_GUARDED_BY(mu_);
  int next_fd_ DRIFT_GUARDED_BY(mu_) = 1000;
};

}  // namespace drift::testing
