#include "checks/rooted_fs.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace drift::checks {
namespace {

namespace fs = std::filesystem;

class RootedFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.Write("/etc/os-release", "ID=nixos\n");
    fs::create_directories(root_.At("/nix/var/nix/profiles"));
    // An absolute symlink, as NixOS profiles have: must resolve inside the root.
    fs::create_symlink("/etc/os-release", root_.At("/etc/link"));
    fs::create_symlink("system-42-link", root_.At("/nix/var/nix/profiles/system"));
    fs::create_symlink("../../../../../../../../etc/os-release", root_.At("/etc/climb"));
  }
  testing::TempDir root_;
};

TEST_F(RootedFileSystemTest, ReadsFilesBelowTheRoot) {
  RootedFileSystem rfs(root_.root());
  EXPECT_EQ(*rfs.ReadFile("/etc/os-release", 100), "ID=nixos\n");
  EXPECT_EQ(rfs.ReadFile("/etc/os-release", 3).error().message,
            "/etc/os-release: larger than 3 bytes");
  EXPECT_EQ(rfs.ReadFile("/etc/missing", 100).error().message,
            "/etc/missing: No such file or directory");
  EXPECT_EQ(rfs.ReadFile("etc/os-release", 100).error().message,
            "\"etc/os-release\": expected an absolute host path");
}

TEST_F(RootedFileSystemTest, AbsoluteSymlinksAndDotDotStayInsideTheRoot) {
  RootedFileSystem rfs(root_.root());
  EXPECT_EQ(*rfs.ReadFile("/etc/link", 100), "ID=nixos\n");
  EXPECT_EQ(*rfs.ReadFile("/etc/climb", 100), "ID=nixos\n");
  EXPECT_EQ(*rfs.ReadFile("/../../etc/os-release", 100), "ID=nixos\n");
}

TEST_F(RootedFileSystemTest, StatListAndReadLink) {
  RootedFileSystem rfs(root_.root());
  EXPECT_EQ(rfs.Stat("/etc/link")->type, FileStat::Type::kSymlink);
  EXPECT_EQ(rfs.Stat("/etc/os-release")->type, FileStat::Type::kRegular);
  EXPECT_EQ(rfs.Stat("/etc/os-release")->size, 9u);
  EXPECT_EQ(rfs.Stat("/etc")->type, FileStat::Type::kDirectory);
  EXPECT_EQ(*rfs.ListDir("/etc"), (std::vector<std::string>{"climb", "link", "os-release"}));
  EXPECT_EQ(*rfs.ReadLink("/nix/var/nix/profiles/system"), "system-42-link");
  EXPECT_EQ(rfs.ReadLink("/etc/os-release").error().message, "/etc/os-release: not a symlink");
}

TEST_F(RootedFileSystemTest, HashesFilesAndHonoursNoFollow) {
  RootedFileSystem rfs(root_.root());
  Deadline later = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  EXPECT_EQ(*rfs.HashFile("/etc/os-release", true, later), Sha256Of("ID=nixos\n"));
  EXPECT_EQ(*rfs.HashFile("/etc/link", false, later), Sha256Of("ID=nixos\n"));
  EXPECT_EQ(rfs.HashFile("/etc/link", true, later).error().message, "/etc/link: is a symlink");
  EXPECT_EQ(rfs.HashFile("/etc", false, later).error().message, "/etc: not a regular file");
  Deadline past = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  EXPECT_EQ(rfs.HashFile("/etc/os-release", true, past).error().message,
            "/etc/os-release: hashing did not finish before the check's timeout");
}

TEST(RootedFileSystem, MissingRootThrowsAtStartUp) {
  EXPECT_THROW(RootedFileSystem("/nonexistent/root"), std::runtime_error);
}

}  // namespace
}  // namespace drift::checks
