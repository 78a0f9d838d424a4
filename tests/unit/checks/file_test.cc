#include "checks/types/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::file {
namespace {

using testing::Later;
using testing::MakeCheck;

class FileCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.AddFile("/etc/ssh/sshd_config", "PermitRootLogin no\n");
    root_.SetMode("/etc/ssh/sshd_config", 0600);
    root_.SetOwner("/etc/ssh/sshd_config", ::getuid());
    root_.AddSymlink("/etc/ssh/link", "sshd_config");
  }
  CheckResult Run(const Check& c) { return c.Run(t_.host(), Later()); }

  testing::MemoryFileSystem root_;
  testing::TestHost t_{root_};
  const std::string hash_ = ToHex(Sha256Of("PermitRootLogin no\n"));
};

TEST_F(FileCheckTest, CompliantWhenContentModeAndOwnerMatch) {
  CheckPtr c = MakeCheck(
      kType, "    path: /etc/ssh/sshd_config\n    sha256: " + hash_ +
                 "\n    mode: \"0600\"\n    owner_uid: " + std::to_string(::getuid()) + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason, "/etc/ssh/sshd_config matches its baseline");
  EXPECT_EQ(root_.files_read(), std::vector<std::string>{"/etc/ssh/sshd_config"});
}

TEST_F(FileCheckTest, EachDriftCause) {
  root_.AddFile("/etc/ssh/sshd_config", "PermitRootLogin yes\n");
  root_.SetMode("/etc/ssh/sshd_config", 0644);
  root_.SetOwner("/etc/ssh/sshd_config", ::getuid());
  CheckPtr c = MakeCheck(
      kType, "    path: /etc/ssh/sshd_config\n    sha256: " + hash_ +
                 "\n    mode: \"0600\"\n    owner_uid: " + std::to_string(::getuid() + 1) + "\n");
  CheckResult r = Run(*c);
  ASSERT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 3u);
  EXPECT_EQ(r.findings[0].cause, "content_changed");
  EXPECT_EQ(r.findings[0].observed, ToHex(Sha256Of("PermitRootLogin yes\n")));
  EXPECT_EQ(r.findings[1].cause, "mode_changed");
  EXPECT_EQ(r.findings[1].observed, "0644");
  EXPECT_EQ(r.findings[1].expected, "0600");
  EXPECT_EQ(r.findings[2].cause, "owner_changed");
}

TEST_F(FileCheckTest, MissingFileIsDriftAndSymlinkIsNotFollowed) {
  CheckPtr missing = MakeCheck(kType, "    path: /etc/ssh/gone\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*missing);
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "file_missing: observed no such file, expected present");
  CheckPtr link = MakeCheck(kType, "    path: /etc/ssh/link\n    sha256: " + hash_ + "\n");
  EXPECT_EQ(Run(*link).reason, "is_symlink: observed a symlink, expected a regular file");
  EXPECT_TRUE(root_.files_read().empty());  // neither a missing file nor a symlink is read
  CheckPtr followed = MakeCheck(
      kType, "    path: /etc/ssh/link\n    sha256: " + hash_ + "\n    follow_symlinks: true\n");
  EXPECT_EQ(Run(*followed).verdict, Verdict::kCompliant);
}

TEST_F(FileCheckTest, UnreadableIsAnErrorNeverCompliant) {
  root_.Deny("/etc/ssh/sshd_config");
  CheckPtr c = MakeCheck(kType, "    path: /etc/ssh/sshd_config\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "/etc/ssh/sshd_config: Permission denied");
}

TEST_F(FileCheckTest, DirectoryIsAnError) {
  CheckPtr c = MakeCheck(kType, "    path: /etc/ssh\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "/etc/ssh: not a regular file");
}

TEST_F(FileCheckTest, CaptureGivesTheCurrentHash) {
  CheckPtr c = MakeCheck(kType, "    path: /etc/ssh/sshd_config\n");
  auto pins = c->Capture(t_.host(), Later());
  ASSERT_TRUE(pins.ok());
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].key, "sha256");
  EXPECT_EQ((*pins)[0].value, hash_);
}

TEST_F(FileCheckTest, CaptureFailureSaysWhatToDo) {
  auto pins = MakeCheck(kType, "    path: /etc/ssh/gone\n")->Capture(t_.host(), Later());
  ASSERT_FALSE(pins.ok());
  EXPECT_EQ(pins.error().message,
            "/etc/ssh/gone: No such file or directory; create the file, or correct params.path");
  pins = MakeCheck(kType, "    path: /etc/ssh/link\n")->Capture(t_.host(), Later());
  ASSERT_FALSE(pins.ok());
  EXPECT_EQ(pins.error().message,
            "/etc/ssh/link: is a symlink; point the check at the file itself, or set "
            "follow_symlinks: true");
}

TEST(FileCheckParams, BadValuesNameTheKey) {
  testing::ExpectRejected(
      kType,
      {
          {"    path: etc/x\n",
           "drift.yml:5:11: checks[0].params.path: expected an absolute host path, got \"etc/x\""},
          {"    path: /x\n    mode: \"999\"\n",
           "drift.yml:6:11: checks[0].params.mode: expected an octal mode like \"0644\", got "
           "\"999\""},
          {"    path: /x\n    sha256: abc\n",
           "drift.yml:6:13: checks[0].params.sha256: expected a SHA-256 as 64 hex digits, got 3 "
           "characters"},
          {"    mode: \"0644\"\n", "drift.yml:5:5: checks[0].params.path: required key missing"},
      });
}

}  // namespace
}  // namespace drift::checks::file
