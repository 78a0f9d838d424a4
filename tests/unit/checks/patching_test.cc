#include "checks/types/patching.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::patching {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using testing::ExpectFinding;
using testing::ExpectRejected;
using testing::FakeClock;
using testing::FakeCommandRunner;
using testing::FixtureHost;
using testing::Later;
using testing::MakeCheck;
using testing::Measures;
using testing::MemoryFileSystem;
using testing::Pairs;
using testing::TestHost;

const std::string kAptGet = "apt-get --simulate --quiet --quiet upgrade";

// ---------------------------------------------------------------------------------------------
// Pure parsers

TEST(PatchingParseOsRelease, ReadsIdAndIdLikeWithQuotesAndEscapes) {
  OsRelease nixos = ParseOsRelease("# comment\nNAME=NixOS\nID=nixos\nVERSION_ID=\"23.11\"\n");
  EXPECT_EQ(nixos.id, "nixos");
  EXPECT_EQ(nixos.id_like, "");
  OsRelease mint = ParseOsRelease("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n");
  EXPECT_EQ(mint.id, "linuxmint");
  EXPECT_EQ(mint.id_like, "ubuntu debian");
  OsRelease quoted = ParseOsRelease("  ID='debian'  \r\nID_LIKE=\"a\\\"b\"\nbroken line\n");
  EXPECT_EQ(quoted.id, "debian");
  EXPECT_EQ(quoted.id_like, "a\"b");
  EXPECT_EQ(ParseOsRelease("").id, "");
}

TEST(PatchingDetectOs, NixosDebianAndDebianLike) {
  EXPECT_EQ(*DetectOs({"nixos", ""}), Os::kNixos);
  EXPECT_EQ(*DetectOs({"debian", ""}), Os::kDebian);
  EXPECT_EQ(*DetectOs({"ubuntu", "debian"}), Os::kDebian);
  EXPECT_EQ(*DetectOs({"linuxmint", "ubuntu debian"}), Os::kDebian);
}

TEST(PatchingDetectOs, OtherSystemsAreErrors) {
  EXPECT_EQ(DetectOs({"fedora", ""}).error().message,
            "unsupported OS \"fedora\" in os-release; patching supports NixOS and Debian-family "
            "hosts");
  EXPECT_EQ(DetectOs({"rocky", "rhel centos fedora"}).error().message,
            "unsupported OS \"rocky\" (ID_LIKE \"rhel centos fedora\") in os-release; patching "
            "supports NixOS and Debian-family hosts");
  EXPECT_EQ(DetectOs({"", "debianish"}).error().message,
            "os-release has no ID; set params.os to nixos or debian");
}

TEST(PatchingParseGenerationLink, ReadsTheGenerationNumber) {
  EXPECT_EQ(*ParseGenerationLink("system-42-link", "system"), 42);
  EXPECT_EQ(*ParseGenerationLink("system-1-link", "system"), 1);
  EXPECT_EQ(*ParseGenerationLink("per-user-7-link", "per-user"), 7);
}

TEST(PatchingParseGenerationLink, RejectsEverythingElse) {
  for (std::string_view bad :
       {"system-0-link", "system-042-link", "system--1-link", "system-+1-link", "system-42",
        "system42-link", "system--link", "system-4a-link", "default-42-link",
        "/nix/var/nix/profiles/system-42-link", "system-99999999999999999999-link", ""}) {
    EXPECT_EQ(ParseGenerationLink(bad, "system").error().message,
              fmt::format("profile link points at {:?}, expected system-<generation>-link", bad))
        << bad;
  }
}

TEST(PatchingParseGenerations, ListsTheProfilesGenerationsAscending) {
  const std::vector<std::string> names{"default",        "default-3-link",   "system",
                                       "system-42-link", "system-40-link",   "system-41-link",
                                       "system-x-link",  "system-9-link.tmp"};
  EXPECT_EQ(ParseGenerations(names, "system"), (std::vector<std::int64_t>{40, 41, 42}));
  EXPECT_EQ(ParseGenerations(names, "default"), (std::vector<std::int64_t>{3}));
  EXPECT_TRUE(ParseGenerations({}, "system").empty());
}

