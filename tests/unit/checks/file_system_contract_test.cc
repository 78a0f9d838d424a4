// The same assertions against the in-memory fake (tests/support/memory_fs.h) and the real
// RootedFileSystem on a temporary tree: the check tests that run on the fake test what the
// exporter does on a host.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "checks/rooted_fs.h"
#include "tests/support/memory_fs.h"
#include "tests/support/temp_dir.h"

namespace drift::checks {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// Builds a tree and serves it. Files are 0644 and directories 0755, owned by the test's user.
class MemoryTree {
 public:
  void File(std::string_view path, std::string_view content) {
    fs_.AddFile(path, content);
    fs_.SetOwner(path, ::geteuid());
  }
  void Dir(std::string_view path) {
    fs_.AddDir(path);
    fs_.SetOwner(path, ::geteuid());
  }
  void Link(std::string_view path, std::string_view target) { fs_.AddSymlink(path, target); }
  void Fifo(std::string_view path) { fs_.AddOther(path); }
  void Mtime(std::string_view path, WallTime t) { fs_.SetMtime(path, t); }
  void Mode(std::string_view path, mode_t mode) { fs_.SetMode(path, mode); }
  // Makes `path` unreadable; false when this tree cannot (never for the fake).
  bool Deny(std::string_view path) {
    fs_.Deny(path);
    return true;
  }
  const FileSystem& fs() { return fs_; }

 private:
  testing::MemoryFileSystem fs_;
};

class RealTree {
 public:
  void File(std::string_view path, std::string_view content) {
    dir_.Write(path, content);
    ::chmod(dir_.At(path).c_str(), 0644);
  }
  void Dir(std::string_view path) {
    fs::create_directories(dir_.At(path));
    ::chmod(dir_.At(path).c_str(), 0755);
  }
  void Link(std::string_view path, std::string_view target) {
    fs::create_directories(dir_.At(path).parent_path());
    fs::create_symlink(target, dir_.At(path));
  }
  void Fifo(std::string_view path) {
    fs::create_directories(dir_.At(path).parent_path());
    ASSERT_EQ(::mkfifo(dir_.At(path).c_str(), 0644), 0) << path;
  }
  void Mtime(std::string_view path, WallTime t) { dir_.SetMtime(path, t); }
  void Mode(std::string_view path, mode_t mode) { ::chmod(dir_.At(path).c_str(), mode); }
  bool Deny(std::string_view path) {
    if (::geteuid() == 0) return false;  // root reads whatever the mode says
    ::chmod(dir_.At(path).c_str(), 0);
    return true;
  }
  const FileSystem& fs() {
    if (!fs_) fs_ = std::make_unique<RootedFileSystem>(dir_.root());
    return *fs_;
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<RootedFileSystem> fs_;
};

template <typename Tree>
class FileSystemContract : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.File("/etc/os-release", "ID=nixos\n");
    tree_.File("/etc/empty", "");
    tree_.Link("/etc/link", "/etc/os-release");  // absolute: resolves inside the root
    tree_.Link("/etc/climb", "../../../../../../etc/os-release");
    tree_.Link("/etc/relative", "os-release");
    tree_.Link("/etc/dangling", "nowhere");
    tree_.Link("/etc/loop_a", "loop_b");
    tree_.Link("/etc/loop_b", "loop_a");
    tree_.Dir("/nix/var/nix/profiles");
    tree_.Link("/nix/var/nix/profiles/system", "system-42-link");
    tree_.Link("/nix/var/nix/profiles/system-42-link", "/nix/store/abc-nixos-system");
    tree_.File("/nix/store/abc-nixos-system/nixos-version", "24.05\n");
    tree_.Link("/etc/store", "/nix/store");
  }
  const FileSystem& fs() { return tree_.fs(); }
  static Deadline Later() { return std::chrono::steady_clock::now() + seconds(10); }

  Tree tree_;
};

