#include "common/regular_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>

#include "tests/support/temp_dir.h"

namespace drift {
namespace {

TEST(ReadRegularFile, ReadsAWholeFileUpToTheCap) {
  testing::TempDir dir;
  dir.Write("/a", "hello\n");
  const std::string a = (dir.path() / "a").string();
  Result<std::string> text = ReadRegularFile(a, 6);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "hello\n");
  Result<std::string> big = ReadRegularFile(a, 5);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message, "larger than 5 bytes");
  EXPECT_EQ(big.error().sys_errno, EFBIG);
}

TEST(ReadRegularFile, MissingKeepsErrno) {
  Result<std::string> text = ReadRegularFile("/nonexistent/a", 100);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message, "No such file or directory");
  EXPECT_EQ(text.error().sys_errno, ENOENT);
}

// Opening a FIFO for reading waits for a writer, and a device can be read for ever: refused at
// once, before any read (this test would hang otherwise).
TEST(ReadRegularFile, RefusesWhatIsNotARegularFileWithoutBlocking) {
  testing::TempDir dir;
  const std::string fifo = (dir.path() / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& [path, type] : {std::pair<std::string, std::string>{fifo, "a FIFO"},
                                   {"/dev/zero", "a character device"},
                                   {dir.root(), "a directory"}}) {
    Result<std::string> text = ReadRegularFile(path, 100);
    ASSERT_FALSE(text.ok()) << path;
    EXPECT_EQ(text.error().message, "not a regular file (" + type + ")");
    EXPECT_EQ(text.error().sys_errno, 0);
  }
}

}  // namespace
}  // namespace drift
