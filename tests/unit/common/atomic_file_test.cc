#include "common/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace drift {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// The names in `dir`: a write leaves its file and nothing else (no temporary file).
std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

class AtomicFileTest : public ::testing::Test {
 protected:
  std::string Path(std::string_view name) const { return (dir_.path() / name).string(); }
  testing::TempDir dir_;
};

TEST_F(AtomicFileTest, WritesANewFileWithMode0644WhateverTheUmask) {
  const mode_t old_umask = ::umask(077);
  Status s = WriteFileAtomically(Path("baseline.yml"), "checks: {}\n");
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(Slurp(Path("baseline.yml")), "checks: {}\n");
  EXPECT_EQ(ModeOf(Path("baseline.yml")), 0644u);
  EXPECT_EQ(Names(dir_.path()), (std::vector<std::string>{"baseline.yml"}));
}

TEST_F(AtomicFileTest, ReplacingKeepsTheOldModeUnlessOneIsGiven) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "one", {.mode = 0600}).ok());
  EXPECT_EQ(ModeOf(Path("f")), 0600u);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "two").ok());
  EXPECT_EQ(Slurp(Path("f")), "two");
  EXPECT_EQ(ModeOf(Path("f")), 0600u);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "three", {.mode = 0400}).ok());
  EXPECT_EQ(Slurp(Path("f")), "three");
  EXPECT_EQ(ModeOf(Path("f")), 0400u);
  // Empty content is a file too.
  ASSERT_TRUE(WriteFileAtomically(Path("empty"), "").ok());
  EXPECT_EQ(Slurp(Path("empty")), "");
  EXPECT_EQ(Names(dir_.path()), (std::vector<std::string>{"empty", "f"}));
}

TEST_F(AtomicFileTest, NoReplaceRefusesAnExistingFileAndLeavesIt) {
  ASSERT_TRUE(WriteFileAtomically(Path("key"), "secret", {.mode = 0400, .replace = false}).ok());
  EXPECT_EQ(ModeOf(Path("key")), 0400u);
  Status again =
      WriteFileAtomically(Path("key"), "other", {.mode = std::nullopt, .replace = false});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, Path("key") + ": File exists");
  EXPECT_EQ(again.error().sys_errno, EEXIST);
  EXPECT_EQ(Slurp(Path("key")), "secret");
  // A symlink is there too: not written through.
  fs::create_symlink("elsewhere", Path("link"));
  EXPECT_EQ(WriteFileAtomically(Path("link"), "x", {.mode = std::nullopt, .replace = false})
                .error()
                .sys_errno,
            EEXIST);
  EXPECT_EQ(Names(dir_.path()), (std::vector<std::string>{"key", "link"}));
}

TEST_F(AtomicFileTest, ErrorsNameThePathAndTheReason) {
  Status no_dir = WriteFileAtomically(Path("missing/f"), "x");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_EQ(no_dir.error().message,
            "cannot create a temporary file in " + Path("missing") + ": No such file or directory");
  EXPECT_EQ(no_dir.error().sys_errno, ENOENT);

  fs::create_directory(Path("dir"));
  fs::create_directory(Path("dir/sub"));
  Status over_dir = WriteFileAtomically(Path("dir/sub"), "x");
  ASSERT_FALSE(over_dir.ok());
  const std::string& m = over_dir.error().message;
  EXPECT_TRUE(m.starts_with("cannot rename " + Path("dir/.sub.")) &&
              m.ends_with(" to " + Path("dir/sub") + ": Is a directory"))
      << m;
  EXPECT_EQ(over_dir.error().sys_errno, EISDIR);
  // The temporary file is gone.
  EXPECT_EQ(Names(Path("dir")), (std::vector<std::string>{"sub"}));
}

TEST_F(AtomicFileTest, RefusesAReadOnlyFolder) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into any folder";
  fs::create_directory(Path("ro"));
  ::chmod(Path("ro").c_str(), 0500);
  Status s = WriteFileAtomically(Path("ro/f"), "x");
  ::chmod(Path("ro").c_str(), 0700);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "cannot create a temporary file in " + Path("ro") + ": Permission denied");
  EXPECT_EQ(s.error().sys_errno, EACCES);
}

}  // namespace
}  // namespace drift
