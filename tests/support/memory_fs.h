#pragma once

// An in-memory FileSystem for check tests (ninja's VirtualFileSystem): a tree of files,
// directories and symlinks with modes, owners and mtimes, built in the test, that records which
// files were read. It resolves paths as RootedFileSystem does (absolute paths only, symlinks
// inside the tree, ".." stopping at "/", lstat for Stat, O_NOFOLLOW on request) and fails with
// the same messages and errno; tests/unit/checks/file_system_contract_test.cc runs the same
// assertions against both.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "checks/host.h"
#include "common/mutex.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"

namespace drift::testing {

class MemoryFileSystem final : public checks::FileSystem {
 public:
  using Type = checks::FileStat::Type;

  MemoryFileSystem() { root_.type = Type::kDirectory; }
  // A copy of the real directory tree `tree` (a fixture host), as AddTree makes it.
  explicit MemoryFileSystem(const std::string& tree) : MemoryFileSystem() { AddTree(tree); }
  MemoryFileSystem(const MemoryFileSystem&) = delete;
  MemoryFileSystem& operator=(const MemoryFileSystem&) = delete;

  // Building the tree. Paths are absolute host paths; missing parent directories are created
  // (mode 0755). Each replaces whatever was at `path`. Throws std::logic_error on a path that
  // cannot be made (relative, or below a file): a test bug.

  // A regular file, mode 0644, owned by uid 0, mtime the epoch unless set.
  void AddFile(std::string_view path, std::string_view content) {
    Put(path, Type::kRegular, content, 0644);
  }
  // A directory, mode 0755 (an existing one is kept with what it holds).
  void AddDir(std::string_view path) {
    MutexLock lock(mu_);
    Node& parent = Parent(path);
    Node& n = parent.children[Leaf(path)];
    if (n.type != Type::kDirectory) {
      n = Node{};
      n.type = Type::kDirectory;
      n.mode = 0755;
    }
  }
  // A symlink to `target` (relative to its folder, or absolute inside this tree); lstat gives
  // mode 0777 and the target's length as size, as Linux does.
  void AddSymlink(std::string_view path, std::string_view target) {
    Put(path, Type::kSymlink, target, 0777);
  }
  // Something that is none of the above, as a FIFO without a writer: Stat says kOther, reading
  // it gives nothing, hashing it is an error.
  void AddOther(std::string_view path) { Put(path, Type::kOther, "", 0644); }
  // Removes `path` and all it holds; nothing when it is not there.
  void Remove(std::string_view path) {
    MutexLock lock(mu_);
    Parent(path).children.erase(Leaf(path));
  }
  // Set on `path` itself, never through a symlink at it.
  void SetMtime(std::string_view path, WallTime mtime) {
    Update(path, [&](Node& n) { n.mtime = mtime; });
  }
  void SetMode(std::string_view path, mode_t mode) {
    Update(path, [&](Node& n) { n.mode = static_cast<mode_t>(mode & 07777); });
  }
  void SetOwner(std::string_view path, uid_t uid) {
    Update(path, [&](Node& n) { n.uid = uid; });
  }
  // Reading `path` (its content, or a directory's entries and everything below it) fails with
  // EACCES from now on, as for a file the exporter's user may not read; Stat still answers.
  void Deny(std::string_view path) {
    Update(path, [](Node& n) { n.denied = true; });
  }

  // Copies the real directory tree `dir` (a fixture host) to `at` in this tree: files with their
  // content and mode, directories, symlinks with their targets as they are. Owners stay 0 and
  // mtimes the epoch (git keeps neither): tests set those they mean.
  void AddTree(const std::string& dir, std::string_view at = "/") {
    namespace fs = std::filesystem;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
      std::string host = std::string(at == "/" ? "" : at) + "/" +
                         e.path().lexically_relative(dir).generic_string();
      if (e.is_symlink()) {
        AddSymlink(host, fs::read_symlink(e.path()).string());
      } else if (e.is_directory()) {
        AddDir(host);
      } else {
        std::string content;
        {
          std::ifstream in(e.path(), std::ios::binary);
          content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        AddFile(host, content);
        SetMode(host, static_cast<mode_t>(e.status().permissions()));
      }
    }
  }

