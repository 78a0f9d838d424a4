#include "checks/types/av_edr.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/check_testing.h"

namespace drift::checks::av_edr {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::Later;
using testing::MakeCheck;
using testing::Str;

constexpr std::string_view kHealthySha =
    "d383d06e24a1d2bead2de9e8343a68e3ec8caea22448f0c8b849cf67cf7fdf8c";
constexpr std::string_view kTamperedSha =
    "7686d9eca3ba9b13aef8f5752969c6b5f1ffec8b4b801cd7c35e5ecb1b1697a7";

std::string ParamsWith(std::string_view binary = "/usr/sbin/clamd", std::string_view extra = "") {
  return fmt::format(
      "    service: clamav-daemon.service\n    binary: {}\n    binary_sha256: {}\n{}", binary,
      kHealthySha, extra);
}

class AvEdrTest : public ::testing::Test {
 protected:
  explicit AvEdrTest(std::string_view scenario = "av_edr_healthy")
      : t_(testing::FixtureHost(scenario)) {
    t_.services.Set("clamav-daemon.service", "active");
  }

  testing::TestHost t_;
};

class AvEdrTamperedTest : public AvEdrTest {
 protected:
  AvEdrTamperedTest() : AvEdrTest("av_edr_tampered") {}
};

class AvEdrSymlinkTest : public AvEdrTest {
 protected:
  AvEdrSymlinkTest() : AvEdrTest("av_edr_symlink") {}
};

TEST(AvEdrType, Metadata) {
  testing::ExpectTypeDefaults(kType, {"av_edr",
                                      Severity::kHigh,
                                      {{"hipaa", "164.308(a)(5)(ii)(B)"}, {"hipaa", "164.312(b)"}},
                                      "restart_av_service",
                                      {}});
}

TEST_F(AvEdrTest, CompliantWhenActiveAndHashMatches) {
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason,
            "clamav-daemon.service is active and /usr/sbin/clamd matches its baseline SHA-256");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;binary_sha256={};", kHealthySha));
  EXPECT_TRUE(r.measures.empty());
  EXPECT_EQ(t_.memory->files_read(), std::vector<std::string>{"/usr/sbin/clamd"});  // hashed once
}

TEST_F(AvEdrTest, InactiveServiceIsHighDrift) {
  t_.services.Set("clamav-daemon.service", "failed");
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "service_inactive: observed failed, expected active");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | failed | active | high");
}

TEST_F(AvEdrTamperedTest, HashMismatchIsCriticalDrift) {
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, fmt::format("binary_hash_mismatch: observed {}, expected {}", kTamperedSha,
                                  kHealthySha));
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            fmt::format("binary_hash_mismatch | {} | {} | critical", kTamperedSha, kHealthySha));
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=active;binary_sha256={};", kTamperedSha));
}

TEST_F(AvEdrTamperedTest, ReportsEveryCause) {
  t_.services.Set("clamav-daemon.service", "inactive");
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | inactive | active | high");
  EXPECT_EQ(Str(r.findings[1]),
            fmt::format("binary_hash_mismatch | {} | {} | critical", kTamperedSha, kHealthySha));
}

// The binary to hash is not there: say it is not installed, not a bare errno.
TEST_F(AvEdrTest, MissingBinaryIsAnErrorSayingItIsNotInstalled) {
  CheckResult r = MakeCheck(kType, ParamsWith("/usr/bin/falcon-sensor"))->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "the agent binary /usr/bin/falcon-sensor is not installed (no such file; is `binary` "
            "the agent's path?)");
  EXPECT_TRUE(r.findings.empty());
}

// A service without a unit file is drift that says the service is not installed.
TEST_F(AvEdrTest, ServiceNotInstalledIsDriftSayingSo) {
  t_.services.Set("clamav-daemon.service", std::string(kUnitNotFound));
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "service_inactive: observed clamav-daemon.service is not installed, expected active");
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]),
            "service_inactive | clamav-daemon.service is not installed | active | high");
  EXPECT_EQ(Str(r.observations),
            fmt::format("service_state=not installed;binary_sha256={};", kHealthySha));
}

TEST_F(AvEdrTest, ServiceQueryFailureIsAnError) {
  CheckResult r =
      MakeCheck(kType,
                fmt::format("    service: falcon-sensor.service\n    binary: /usr/sbin/clamd\n"
                            "    binary_sha256: {}\n",
                            kHealthySha))
          ->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot read the state of falcon-sensor.service: systemctl: cannot query "
            "falcon-sensor.service");
}

TEST_F(AvEdrTest, ExpiredDeadlineIsAnError) {
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), steady_clock::now() - seconds(1));
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cannot hash the agent binary: /usr/sbin/clamd: hashing did not finish before the "
            "check's timeout");
}

TEST_F(AvEdrTest, KnownDriftStandsWhenTheBinaryCannotBeRead) {
  t_.services.Set("clamav-daemon.service", "inactive");
  CheckResult r = MakeCheck(kType, ParamsWith("/usr/bin/falcon-sensor"))->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(Str(r.findings[0]), "service_inactive | inactive | active | high");
  EXPECT_EQ(Str(r.observations),
            "service_state=inactive;binary_sha256=unknown: the agent binary "
            "/usr/bin/falcon-sensor is not installed (no such file; is `binary` the agent's "
            "path?);");
}