// Real `apt-get --simulate --quiet --quiet upgrade` output of an unprivileged user on Debian 12.
constexpr std::string_view kAptOutput =
    "NOTE: This is only a simulation!\n"
    "      apt-get needs root privileges for real execution.\n"
    "      Keep also in mind that locking is deactivated,\n"
    "      so don't depend on the relevance to the real current situation!\n"
    "Inst base-files [12.4+deb12u11] (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
    "Conf base-files (12.4+deb12u15 Debian:12.15/oldstable [amd64])\n"
    "Inst libgcrypt20 [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, "
    "Debian-Security:12/oldstable-security [amd64])\n"
    "Conf libgcrypt20 (1.10.1-3+deb12u1 Debian:12.15/oldstable, "
    "Debian-Security:12/oldstable-security [amd64])\n"
    "Inst liblzma5 [5.4.1-1] (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64]) []\n"
    "Inst linux-image-6.1.0-18-amd64 (6.1.76-1 Debian-Security:12/stable-security [amd64])\n"
    "Inst app-security-tools [1.0] (1.1 Example:stable [all])\n"
    "Conf liblzma5 (5.4.1-1+deb12u2 Debian-Security:12/oldstable-security [amd64])\n";

TEST(PatchingParseAptSimulate, CountsInstLinesAndSecurityOrigins) {
  AptSimulation s = *ParseAptSimulate(kAptOutput);
  EXPECT_EQ(s.upgrades, 5);
  EXPECT_EQ(s.security_upgrades, 3);
  AptSimulation ubuntu = *ParseAptSimulate(
      "Inst libc6 [2.39-0ubuntu8.4] (2.39-0ubuntu8.5 Ubuntu:24.04/noble-security [amd64])\n");
  EXPECT_EQ(ubuntu.upgrades, 1);
  EXPECT_EQ(ubuntu.security_upgrades, 1);
  AptSimulation none = *ParseAptSimulate("");
  EXPECT_EQ(none.upgrades, 0);
  EXPECT_EQ(none.security_upgrades, 0);
}

TEST(PatchingParseAptSimulate, MalformedInstLinesAreErrors) {
  EXPECT_EQ(ParseAptSimulate("Inst\n").error().message,
            "expected \"Inst <package> ... (<version> <suites>)\", got \"Inst\"");
  EXPECT_EQ(ParseAptSimulate("Conf x (1 a)\nInst libc6\n").error().message,
            "expected \"Inst <package> ... (<version> <suites>)\", got \"Inst libc6\"");
  EXPECT_EQ(ParseAptSimulate("Inst libc6 [2.36-9]\n").error().message,
            "expected \"Inst <package> ... (<version> <suites>)\", got \"Inst libc6 [2.36-9]\"");
  EXPECT_EQ(ParseAptSimulate("Inst (2.36 Debian:12 [amd64])\n").error().message,
            "expected \"Inst <package> ... (<version> <suites>)\", got \"Inst (2.36 Debian:12 "
            "[amd64])\"");
}

// ---------------------------------------------------------------------------------------------
// Factory

TEST(PatchingFactory, DescribesTheType) {
  testing::ExpectTypeDefaults(
      kType, {"patching",
              Severity::kHigh,
              {{"hipaa", "164.308(a)(5)(ii)(B)"}},
              "update_to_baseline_generation",
              {"drift_patching_generation", "drift_patching_generation_age_seconds",
               "drift_patching_apt_lists_age_seconds", "drift_patching_pending_upgrades",
               "drift_patching_pending_security_upgrades"}});
}

