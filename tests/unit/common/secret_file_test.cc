#include "common/secret_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tests/support/temp_dir.h"

namespace drift {
namespace {

class SecretFileTest : public ::testing::Test {
 protected:
  // Writes `name` with `text` and `mode`; returns its path.
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    dir_.Write("/" + name, text);
    const std::string path = (dir_.path() / name).string();
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(SecretFileTest, ReadsAFilePrivateToItsOwner) {
  for (mode_t mode : {0600, 0400, 0700}) {
    const std::string path = Write("token", "s3cr3t\n", mode);
    Result<std::string> text = ReadSecretFile(path);
    ASSERT_TRUE(text.ok()) << text.error().message;
    EXPECT_EQ(*text, "s3cr3t\n");
  }
}

// The message names the file, its mode and the exact command that fixes it.
TEST_F(SecretFileTest, RefusesAFileItsGroupOrOthersMayRead) {
  const std::string path = Write("token", "s3cr3t\n", 0640);
  EXPECT_EQ(ReadSecretFile(path).error().message,
            path + " is readable by its group or others (mode 0640); run `chmod 600 " + path + "`");
  ASSERT_EQ(::chmod(path.c_str(), 0604), 0);
  EXPECT_EQ(ReadSecretFile(path).error().message,
            path + " is readable by its group or others (mode 0604); run `chmod 600 " + path + "`");
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  EXPECT_EQ(ReadSecretFile(path).error().message,
            path + " is readable by its group or others (mode 0444); run `chmod 400 " + path + "`");
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  EXPECT_EQ(ReadSecretFile(path, {.what = "key_file"}).error().message,
            "key_file " + path +
                " is readable by its group or others (mode 0755); run `chmod 700 " + path + "`");
}

// Writable by the group is only "readable" enough for private_to_owner (a key someone could
// replace); the default check is about reading.
TEST_F(SecretFileTest, PrivateToOwnerRefusesAnyPermissionForOthers) {
  const std::string path = Write("k.key", "key\n", 0620);
  EXPECT_TRUE(ReadSecretFile(path).ok());
  SecretFileOptions options;
  options.what = "secret key file";
  options.private_to_owner = true;
  EXPECT_EQ(ReadSecretFile(path, options).error().message,
            "secret key file " + path +
                " is accessible to its group or others (mode 0620); run `chmod 600 " + path + "`");
}

TEST_F(SecretFileTest, RefusesWhatIsNotARegularFileWithoutBlocking) {
  const std::string fifo = (dir_.path() / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ReadSecretFile(fifo).error().message,
            "cannot read " + fifo + ": not a regular file (a FIFO)");
  EXPECT_EQ(ReadSecretFile(dir_.root()).error().message,
            "cannot read " + dir_.root() + ": not a regular file (a directory)");
}

TEST_F(SecretFileTest, MissingKeepsErrnoAndNamesTheFile) {
  const std::string path = (dir_.path() / "none").string();
  Result<std::string> text = ReadSecretFile(path, {.what = "password_file"});
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message,
            "cannot read password_file " + path + ": No such file or directory");
  EXPECT_TRUE(IsNotFound(text.error()));
}

TEST_F(SecretFileTest, RefusesAFileAboveTheCap) {
  const std::string path = Write("big", std::string(11, 'x'), 0600);
  SecretFileOptions options;
  options.max_bytes = 10;
  Result<std::string> text = ReadSecretFile(path, options);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().message, path + " is larger than 10 bytes");
  EXPECT_EQ(text.error().sys_errno, EFBIG);
  options.max_bytes = 11;
  EXPECT_TRUE(ReadSecretFile(path, options).ok());
}

TEST_F(SecretFileTest, SymbolicLinksOnlyWhenAllowed) {
  const std::string target = Write("token", "s3cr3t\n", 0600);
  const std::string link = (dir_.path() / "link").string();
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_TRUE(ReadSecretFile(link).ok());
  SecretFileOptions options;
  options.follow_symlinks = false;
  EXPECT_EQ(ReadSecretFile(link, options).error().message,
            link + " is a symbolic link; name the file itself");
}

TEST_F(SecretFileTest, OwnerIsCheckedWhenAsked) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  const std::string path = Write("token", "s3cr3t\n", 0600);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  EXPECT_TRUE(ReadSecretFile(path).ok());
  SecretFileOptions options;
  options.check_owner = true;
  EXPECT_EQ(ReadSecretFile(path, options).error().message,
            path + " is owned by uid 65534, not by uid 0 that runs drift_exporter");
}

TEST(WipeSecret, EmptiesTheString) {
  std::string s = "hunter2";
  WipeSecret(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace drift
