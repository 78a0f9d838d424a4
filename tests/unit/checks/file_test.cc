#include "checks/types/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "checks/rooted_fs.h"
#include "tests/support/fakes.h"

namespace drift::checks::file {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

CheckPtr Make(const std::string& params_yaml) {
  ConfigNode root =
      ConfigNode::Parse("checks:\n- name: f\n  type: file\n  params:\n" + params_yaml, "c.yml");
  ConfigNode check = root.Child("checks").Items()[0];
  return kType.create(Params(check, check.Find("params"), std::nullopt));
}

class FileCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("drift_file_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "etc/ssh");
    std::ofstream(root_ / "etc/ssh/sshd_config") << "PermitRootLogin no\n";
    ::chmod((root_ / "etc/ssh/sshd_config").c_str(), 0600);
    fs::create_symlink("sshd_config", root_ / "etc/ssh/link");
    rfs_ = std::make_unique<RootedFileSystem>(root_.string());
  }
  void TearDown() override { fs::remove_all(root_); }
  CheckResult Run(const Check& c) {
    Host host{*rfs_, runner_, services_, journal_, clock_};
    return c.Run(host, std::chrono::steady_clock::now() + 5s);
  }

  fs::path root_;
  std::unique_ptr<RootedFileSystem> rfs_;
  testing::FakeClock clock_;
  testing::FakeCommandRunner runner_;
  testing::FakeServiceManager services_;
  testing::FakeJournal journal_{clock_};
  const std::string hash_ = ToHex(Sha256Of("PermitRootLogin no\n"));
};

TEST_F(FileCheckTest, CompliantWhenContentModeAndOwnerMatch) {
  CheckPtr c = Make("    path: /etc/ssh/sshd_config\n    sha256: " + hash_ +
                    "\n    mode: \"0600\"\n    owner_uid: " + std::to_string(::getuid()) + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason, "/etc/ssh/sshd_config matches its baseline");
}

TEST_F(FileCheckTest, EachDriftCause) {
  std::ofstream(root_ / "etc/ssh/sshd_config") << "PermitRootLogin yes\n";
  ::chmod((root_ / "etc/ssh/sshd_config").c_str(), 0644);
  CheckPtr c =
      Make("    path: /etc/ssh/sshd_config\n    sha256: " + hash_ +
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
  CheckPtr missing = Make("    path: /etc/ssh/gone\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*missing);
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "file_missing: observed no such file, expected present");
  CheckPtr link = Make("    path: /etc/ssh/link\n    sha256: " + hash_ + "\n");
  EXPECT_EQ(Run(*link).reason, "is_symlink: observed a symlink, expected a regular file");
  CheckPtr followed =
      Make("    path: /etc/ssh/link\n    sha256: " + hash_ + "\n    follow_symlinks: true\n");
  EXPECT_EQ(Run(*followed).verdict, Verdict::kCompliant);
}

TEST_F(FileCheckTest, UnreadableIsAnErrorNeverCompliant) {
  if (::getuid() == 0) GTEST_SKIP() << "root reads files regardless of mode";
  ::chmod((root_ / "etc/ssh/sshd_config").c_str(), 0);
  CheckPtr c = Make("    path: /etc/ssh/sshd_config\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "/etc/ssh/sshd_config: Permission denied");
}

TEST_F(FileCheckTest, DirectoryIsAnError) {
  CheckPtr c = Make("    path: /etc/ssh\n    sha256: " + hash_ + "\n");
  CheckResult r = Run(*c);
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "/etc/ssh: not a regular file");
}

TEST_F(FileCheckTest, CaptureGivesTheCurrentHash) {
  CheckPtr c = Make("    path: /etc/ssh/sshd_config\n");
  Host host{*rfs_, runner_, services_, journal_, clock_};
  auto pins = c->Capture(host, std::chrono::steady_clock::now() + 5s);
  ASSERT_TRUE(pins.ok());
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].key, "sha256");
  EXPECT_EQ((*pins)[0].value, hash_);
}

TEST(FileCheckParams, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf([] { Make("    path: etc/x\n"); }),
            "c.yml:5:11: checks[0].params.path: expected an absolute host path");
  EXPECT_EQ(ErrorOf([] { Make("    path: /x\n    mode: \"999\"\n"); }),
            "c.yml:6:11: checks[0].params.mode: expected an octal mode like \"0644\", got \"999\"");
  EXPECT_EQ(
      ErrorOf([] { Make("    path: /x\n    sha256: abc\n"); }),
      "c.yml:6:13: checks[0].params.sha256: expected a SHA-256 as 64 hex digits, got 3 characters");
  EXPECT_EQ(ErrorOf([] { Make("    mode: \"0644\"\n"); }),
            "c.yml:5:5: checks[0].params.path: required key missing");
}

}  // namespace
}  // namespace drift::checks::file