TEST(PatchingFactory, RejectsBadParams) {
  ExpectRejected(
      kType,
      {
          {"    max_age: -1d\n",
           "drift.yml:5:14: checks[0].params.max_age: negative duration \"-1d\"; expected a "
           "positive duration"},
          {"    apt_lists_max_age: 0s\n",
           "drift.yml:5:24: checks[0].params.apt_lists_max_age: zero duration \"0s\"; expected "
           "a positive duration"},
          {"    os: windows\n",
           "drift.yml:5:9: checks[0].params.os: expected one of auto, nixos, debian, got "
           "\"windows\""},
          {"    profile: nix/var/nix/profiles/system\n",
           "drift.yml:5:14: checks[0].params.profile: expected an absolute host path, got "
           "\"nix/var/nix/profiles/system\""},
          {"    profile: /nix/var/nix/profiles/\n",
           "drift.yml:5:14: checks[0].params.profile: expected the path of a profile link, e.g. "
           "/nix/var/nix/profiles/system"},
          {"    expected_generation: 0\n",
           "drift.yml:5:26: checks[0].params.expected_generation: expected an integer from 1 to "
           "2147483647, got 0"},
          {"    expected_generation: latest\n",
           "drift.yml:5:26: checks[0].params.expected_generation: expected an integer from 1 to "
           "2147483647, got \"latest\""},
          {"    max_pending_upgrades: -1\n",
           "drift.yml:5:27: checks[0].params.max_pending_upgrades: expected an integer from 0 "
           "to 2147483647, got -1"},
          {"    reboot_required_file: run/reboot-required\n",
           "drift.yml:5:27: checks[0].params.reboot_required_file: expected an absolute host "
           "path, got \"run/reboot-required\""},
      });
}

TEST(PatchingFactory, KeysOfTheOtherOsAreUnknown) {
  ExpectRejected(
      kType,
      {
          {"    os: debian\n    profile: /nix/var/nix/profiles/system\n",
           "drift.yml:6:5: checks[0].params.profile: unknown key; expected one of: "
           "apt_lists_max_age, max_pending_upgrades, os, reboot_required_file"},
          {"    os: nixos\n    max_pending_upgrades: 3\n",
           "drift.yml:6:5: checks[0].params.max_pending_upgrades: unknown key; expected one of: "
           "expected_generation, max_age, os, profile"},
          {"    max_age: 30d\n    maxage: 1d\n",
           "drift.yml:6:5: checks[0].params.maxage: unknown key; expected one of: "
           "apt_lists_max_age, expected_generation, max_age, max_pending_upgrades, os, profile, "
           "reboot_required_file"},
      });
}

TEST(PatchingFactory, ExpectedGenerationMayComeFromTheBaselineButNotBoth) {
  EXPECT_NE(MakeCheck(kType, "    os: nixos\n", "expected_generation: 42\n"), nullptr);
  try {
    MakeCheck(kType, "    os: nixos\n    expected_generation: 41\n", "expected_generation: 42\n");
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "baseline.yml:1:22: expected_generation: also set in drift.yml at line 6; set it in "
              "one place");
  }
}

// ---------------------------------------------------------------------------------------------
// Run() against fixture trees, copied into memory

const WallTime kNow = FakeClock().Now();  // 2023-11-14T22:13:20Z

class PatchingNixosTest : public ::testing::Test {
 protected:
  // Generation links as a NixOS host has them: 40 and 41 older, 42 (current) 3 days old.
  void Age(MemoryFileSystem& root) {
    root.SetMtime("/nix/var/nix/profiles/system-40-link", kNow - days(60));
    root.SetMtime("/nix/var/nix/profiles/system-41-link", kNow - days(20));
    root.SetMtime("/nix/var/nix/profiles/system-42-link", kNow - days(3));
  }
};