TEST_F(AvEdrSymlinkTest, SymlinkedBinaryIsNotFollowedByDefault) {
  CheckResult r = MakeCheck(kType, ParamsWith())->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot hash the agent binary: /usr/sbin/clamd: is a symlink");
}

TEST_F(AvEdrSymlinkTest, FollowSymlinksHashesTheTarget) {
  CheckResult r = MakeCheck(kType, ParamsWith("/usr/sbin/clamd", "    follow_symlinks: true\n"))
                      ->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
}

TEST_F(AvEdrTest, CaptureReturnsTheCurrentHash) {
  Result<std::vector<Observation>> captured =
      MakeCheck(kType, ParamsWith())->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("binary_sha256={};", kHealthySha));
}

TEST_F(AvEdrTamperedTest, CaptureReturnsTheCurrentHashNotTheBaseline) {
  Result<std::vector<Observation>> captured =
      MakeCheck(kType, ParamsWith())->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("binary_sha256={};", kTamperedSha));
}

TEST_F(AvEdrTest, CaptureOfAMissingBinaryFails) {
  Result<std::vector<Observation>> captured =
      MakeCheck(kType, ParamsWith("/usr/bin/falcon-sensor"))->Capture(t_.host(), Later());
  ASSERT_FALSE(captured.ok());
  // Capture says what to do: `baseline capture` prints it.
  EXPECT_EQ(captured.error().message,
            "the agent binary /usr/bin/falcon-sensor is not installed (no such file; is `binary` "
            "the agent's path?); install the agent, or correct params.binary");
  EXPECT_EQ(captured.error().sys_errno, ENOENT);
}

TEST_F(AvEdrTest, BaselineSuppliesTheHashAndBinaryPathIsNormalised) {
  CheckPtr check =
      MakeCheck(kType, "    service: clamav-daemon.service\n    binary: /usr//sbin/./clamd\n",
                fmt::format("binary_sha256: {}\n", kHealthySha));
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant) << r.reason;
  EXPECT_EQ(r.reason,
            "clamav-daemon.service is active and /usr/sbin/clamd matches its baseline SHA-256");
}

// An unpinned check loads (onboarding a host) and captures, but every run is an error.
TEST_F(AvEdrTest, UnpinnedCheckCapturesButDoesNotRun) {
  EXPECT_EQ(kType.pinned_keys.size(), 1u);
  EXPECT_EQ(kType.pinned_keys[0], "binary_sha256");
  CheckPtr check =
      MakeCheck(kType, "    service: clamav-daemon.service\n    binary: /usr/sbin/clamd\n");
  Result<std::vector<Observation>> captured = check->Capture(t_.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Str(*captured), fmt::format("binary_sha256={};", kHealthySha));
  CheckResult r = check->Run(t_.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "binary_sha256 not pinned: run `drift_exporter baseline capture`");
}

TEST(AvEdrFactory, RejectsBadParams) {
  const std::string sha = std::string(kHealthySha);
  testing::ExpectRejected(
      kType,
      {
          {"    service: '-x'\n    binary: /usr/sbin/clamd\n    binary_sha256: " + sha + "\n",
           "drift.yml:5:14: checks[0].params.service: expected a systemd unit name like "
           "nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got "
           "\"-x\""},
          {"    service: clamd service\n    binary: /usr/sbin/clamd\n    binary_sha256: " + sha +
               "\n",
           "drift.yml:5:14: checks[0].params.service: expected a systemd unit name like "
           "nftables.service (letters, digits and :_.\\@-, not starting with '-' or '.'), got "
           "\"clamd service\""},
          {"    binary: /usr/sbin/clamd\n    binary_sha256: " + sha + "\n",
           "drift.yml:5:5: checks[0].params.service: required key missing"},
          {"    service: clamd.service\n    binary: usr/sbin/clamd\n    binary_sha256: " + sha +
               "\n",
           "drift.yml:6:13: checks[0].params.binary: expected an absolute host path, got "
           "\"usr/sbin/clamd\""},
          {"    service: clamd.service\n    binary_sha256: " + sha + "\n",
           "drift.yml:5:5: checks[0].params.binary: required key missing"},
          {"    service: clamd.service\n    binary: /usr/sbin/clamd\n    binary_sha256: abc\n",
           "drift.yml:7:20: checks[0].params.binary_sha256: expected a SHA-256 as 64 hex digits, "
           "got 3 characters"},
          {"    service: clamd.service\n    binary: /usr/sbin/clamd\n    binary_sha256: " + sha +
               "\n    follow_symlinks: yes\n",
           "drift.yml:8:22: checks[0].params.follow_symlinks: expected true or false, got "
           "\"yes\""},
          {"    service: clamd.service\n    binary: /usr/sbin/clamd\n    binary_sha256: " + sha +
               "\n",
           "baseline.yml:1:16: binary_sha256: also set in drift.yml at line 7; set it in one "
           "place",
           "binary_sha256: " + sha + "\n"},
      });
}

}  // namespace
}  // namespace drift::checks::av_edr