  // Every path given to ReadFile or HashFile, in order, whether the read succeeded or not.
  std::vector<std::string> files_read() const {
    MutexLock lock(mu_);
    return files_read_;
  }
  void ClearFilesRead() {
    MutexLock lock(mu_);
    files_read_.clear();
  }

  // checks::FileSystem. Thread-safe.
  Result<std::string> ReadFile(std::string_view path, std::size_t max_bytes) const override {
    MutexLock lock(mu_);
    files_read_.emplace_back(path);
    Result<const Node*> node = Resolve(path, true);
    if (!node.ok()) return node.error();
    if (Status s = Readable(**node, path); !s.ok()) return s.error();
    if ((*node)->type == Type::kDirectory) return SysErr(path, EISDIR);
    if ((*node)->data.size() > max_bytes) return Err("{}: larger than {} bytes", path, max_bytes);
    return (*node)->data;
  }

  Result<checks::FileStat> Stat(std::string_view path) const override {
    MutexLock lock(mu_);
    Result<const Node*> node = Resolve(path, false);
    if (!node.ok()) return node.error();
    const Node& n = **node;
    checks::FileStat st;
    st.type = n.type;
    st.size = n.type == Type::kDirectory ? 4096 : n.data.size();
    st.mode = n.mode;
    st.uid = n.uid;
    st.mtime = n.mtime;
    return st;
  }

  Result<std::vector<std::string>> ListDir(std::string_view path) const override {
    MutexLock lock(mu_);
    Result<const Node*> node = Resolve(path, true);
    if (!node.ok()) return node.error();
    if ((*node)->type != Type::kDirectory) return SysErr(path, ENOTDIR);
    if (Status s = Readable(**node, path); !s.ok()) return s.error();
    std::vector<std::string> names;
    for (const auto& [name, child] : (*node)->children) names.push_back(name);
    return names;  // std::map keeps them sorted
  }

  Result<std::string> ReadLink(std::string_view path) const override {
    MutexLock lock(mu_);
    Result<const Node*> node = Resolve(path, false);
    if (!node.ok()) return node.error();
    if ((*node)->type != Type::kSymlink) return Err("{}: not a symlink", path);
    return (*node)->data;
  }

  Result<Sha256Digest> HashFile(std::string_view path, bool no_follow,
                                Deadline deadline) const override {
    MutexLock lock(mu_);
    files_read_.emplace_back(path);
    Result<const Node*> node = Resolve(path, !no_follow);
    if (!node.ok()) return node.error();
    const Node& n = *node.value();
    if (n.type == Type::kSymlink) return Error{fmt::format("{}: is a symlink", path), ELOOP};
    if (Status s = Readable(n, path); !s.ok()) return s.error();
    if (n.type != Type::kRegular) return Err("{}: not a regular file", path);
    // RootedFileSystem looks at the deadline after each chunk it hashed.
    if (!n.data.empty() && std::chrono::steady_clock::now() > deadline) {
      return Err("{}: hashing did not finish before the check's timeout", path);
    }
    return Sha256Of(n.data);
  }

 private:
  struct Node {
    Type type = Type::kOther;
    std::string data;  // a file's content or a symlink's target
    std::map<std::string, Node> children;
    mode_t mode = 0;
    uid_t uid = 0;
    WallTime mtime;
    bool denied = false;
  };

  static std::deque<std::string> Split(std::string_view path) {
    std::deque<std::string> parts;
    while (!path.empty()) {
      std::size_t slash = path.find('/');
      std::string_view part = path.substr(0, slash);
      if (!part.empty() && part != ".") parts.emplace_back(part);
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash + 1);
    }
    return parts;
  }

  static Status Readable(const Node& n, std::string_view path) {
    if (n.denied) return SysErr(path, EACCES);
    return {};
  }