TEST_F(PatchingNixosTest, CurrentExpectedAndFreshGenerationIsCompliant) {
  MemoryFileSystem root(FixtureHost("nixos-compliant"));
  Age(root);
  TestHost t(root);
  CheckResult r =
      MakeCheck(kType, "    expected_generation: 42\n    max_age: 30d\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "on generation 42, created 3d ago");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(Pairs(r.observations), (std::vector<std::pair<std::string, std::string>>{
                                       {"os", "nixos"},
                                       {"profile", "/nix/var/nix/profiles/system"},
                                       {"current_generation", "42"},
                                       {"generation_created", "2023-11-11T22:13:20Z"},
                                       {"generation_age", "3d"},
                                       {"newest_generation", "42"},
                                   }));
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_patching_generation", 42},
                             {"drift_patching_generation_age_seconds", 3 * 86400}}));
  // NixOS needs no command at all, and reads no file but os-release (the generation comes from
  // the profile link and the lstat of its target).
  EXPECT_TRUE(t.commands.commands_ran().empty());
  EXPECT_EQ(root.files_read(), std::vector<std::string>{"/etc/os-release"});
}

TEST_F(PatchingNixosTest, WithoutAnExpectedGenerationOnlyAgeMatters) {
  MemoryFileSystem root(FixtureHost("nixos-compliant"));
  Age(root);
  TestHost t(root);
  EXPECT_EQ(MakeCheck(kType, "    os: nixos\n")->Run(t.host(), Later()).verdict,
            Verdict::kCompliant);
}

TEST_F(PatchingNixosTest, RolledBackGenerationIsAMismatch) {
  MemoryFileSystem root(FixtureHost("nixos-rolled-back"));
  Age(root);
  TestHost t(root);
  CheckResult r = MakeCheck(kType, "    expected_generation: 42\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "generation_mismatch: observed generation 41, expected generation 42");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "generation_mismatch", "generation 41", "generation 42");
  EXPECT_EQ(Pairs(r.observations)[2],
            (std::pair<std::string, std::string>{"current_generation", "41"}));
  EXPECT_EQ(Pairs(r.observations)[5],
            (std::pair<std::string, std::string>{"newest_generation", "42"}));
  // Measured also when drifted.
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_patching_generation", 41},
                             {"drift_patching_generation_age_seconds", 20 * 86400}}));
}