using Trees = ::testing::Types<MemoryTree, RealTree>;
class TreeNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryTree> ? "Memory" : "Rooted";
  }
};
TYPED_TEST_SUITE(FileSystemContract, Trees, TreeNames);

TYPED_TEST(FileSystemContract, ReadsFilesUpToTheLimit) {
  EXPECT_EQ(*this->fs().ReadFile("/etc/os-release", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/etc/os-release", 9), "ID=nixos\n");
  EXPECT_EQ(this->fs().ReadFile("/etc/os-release", 8).error().message,
            "/etc/os-release: larger than 8 bytes");
  EXPECT_EQ(*this->fs().ReadFile("/etc/empty", 0), "");
}

TYPED_TEST(FileSystemContract, MissingRelativeAndNotADirectory) {
  Result<std::string> missing = this->fs().ReadFile("/etc/missing", 100);
  EXPECT_EQ(missing.error().message, "/etc/missing: No such file or directory");
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_EQ(this->fs().Stat("/no/such/dir").error().sys_errno, ENOENT);
  EXPECT_EQ(this->fs().ListDir("/missing").error().message, "/missing: No such file or directory");
  EXPECT_EQ(this->fs().ReadLink("/missing").error().sys_errno, ENOENT);
  EXPECT_EQ(this->fs().ReadFile("etc/os-release", 100).error().message,
            "\"etc/os-release\": expected an absolute host path");
  EXPECT_EQ(this->fs().Stat("").error().message, "\"\": expected an absolute host path");
  Result<std::string> below_file = this->fs().ReadFile("/etc/os-release/x", 100);
  EXPECT_EQ(below_file.error().message, "/etc/os-release/x: Not a directory");
  EXPECT_EQ(below_file.error().sys_errno, ENOTDIR);
  EXPECT_EQ(this->fs().ReadFile("/etc/os-release/", 100).error().sys_errno, ENOTDIR);
}

TYPED_TEST(FileSystemContract, DirectoriesAreListedNotRead) {
  EXPECT_EQ(*this->fs().ListDir("/etc"),
            (std::vector<std::string>{"climb", "dangling", "empty", "link", "loop_a", "loop_b",
                                      "os-release", "relative", "store"}));
  EXPECT_EQ(*this->fs().ListDir("/etc/"), *this->fs().ListDir("/etc"));
  EXPECT_EQ(*this->fs().ListDir("/"), (std::vector<std::string>{"etc", "nix"}));
  // Through a symlink to a directory.
  EXPECT_EQ(*this->fs().ListDir("/etc/store"), (std::vector<std::string>{"abc-nixos-system"}));
  Result<std::string> read_dir = this->fs().ReadFile("/etc", 100);
  EXPECT_EQ(read_dir.error().message, "/etc: Is a directory");
  EXPECT_EQ(read_dir.error().sys_errno, EISDIR);
  EXPECT_EQ(this->fs().ListDir("/etc/os-release").error().message,
            "/etc/os-release: Not a directory");
  EXPECT_EQ(this->fs().HashFile("/etc", true, this->Later()).error().message,
            "/etc: not a regular file");
}

TYPED_TEST(FileSystemContract, StatIsLstatWithModeOwnerSizeAndMtime) {
  const WallTime t = WallTime(seconds(1'700'000'000) + std::chrono::milliseconds(250));
  this->tree_.Mtime("/etc/os-release", t);
  this->tree_.Mtime("/etc/link", t - seconds(60));  // the link's own mtime
  this->tree_.Mode("/etc/os-release", 0640);
  Result<FileStat> file = this->fs().Stat("/etc/os-release");
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file->type, FileStat::Type::kRegular);
  EXPECT_EQ(file->size, 9u);
  EXPECT_EQ(file->mode, 0640u);
  EXPECT_EQ(file->uid, ::geteuid());
  EXPECT_EQ(file->mtime, t);
  Result<FileStat> link = this->fs().Stat("/etc/link");
  EXPECT_EQ(link->type, FileStat::Type::kSymlink);
  EXPECT_EQ(link->size, std::string("/etc/os-release").size());
  EXPECT_EQ(link->mode, 0777u);
  EXPECT_EQ(link->mtime, t - seconds(60));
  EXPECT_EQ(this->fs().Stat("/etc/dangling")->type, FileStat::Type::kSymlink);
  Result<FileStat> dir = this->fs().Stat("/nix/var/nix/profiles");
  EXPECT_EQ(dir->type, FileStat::Type::kDirectory);
  EXPECT_EQ(dir->mode, 0755u);
  EXPECT_EQ(this->fs().Stat("/")->type, FileStat::Type::kDirectory);
  // A symlink before the last component is followed.
  EXPECT_EQ(this->fs().Stat("/etc/store/abc-nixos-system")->type, FileStat::Type::kDirectory);
}

TYPED_TEST(FileSystemContract, SymlinksResolveInsideTheRoot) {
  EXPECT_EQ(*this->fs().ReadFile("/etc/link", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/etc/climb", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/etc/relative", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/../../etc/os-release", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/etc/./store/../../etc/os-release", 100), "ID=nixos\n");
  EXPECT_EQ(*this->fs().ReadFile("/nix/var/nix/profiles/system/nixos-version", 100), "24.05\n");
  EXPECT_EQ(*this->fs().ReadLink("/nix/var/nix/profiles/system"), "system-42-link");
  EXPECT_EQ(*this->fs().ReadLink("/etc/dangling"), "nowhere");
  EXPECT_EQ(this->fs().ReadLink("/etc/os-release").error().message,
            "/etc/os-release: not a symlink");
  EXPECT_EQ(this->fs().ReadFile("/etc/dangling", 100).error().sys_errno, ENOENT);
  Result<std::string> loop = this->fs().ReadFile("/etc/loop_a", 100);
  EXPECT_EQ(loop.error().message, "/etc/loop_a: Too many levels of symbolic links");
  EXPECT_EQ(loop.error().sys_errno, ELOOP);
}

TYPED_TEST(FileSystemContract, HashesFilesAndHonoursNoFollow) {
  EXPECT_EQ(*this->fs().HashFile("/etc/os-release", true, this->Later()), Sha256Of("ID=nixos\n"));
  EXPECT_EQ(*this->fs().HashFile("/etc/link", false, this->Later()), Sha256Of("ID=nixos\n"));
  Result<Sha256Digest> no_follow = this->fs().HashFile("/etc/link", true, this->Later());
  EXPECT_EQ(no_follow.error().message, "/etc/link: is a symlink");
  EXPECT_EQ(no_follow.error().sys_errno, ELOOP);
  // A symlink before the last component is followed even so.
  EXPECT_EQ(*this->fs().HashFile("/etc/store/abc-nixos-system/nixos-version", true, this->Later()),
            Sha256Of("24.05\n"));
  EXPECT_EQ(this->fs().HashFile("/etc/missing", true, this->Later()).error().message,
            "/etc/missing: No such file or directory");
  const Deadline past = std::chrono::steady_clock::now() - seconds(1);
  EXPECT_EQ(this->fs().HashFile("/etc/os-release", true, past).error().message,
            "/etc/os-release: hashing did not finish before the check's timeout");
  EXPECT_EQ(*this->fs().HashFile("/etc/empty", true, past), Sha256Of(""));
}

TYPED_TEST(FileSystemContract, OtherFilesStatAsOtherAndDoNotHash) {
  this->tree_.Fifo("/run/fifo");
  EXPECT_EQ(this->fs().Stat("/run/fifo")->type, FileStat::Type::kOther);
  EXPECT_EQ(*this->fs().ReadFile("/run/fifo", 100), "");  // no writer: nothing to read
  EXPECT_EQ(this->fs().HashFile("/run/fifo", true, this->Later()).error().message,
            "/run/fifo: not a regular file");
}

TYPED_TEST(FileSystemContract, UnreadableFilesAndFoldersArePermissionErrors) {
  this->tree_.File("/secret/key", "k");
  this->tree_.File("/private/data", "d");
  if (!this->tree_.Deny("/secret/key") || !this->tree_.Deny("/private")) {
    GTEST_SKIP() << "root reads files regardless of mode";
  }
  Result<std::string> read = this->fs().ReadFile("/secret/key", 100);
  EXPECT_EQ(read.error().message, "/secret/key: Permission denied");
  EXPECT_EQ(read.error().sys_errno, EACCES);
  EXPECT_EQ(this->fs().HashFile("/secret/key", true, this->Later()).error().sys_errno, EACCES);
  EXPECT_EQ(this->fs().Stat("/secret/key")->type, FileStat::Type::kRegular);
  EXPECT_EQ(this->fs().ListDir("/private").error().message, "/private: Permission denied");
  EXPECT_EQ(this->fs().ReadFile("/private/data", 100).error().sys_errno, EACCES);
  EXPECT_EQ(this->fs().Stat("/private/data").error().sys_errno, EACCES);
  EXPECT_EQ(this->fs().Stat("/private")->type, FileStat::Type::kDirectory);
}

// What only the fake does: it records every file read or hashed, in order.
TEST(MemoryFileSystem, RecordsTheFilesRead) {
  testing::MemoryFileSystem mem;
  mem.AddFile("/etc/os-release", "ID=debian\n");
  ASSERT_TRUE(mem.Stat("/etc/os-release").ok());
  ASSERT_TRUE(mem.ListDir("/etc").ok());
  EXPECT_TRUE(mem.files_read().empty());
  ASSERT_TRUE(mem.ReadFile("/etc/os-release", 100).ok());
  ASSERT_FALSE(mem.ReadFile("/etc/missing", 100).ok());
  ASSERT_TRUE(mem.HashFile("/etc/os-release", true, Deadline::max()).ok());
  EXPECT_EQ(mem.files_read(),
            (std::vector<std::string>{"/etc/os-release", "/etc/missing", "/etc/os-release"}));
  mem.ClearFilesRead();
  EXPECT_TRUE(mem.files_read().empty());
}

TEST(MemoryFileSystem, AddTreeCopiesAFixtureHost) {
  testing::MemoryFileSystem mem;
  mem.AddTree(testing::FixtureHost("nixos-compliant"));
  RootedFileSystem real(testing::FixtureHost("nixos-compliant"));
  EXPECT_EQ(*mem.ListDir("/nix/var/nix/profiles"), *real.ListDir("/nix/var/nix/profiles"));
  EXPECT_EQ(*mem.ReadLink("/nix/var/nix/profiles/system"),
            *real.ReadLink("/nix/var/nix/profiles/system"));
  EXPECT_EQ(*mem.ReadFile("/etc/os-release", 4096), *real.ReadFile("/etc/os-release", 4096));
  EXPECT_EQ(mem.Stat("/etc/os-release")->mode, real.Stat("/etc/os-release")->mode);
  // Symlinks are copied as links, where they are, with their targets as written.
  testing::MemoryFileSystem sys(testing::FixtureHost("encryption-mixed"));
  RootedFileSystem real_sys(testing::FixtureHost("encryption-mixed"));
  EXPECT_EQ(*sys.ListDir("/sys/block"), *real_sys.ListDir("/sys/block"));
  EXPECT_EQ(*sys.ReadLink("/sys/block/dm-0"), "../devices/virtual/block/dm-0");
  EXPECT_EQ(*sys.ReadFile("/sys/block/dm-0/dm/name", 100),
            *real_sys.ReadFile("/sys/block/dm-0/dm/name", 100));
  EXPECT_EQ(sys.Stat("/sys/devices/virtual/block/dm-0")->type, FileStat::Type::kDirectory);
}

}  // namespace
}  // namespace drift::checks