  // Walks `path` from the root as openat2(RESOLVE_IN_ROOT) does: symlinks before the last
  // component are followed (absolute ones from this root), the last only with `follow_last`.
  Result<const Node*> Resolve(std::string_view path, bool follow_last) const DRIFT_REQUIRES(mu_) {
    if (path.empty() || path.front() != '/') {
      return Err("{:?}: expected an absolute host path", path);
    }
    const bool trailing_slash = path.size() > 1 && path.back() == '/';
    std::vector<const Node*> stack{&root_};
    std::deque<std::string> todo = Split(path);
    int links = 0;
    while (!todo.empty()) {
      const std::string name = std::move(todo.front());
      todo.pop_front();
      const Node* dir = stack.back();
      if (dir->type != Type::kDirectory) return SysErr(path, ENOTDIR);
      if (dir->denied) return SysErr(path, EACCES);
      if (name == "..") {
        if (stack.size() > 1) stack.pop_back();
        continue;
      }
      auto it = dir->children.find(name);
      if (it == dir->children.end()) return SysErr(path, ENOENT);
      const Node* node = &it->second;
      if (node->type == Type::kSymlink && (!todo.empty() || follow_last || trailing_slash)) {
        if (++links > 40) return SysErr(path, ELOOP);
        if (node->data.starts_with('/')) stack.resize(1);
        std::deque<std::string> target = Split(node->data);
        todo.insert(todo.begin(), target.begin(), target.end());
        continue;
      }
      stack.push_back(node);
    }
    if (trailing_slash && stack.back()->type != Type::kDirectory) return SysErr(path, ENOTDIR);
    return stack.back();
  }

  static std::string Leaf(std::string_view path) {
    std::deque<std::string> parts = Split(path);
    if (path.empty() || path.front() != '/' || parts.empty()) {
      throw std::logic_error(fmt::format("MemoryFileSystem: {:?} is not a path to make", path));
    }
    return parts.back();
  }

  // The directory that holds `path`, made (with its parents) if missing. No symlinks followed.
  Node& Parent(std::string_view path) DRIFT_REQUIRES(mu_) {
    std::deque<std::string> parts = Split(path);
    if (path.empty() || path.front() != '/' || parts.empty()) {
      throw std::logic_error(fmt::format("MemoryFileSystem: {:?} is not a path to make", path));
    }
    parts.pop_back();
    Node* dir = &root_;
    for (const std::string& part : parts) {
      if (part == "..") throw std::logic_error("MemoryFileSystem: no \"..\" when building");
      auto it = dir->children.find(part);
      if (it == dir->children.end()) {
        it = dir->children.emplace(part, Node{}).first;
        it->second.type = Type::kDirectory;
        it->second.mode = 0755;
      }
      Node& child = it->second;
      if (child.type != Type::kDirectory) {
        throw std::logic_error(fmt::format("MemoryFileSystem: {} is below a non-directory", path));
      }
      dir = &child;
    }
    return *dir;
  }

  // Replaces whatever is at `path` with a fresh node.
  void Put(std::string_view path, Type type, std::string_view data, mode_t mode) {
    MutexLock lock(mu_);
    Node& n = Parent(path).children[Leaf(path)];
    n = Node{};
    n.type = type;
    n.data = data;
    n.mode = mode;
  }

  // Applies `change` to the node at `path` itself, which must exist (a test bug otherwise).
  template <typename Change>
  void Update(std::string_view path, Change change) {
    MutexLock lock(mu_);
    Node& parent = Parent(path);
    auto it = parent.children.find(Leaf(path));
    if (it == parent.children.end()) {
      throw std::logic_error(fmt::format("MemoryFileSystem: no {}", path));
    }
    change(it->second);
  }

  mutable Mutex mu_;
  Node root_ DRIFT_GUARDED_BY(mu_);
  mutable std::vector<std::string> files_read_ DRIFT_GUARDED_BY(mu_);
};

}  // namespace drift::testing