TEST_F(PatchingNixosTest, OldGenerationIsTooOld) {
  MemoryFileSystem root(FixtureHost("nixos-compliant"));
  root.SetMtime("/nix/var/nix/profiles/system-42-link",
                kNow - days(31) - hours(4) - minutes(1) - std::chrono::milliseconds(400));
  TestHost t(root);
  CheckResult r = MakeCheck(kType, "    max_age: 30d\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "generation_too_old: observed 31d4h1m, expected at most 30d");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "generation_too_old", "31d4h1m", "at most 30d");
}

TEST_F(PatchingNixosTest, BothCausesAreReported) {
  MemoryFileSystem root(FixtureHost("nixos-rolled-back"));
  root.SetMtime("/nix/var/nix/profiles/system-41-link", kNow - days(2));
  TestHost t(root);
  CheckResult r =
      MakeCheck(kType, "    expected_generation: 42\n    max_age: 1d\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "generation_mismatch: observed generation 41, expected generation 42; "
            "generation_too_old: observed 2d, expected at most 1d");
}

TEST_F(PatchingNixosTest, GenerationFromTheFutureCountsAsNew) {
  MemoryFileSystem root(FixtureHost("nixos-compliant"));
  root.SetMtime("/nix/var/nix/profiles/system-42-link", kNow + hours(1));
  TestHost t(root);
  CheckResult r = MakeCheck(kType, "    os: nixos\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "on generation 42, created 0s ago");
}

TEST_F(PatchingNixosTest, ProblemsReadingTheProfileAreErrors) {
  MemoryFileSystem root(FixtureHost("nixos-compliant"));
  Age(root);
  TestHost t(root);
  CheckResult missing =
      MakeCheck(kType, "    profile: /nix/var/nix/profiles/gone\n")->Run(t.host(), Later());
  EXPECT_EQ(missing.verdict, Verdict::kError);
  EXPECT_EQ(missing.reason,
            "cannot read the system profile link: /nix/var/nix/profiles/gone: No such file or "
            "directory");
  CheckResult not_link = MakeCheck(kType, "    profile: /etc/os-release\n")->Run(t.host(), Later());
  EXPECT_EQ(not_link.verdict, Verdict::kError);
  EXPECT_EQ(not_link.reason, "cannot read the system profile link: /etc/os-release: not a symlink");

  root.AddSymlink("/nix/var/nix/profiles/system", "/nix/store/9a2c4e6g-nixos-system");
  CheckResult odd = MakeCheck(kType, "    os: nixos\n")->Run(t.host(), Later());
  EXPECT_EQ(odd.verdict, Verdict::kError);
  EXPECT_EQ(odd.reason,
            "/nix/var/nix/profiles/system: profile link points at "
            "\"/nix/store/9a2c4e6g-nixos-system\", expected system-<generation>-link");

  root.AddSymlink("/nix/var/nix/profiles/system", "system-43-link");
  CheckResult dangling = MakeCheck(kType, "    os: nixos\n")->Run(t.host(), Later());
  EXPECT_EQ(dangling.verdict, Verdict::kError);
  EXPECT_EQ(dangling.reason,
            "cannot stat the current generation's link: /nix/var/nix/profiles/system-43-link: No "
            "such file or directory");
}

TEST_F(PatchingNixosTest, CaptureRecordsTheCurrentGeneration) {
  MemoryFileSystem root(FixtureHost("nixos-rolled-back"));
  TestHost t(root);
  Result<std::vector<Observation>> captured = MakeCheck(kType, "")->Capture(t.host(), Later());
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(Pairs(*captured),
            (std::vector<std::pair<std::string, std::string>>{{"expected_generation", "41"}}));
}

TEST(PatchingAutoDetect, UnsupportedOrUnreadableOsReleaseIsAnError) {
  MemoryFileSystem root;
  TestHost t(root);
  CheckResult none = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(none.verdict, Verdict::kError);
  EXPECT_EQ(none.reason,
            "cannot detect the OS (set params.os to nixos or debian): /etc/os-release: No such "
            "file or directory");
  EXPECT_EQ(MakeCheck(kType, "")->Capture(t.host(), Later()).error().message,
            none.reason + "; make /etc/os-release readable, or set params.os");

  root.AddFile("/etc/os-release", "ID=fedora\nID_LIKE=\"rhel centos\"\n");
  CheckResult fedora = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(fedora.verdict, Verdict::kError);
  EXPECT_EQ(fedora.reason,
            "unsupported OS \"fedora\" (ID_LIKE \"rhel centos\") in os-release; patching supports "
            "NixOS and Debian-family hosts");
}

// The runbook fits the host: a Debian host must not be told to switch NixOS generations.
TEST(PatchingAutoDetect, TheDefaultActionFollowsTheOs) {
  MemoryFileSystem root;
  TestHost t(root);
  // No os-release: the loader keeps the type's default.
  EXPECT_EQ(MakeCheck(kType, "")->HostDefaultAction(t.fs), "");
  root.AddFile("/etc/os-release", "ID=nixos\n");
  EXPECT_EQ(MakeCheck(kType, "")->HostDefaultAction(t.fs), "update_to_baseline_generation");
  root.AddFile("/etc/os-release", "ID=ubuntu\nID_LIKE=debian\n");
  EXPECT_EQ(MakeCheck(kType, "")->HostDefaultAction(t.fs), "apply_security_upgrades");
  // A configured os wins over what the host says.
  EXPECT_EQ(MakeCheck(kType, "    os: nixos\n")->HostDefaultAction(t.fs),
            "update_to_baseline_generation");
  root.AddFile("/etc/os-release", "ID=nixos\n");
  EXPECT_EQ(MakeCheck(kType, "    os: debian\n")->HostDefaultAction(t.fs),
            "apply_security_upgrades");
}

TEST(PatchingAutoDetect, FallsBackToUsrLibOsRelease) {
  MemoryFileSystem root;
  root.AddFile("/usr/lib/os-release", "ID=ubuntu\nID_LIKE=debian\n");
  TestHost t(root);
  // Detected as Debian: the apt lists are looked for.
  EXPECT_EQ(MakeCheck(kType, "")->Run(t.host(), Later()).reason,
            "cannot list apt lists: /var/lib/apt/lists: No such file or directory");
}

class PatchingDebianTest : public ::testing::Test {
 protected:
  // Lists refreshed 2 hours ago; the flat repository's Release is older; the Packages file is
  // the newest of all but is not a Release file, so it must not count.
  static void Age(MemoryFileSystem& root, WallTime::duration newest_age) {
    const std::string dir = "/var/lib/apt/lists/";
    root.SetMtime(dir + "deb.debian.org_debian_dists_bookworm_InRelease", kNow - days(40));
    root.SetMtime(dir + "deb.debian.org_debian_dists_bookworm-updates_InRelease",
                  kNow - newest_age - hours(1));
    root.SetMtime(dir + "deb.debian.org_debian-security_dists_bookworm-security_InRelease",
                  kNow - newest_age);
    root.SetMtime(dir + "repo.example.org_debian_._Release", kNow - days(10));
    root.SetMtime(dir + "repo.example.org_debian_._Release.gpg", kNow);
    root.SetMtime(dir + "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
                  kNow);
  }
};

TEST_F(PatchingDebianTest, FreshListsNoUpgradesNoRebootIsCompliant) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  Age(root, hours(2));
  TestHost t(root);
  t.commands.Script(kAptGet, 0,
                    "NOTE: This is only a simulation!\n"
                    "      apt-get needs root privileges for real execution.\n");
  CheckResult r = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "apt lists updated 2h ago, 0 pending upgrades, no reboot pending");
  EXPECT_EQ(Pairs(r.observations), (std::vector<std::pair<std::string, std::string>>{
                                       {"os", "debian"},
                                       {"apt_lists_updated", "2023-11-14T20:13:20Z"},
                                       {"apt_lists_age", "2h"},
                                       {"reboot_required", "no"},
                                       {"pending_upgrades", "0"},
                                       {"pending_security_upgrades", "0"},
                                   }));
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_patching_apt_lists_age_seconds", 7200},
                             {"drift_patching_pending_upgrades", 0},
                             {"drift_patching_pending_security_upgrades", 0}}));
  EXPECT_EQ(t.commands.commands_ran(),
            (std::vector<std::vector<std::string>>{
                {"apt-get", "--simulate", "--quiet", "--quiet", "upgrade"}}));
}

