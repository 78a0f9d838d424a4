#pragma once

// Helpers shared by the evidence tests: temporary folders, deterministic keys, a fault-injecting
// StoreFs (the writer seam) and running real programs (minisign).

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/process_runner.h"
#include "common/thread_annotations.h"
#include "evidence/minisign.h"
#include "evidence/store_fs.h"
#include "evidence/verify.h"

namespace drift::evidence::testing {

// A folder under /tmp removed with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "drift-evidence-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    ::chmod(path_.c_str(), 0750);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

// A key pair that is the same in every run: seed and key id filled with `n`.
inline SecretKey TestKey(std::uint8_t n = 1) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  KeyId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(n * 16 + i);
  return SecretKey::FromSeed(seed, id);
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteText(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Every regular file under `dir`, relative, sorted. A file removed while it is listed (a head
// the store's head thread replaces) is left out rather than thrown about.
inline std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) out.push_back(it->path().string().substr(dir.size() + 1));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The real filesystem, with one failure injected on demand: the `skip`+1-th next call of `op`
// fails with `err` (once). Counts calls per op. Thread-safe.
class FaultyFs final : public StoreFs {
 public:
  void FailNext(FsOp op, int err, int skip = 0) {
    std::lock_guard lock(mu_);
    fault_ = Fault{op, err, skip};
  }
  // Every call of `op` fails with `err` until Heal().
  void FailAlways(FsOp op, int err) {
    std::lock_guard lock(mu_);
    always_ = Fault{op, err, 0};
  }
  void Heal() {
    std::lock_guard lock(mu_);
    fault_.reset();
    always_.reset();
  }
  // The next Rename from a path ending in `from_suffix` fails with `err` (once), whichever
  // thread makes it.
  void FailNextRenameFrom(std::string from_suffix, int err) {
    std::lock_guard lock(mu_);
    rename_fault_ = std::pair{std::move(from_suffix), err};
  }
  int calls(FsOp op) const {
    std::lock_guard lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }
  // How many calls of `op` have returned (failed ones included).
  int completed(FsOp op) const {
    MutexLock lock(done_mu_);
    auto it = completed_.find(op);
    return it == completed_.end() ? 0 : it->second;
  }
  // Blocks until `n` calls of `op` have returned (whichever threads made them), or `limit` of
  // real time passes. Returns whether they did.
  bool AwaitCompleted(FsOp op, int n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    MutexLock lock(done_mu_);
    while (completed_[op] < n) {
      if (!done_cv_.WaitUntil(done_mu_, deadline)) return completed_[op] >= n;
    }
    return true;
  }
  // How many files named `name` were created (CreateExclusive), in any folder.
  int creates_named(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = creates_.find(name);
    return it == creates_.end() ? 0 : it->second;
  }

  Status MakeDir(const std::string& path, mode_t mode) override {
    if (auto e = Hit(FsOp::kMkdir)) return Done(FsOp::kMkdir, *e);
    return Done(FsOp::kMkdir, real_->MakeDir(path, mode));
  }
  Result<int> CreateExclusive(const std::string& path, mode_t mode) override {
    if (auto e = Hit(FsOp::kOpen)) return Done(FsOp::kOpen, *e);
    {
      std::lock_guard lock(mu_);
      ++creates_[path.substr(path.rfind('/') + 1)];
    }
    return Done(FsOp::kOpen, real_->CreateExclusive(path, mode));
  }
  Status Write(int fd, std::string_view data) override {
    if (auto e = Hit(FsOp::kWrite)) return Done(FsOp::kWrite, *e);
    return Done(FsOp::kWrite, real_->Write(fd, data));
  }
  Status Sync(int fd) override {
    if (auto e = Hit(FsOp::kFsync)) return Done(FsOp::kFsync, *e);
    return Done(FsOp::kFsync, real_->Sync(fd));
  }
  Status Close(int fd) override {
    if (auto e = Hit(FsOp::kClose)) {
      (void)real_->Close(fd);
      return Done(FsOp::kClose, Status(*e));
    }
    return Done(FsOp::kClose, real_->Close(fd));
  }
  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    if (auto e = Hit(FsOp::kRename)) return Done(FsOp::kRename, *e);
    std::optional<int> fault_err;
    {
      std::lock_guard lock(mu_);
      if (rename_fault_ && from.ends_with(rename_fault_->first)) {
        fault_err = rename_fault_->second;
        rename_fault_.reset();
      }
    }
    if (fault_err) {
      return Done(FsOp::kRename, SysErr(std::string(FsOpName(FsOp::kRename)), *fault_err));
    }
    return Done(FsOp::kRename, real_->Rename(from, to, no_replace));
  }
  Status SyncDir(const std::string& path) override {
    if (auto e = Hit(FsOp::kFsyncDir)) return Done(FsOp::kFsyncDir, *e);
    return Done(FsOp::kFsyncDir, real_->SyncDir(path));
  }
  Status Remove(const std::string& path) override {
    if (auto e = Hit(FsOp::kUnlink)) return Done(FsOp::kUnlink, *e);
    return Done(FsOp::kUnlink, real_->Remove(path));
  }
  Status RemoveDir(const std::string& path) override {
    if (auto e = Hit(FsOp::kUnlink)) return Done(FsOp::kUnlink, *e);
    return Done(FsOp::kUnlink, real_->RemoveDir(path));
  }
  Result<std::vector<std::string>> List(const std::string& dir) override {
    if (auto e = Hit(FsOp::kList)) return Done(FsOp::kList, *e);
    return Done(FsOp::kList, real_->List(dir));
  }
  Result<std::string> Read(const std::string& path, std::size_t max_bytes) override {
    if (auto e = Hit(FsOp::kRead)) return Done(FsOp::kRead, *e);
    return Done(FsOp::kRead, real_->Read(path, max_bytes));
  }

 private:
  struct Fault {
    FsOp op;
    int err;
    int skip;
  };
  std::optional<Error> Hit(FsOp op) {
    std::lock_guard lock(mu_);
    ++calls_[op];
    if (always_ && always_->op == op) return SysErr(std::string(FsOpName(op)), always_->err);
    if (!fault_ || fault_->op != op) return std::nullopt;
    if (fault_->skip-- > 0) return std::nullopt;
    int err = fault_->err;
    fault_.reset();
    return SysErr(std::string(FsOpName(op)), err);
  }

  // Counts `op` as returned and wakes AwaitCompleted; passes `result` through.
  template <typename T>
  T Done(FsOp op, T result) {
    MutexLock lock(done_mu_);
    ++completed_[op];
    done_cv_.NotifyAll();
    return result;
  }

  std::unique_ptr<StoreFs> real_ = MakePosixStoreFs();
  mutable Mutex done_mu_;
  CondVar done_cv_;
  std::map<FsOp, int> completed_ DRIFT_GUARDED_BY(done_mu_);
  mutable std::mutex mu_;
  std::optional<Fault> fault_;
  std::optional<Fault> always_;
  std::map<FsOp, int> calls_;
  std::optional<std::pair<std::string, int>> rename_fault_;
  std::map<std::string, int> creates_;
};

// Wakes a test that waits for what another thread does. The code under test reports each change
// through an event callback that calls Notify() after the change; Await re-checks its condition
// after each one (with this object's mutex held), so it never misses the change it waits for
// and never polls. Thread-safe.
class Notifier {
 public:
  void Notify() {
    MutexLock lock(mu_);
    ++notifications_;
    cv_.NotifyAll();
  }
  // Blocks until `pred` holds, or `limit` of real time passes (a test that hangs fails instead).
  // Returns whether it holds.
  template <typename Pred>
  bool Await(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    MutexLock lock(mu_);
    while (!pred()) {
      if (!cv_.WaitUntil(mu_, deadline)) return pred();
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  std::uint64_t notifications_ DRIFT_GUARDED_BY(mu_) = 0;
};

// `evidence verify` of the store at `dir`, trusting TestKey(1).
inline VerifyReport VerifyWithTestKey(const std::string& dir) {
  VerifyOptions options;
  options.trusted_keys = {TestKey(1).public_key()};
  Result<VerifyReport> r = VerifyStore(dir, options);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : VerifyReport{};
}

// Runs a real program (argv[0] absolute) and returns its output.
inline CommandOutput RunProgram(std::vector<std::string> argv) {
  static ProcessRunner runner({"/usr/bin", "/bin"});
  Command cmd;
  cmd.argv = std::move(argv);
  cmd.timeout = std::chrono::seconds(30);
  Result<CommandOutput> out = runner.Run(cmd, std::chrono::steady_clock::now() + cmd.timeout);
  if (!out.ok()) {
    CommandOutput failed;
    failed.err = out.error().message;
    return failed;
  }
  return *out;
}

inline constexpr const char* kMinisign = "/usr/bin/minisign";

}  // namespace drift::evidence::testing