TEST_F(PatchingDebianTest, PendingUpgradesAndRebootAreDrift) {
  MemoryFileSystem root(FixtureHost("debian-pending-upgrades"));
  Age(root, hours(5));
  TestHost t(root);
  t.commands.Script(kAptGet, 0, std::string(kAptOutput));
  CheckResult r = MakeCheck(kType, "    os: debian\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "reboot_required: observed required by linux-image-6.1.0-18-amd64, libssl3, expected "
            "no pending reboot; pending_upgrades: observed 5 (3 security), expected at most 0");
  ASSERT_EQ(r.findings.size(), 2u);
  ExpectFinding(r.findings[0], "reboot_required", "required by linux-image-6.1.0-18-amd64, libssl3",
                "no pending reboot");
  ExpectFinding(r.findings[1], "pending_upgrades", "5 (3 security)", "at most 0");
  EXPECT_EQ(Measures(r), (std::vector<std::pair<std::string, double>>{
                             {"drift_patching_apt_lists_age_seconds", 5 * 3600},
                             {"drift_patching_pending_upgrades", 5},
                             {"drift_patching_pending_security_upgrades", 3}}));
}

TEST_F(PatchingDebianTest, UpgradesWithinTheAllowanceAreCompliant) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  Age(root, hours(2));
  TestHost t(root);
  t.commands.Script(kAptGet, 0, std::string(kAptOutput));
  CheckResult r = MakeCheck(kType, "    max_pending_upgrades: 5\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "apt lists updated 2h ago, 5 pending upgrades, no reboot pending");
}

TEST_F(PatchingDebianTest, RebootFlagWithoutPackageListNamesTheFile) {
  MemoryFileSystem root(FixtureHost("debian-pending-upgrades"));
  Age(root, hours(2));
  root.Remove("/run/reboot-required.pkgs");
  TestHost t(root);
  t.commands.Script(kAptGet, 0, "");
  CheckResult r = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "reboot_required: observed /run/reboot-required exists, expected no pending reboot");
}

TEST_F(PatchingDebianTest, StaleListsAreDriftAndPackagesFilesDoNotCount) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  Age(root, days(8) + hours(3) + std::chrono::seconds(7));
  TestHost t(root);
  t.commands.Script(kAptGet, 0, "");
  CheckResult r = MakeCheck(kType, "    apt_lists_max_age: 7d\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason, "apt_lists_stale: observed 8d3h7s, expected at most 7d");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "apt_lists_stale", "8d3h7s", "at most 7d");
}

TEST_F(PatchingDebianTest, AptStateProblemsAreErrors) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  TestHost t(root);
  const std::vector<std::string> lists = *root.ListDir("/var/lib/apt/lists");
  for (const std::string& name : lists) {
    if (name.ends_with("Release")) root.Remove("/var/lib/apt/lists/" + name);
  }
  CheckResult no_lists = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(no_lists.verdict, Verdict::kError);
  EXPECT_EQ(no_lists.reason, "no apt lists under /var/lib/apt/lists");

  root.Remove("/var/lib/apt");
  CheckResult no_dir = MakeCheck(kType, "")->Run(t.host(), Later());
  EXPECT_EQ(no_dir.verdict, Verdict::kError);
  EXPECT_EQ(no_dir.reason, "cannot list apt lists: /var/lib/apt/lists: No such file or directory");
}

TEST_F(PatchingDebianTest, UncheckableRebootFlagIsAnError) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  Age(root, hours(2));
  TestHost t(root);
  t.commands.Script(kAptGet, 0, "");
  CheckResult r =
      MakeCheck(kType, "    reboot_required_file: /etc/os-release/flag\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason, "cannot check for a pending reboot: /etc/os-release/flag: Not a directory");
}

TEST_F(PatchingDebianTest, AptGetProblemsAreErrors) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  Age(root, hours(2));
  TestHost t(root);
  CheckPtr check = MakeCheck(kType, "");
  testing::ExpectScriptedErrors(
      *check, t,
      {
          {[](FakeCommandRunner&) {},
           "apt-get is not installed (unscripted: apt-get --simulate --quiet --quiet upgrade)"},
          {[](FakeCommandRunner& c) {
             c.Script(kAptGet, 100, "",
                      "E: The package lists or status file could not be parsed or opened.\n"
                      "E: second line\n");
           },
           "apt-get --simulate upgrade exited with status 100: E: The package lists or status "
           "file could not be parsed or opened. E: second line"},
          {[](FakeCommandRunner& c) { c.Script(kAptGet, testing::KilledBy(9)); },
           "apt-get --simulate upgrade was killed by signal 9"},
          {[](FakeCommandRunner& c) { c.Script(kAptGet, testing::TimedOut()); },
           "apt-get --simulate upgrade timed out after 60s"},
          {[](FakeCommandRunner& c) {
             CommandOutput o = testing::Exited(0, "Inst a (1 b)\n");
             o.truncated = true;
             c.Script(kAptGet, o);
           },
           "apt-get --simulate upgrade printed more than 1048576 bytes (output truncated)"},
          {[](FakeCommandRunner& c) { c.Script(kAptGet, 0, "Inst libc6\n"); },
           "unexpected output from apt-get --simulate upgrade: expected \"Inst <package> ... "
           "(<version> <suites>)\", got \"Inst libc6\""},
      });
}

TEST_F(PatchingDebianTest, CaptureHasNothingToPin) {
  MemoryFileSystem root(FixtureHost("debian-compliant"));
  TestHost t(root);
  Result<std::vector<Observation>> captured = MakeCheck(kType, "")->Capture(t.host(), Later());
  ASSERT_TRUE(captured.ok());
  EXPECT_TRUE(captured->empty());
}

}  // namespace
}  // namespace drift::checks::patching
