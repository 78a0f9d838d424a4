#include "checks/types/encryption.h"

#include <gtest/gtest.h>

#include "tests/support/check_testing.h"
#include "tests/support/memory_fs.h"

namespace drift::checks::encryption {
namespace {

using testing::ExpectFinding;
using testing::FakeCommandRunner;
using testing::FixtureHost;
using testing::Later;
using testing::MakeCheck;
using testing::Pairs;
using testing::TestHost;

// ---------------------------------------------------------------------------------------------
// Pure helpers and ParseCryptsetupStatus

TEST(EncryptionVolumeName, AcceptsDeviceMapperNames) {
  for (std::string_view ok : {"cryptroot", "vg0-root", "luks-3f2a_b.c+d", "a", "x-", "..."}) {
    EXPECT_TRUE(IsValidVolumeName(ok)) << ok;
  }
  EXPECT_TRUE(IsValidVolumeName(std::string(127, 'a')));
}

TEST(EncryptionVolumeName, RejectsPathsOptionsAndOddCharacters) {
  for (std::string_view bad : {"", "-cryptroot", "/dev/mapper/x", "a/b", ".", "..", "a b",
                               "crypt\nroot", "crypt*", "luks:1", "caf\xc3\xa9"}) {
    EXPECT_FALSE(IsValidVolumeName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidVolumeName(std::string(128, 'a')));
}

TEST(EncryptionDmUuid, NamesTheVolumeType) {
  EXPECT_EQ(VolumeTypeFromDmUuid("CRYPT-LUKS2-7f3c0f5e8a0b4c1d9e2f3a4b5c6d7e8f-cryptroot"),
            "LUKS2");
  EXPECT_EQ(VolumeTypeFromDmUuid("CRYPT-LUKS1-0123456789abcdef0123456789abcdef-cryptdata"),
            "LUKS1");
  EXPECT_EQ(VolumeTypeFromDmUuid("CRYPT-PLAIN-cryptswap"), "PLAIN");
  EXPECT_EQ(VolumeTypeFromDmUuid("CRYPT-VERITY-abc-root"), "VERITY");
  EXPECT_EQ(VolumeTypeFromDmUuid("LVM-Xb3kRZq8W1vN5tYp0cLm2sDf7gHj9kQe"), "LVM");
  EXPECT_EQ(VolumeTypeFromDmUuid("mpath-3600508b400105e210000900000490000"), "mpath");
  EXPECT_EQ(VolumeTypeFromDmUuid("CRYPT-"), "CRYPT");
  EXPECT_EQ(VolumeTypeFromDmUuid("custom"), "custom");
  EXPECT_EQ(VolumeTypeFromDmUuid(""), "none");
}

TEST(EncryptionParseCryptsetupStatus, ActiveVolumesAndTheirType) {
  CryptsetupStatus busy = *ParseCryptsetupStatus(
      "/dev/mapper/cryptroot is active and is in use.\n"
      "  type:    LUKS2\n"
      "  cipher:  aes-xts-plain64\n"
      "  keysize: 512 bits\n"
      "  key location: keyring\n"
      "  device:  /dev/nvme0n1p2\n"
      "  sector size:  512\n"
      "  offset:  32768 sectors\n"
      "  size:    998166528 sectors\n"
      "  mode:    read/write\n"
      "  flags:   discards \n");
  EXPECT_TRUE(busy.active);
  EXPECT_EQ(busy.type, "LUKS2");
  CryptsetupStatus luks1 = *ParseCryptsetupStatus(
      "/dev/mapper/home is active.\n  type:    LUKS1\n  cipher:  aes-cbc-essiv:sha256\n");
  EXPECT_TRUE(luks1.active);
  EXPECT_EQ(luks1.type, "LUKS1");
  CryptsetupStatus plain =
      *ParseCryptsetupStatus("\n/dev/mapper/swap is active.\n  type:    PLAIN\n");
  EXPECT_EQ(plain.type, "PLAIN");
  CryptsetupStatus unknown = *ParseCryptsetupStatus("/dev/mapper/odd is active.\n  type:    n/a\n");
  EXPECT_EQ(unknown.type, "n/a");
}

TEST(EncryptionParseCryptsetupStatus, InactiveVolume) {
  CryptsetupStatus inactive = *ParseCryptsetupStatus("/dev/mapper/cryptdata is inactive.\n");
  EXPECT_FALSE(inactive.active);
  EXPECT_EQ(inactive.type, "");
}

TEST(EncryptionParseCryptsetupStatus, RejectsAnythingElse) {
  EXPECT_EQ(ParseCryptsetupStatus("").error().message, "empty output");
  EXPECT_EQ(ParseCryptsetupStatus("\n  \n").error().message, "empty output");
  EXPECT_EQ(ParseCryptsetupStatus("Device cryptroot not found\n").error().message,
            "expected \"<device> is active.\" or \"<device> is inactive.\", got \"Device "
            "cryptroot not found\"");
  EXPECT_EQ(ParseCryptsetupStatus("/dev/mapper/x is active.\n  cipher:  aes\n").error().message,
            "no \"type:\" line for an active device");
  EXPECT_EQ(ParseCryptsetupStatus("/dev/mapper/x is active.\n  type:\n").error().message,
            "empty type line");
}

// ---------------------------------------------------------------------------------------------
// Factory

TEST(EncryptionFactory, DescribesTheType) {
  testing::ExpectTypeDefaults(kType,
                              {"encryption",
                               Severity::kCritical,
                               {{"hipaa", "164.312(a)(2)(iv)"}, {"hipaa", "164.312(e)(2)(ii)"}},
                               "enable_volume_encryption",
                               {}});
}

TEST(EncryptionFactory, RejectsBadParams) {
  const std::string name_rule =
      "expected a device-mapper name as in /dev/mapper/<name> (1 to 127 of A-Z a-z 0-9 _ . + -, "
      "not starting with -), got ";
  testing::ExpectRejected(
      kType,
      {
          {"", "drift.yml:2:3: checks[0].params.volumes: required key missing"},
          {"    volumes: []\n",
           "drift.yml:5:14: checks[0].params.volumes: expected a non-empty list of "
           "device-mapper names"},
          {"    volumes: cryptroot\n",
           "drift.yml:5:14: checks[0].params.volumes: expected a list, got \"cryptroot\""},
          {"    volumes: [cryptroot, /dev/mapper/home]\n",
           "drift.yml:5:26: checks[0].params.volumes[1]: " + name_rule + "\"/dev/mapper/home\""},
          {"    volumes:\n    - \"-v\"\n",
           "drift.yml:6:7: checks[0].params.volumes[0]: " + name_rule + "\"-v\""},
          {"    volumes:\n    - ..\n",
           "drift.yml:6:7: checks[0].params.volumes[0]: " + name_rule + "\"..\""},
          {"    volumes:\n    - {name: x}\n",
           "drift.yml:6:7: checks[0].params.volumes[0]: expected a string, got a mapping"},
          {"    volumes: [cryptroot, home, cryptroot]\n",
           "drift.yml:5:32: checks[0].params.volumes[2]: duplicate volume \"cryptroot\""},
          {"    volumes: [cryptroot]\n    volume: [home]\n",
           "drift.yml:6:5: checks[0].params.volume: unknown key; expected one of: volumes"},
      });
}

// ---------------------------------------------------------------------------------------------
// Run() against tests/fixtures/hosts/encryption-mixed:
//   dm-0 cryptroot LUKS2, dm-1 cryptdata LUKS1, dm-2 vg0-root LVM, dm-3 cryptswap PLAIN,
//   dm-4 cryptold (no uuid: being torn down), plus sda and loop0, which are not dm devices.

using Pairs_t = std::vector<std::pair<std::string, std::string>>;

TEST(EncryptionRun, LuksVolumesInSysfsAreCompliantWithoutAnyCommand) {
  TestHost t(FixtureHost("encryption-mixed"));
  CheckResult r = MakeCheck(kType, "    volumes: [cryptroot, cryptdata]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "required volumes are LUKS: cryptroot (LUKS2), cryptdata (LUKS1)");
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(Pairs(r.observations),
            (Pairs_t{{"volume cryptroot", "LUKS2 (dm-0)"}, {"volume cryptdata", "LUKS1 (dm-1)"}}));
  EXPECT_TRUE(r.measures.empty());
  EXPECT_TRUE(t.commands.commands_ran().empty());
  // Every device-mapper device's name and uuid, and nothing of sda or loop0.
  std::vector<std::string> read;
  for (int dm = 0; dm <= 4; ++dm) {
    read.push_back(fmt::format("/sys/block/dm-{}/dm/name", dm));
    read.push_back(fmt::format("/sys/block/dm-{}/dm/uuid", dm));
  }
  EXPECT_EQ(t.memory->files_read(), read);
}

TEST(EncryptionRun, PlainDmCryptAndLvmAreNotLuks) {
  TestHost t(FixtureHost("encryption-mixed"));
  CheckResult r =
      MakeCheck(kType, "    volumes: [cryptroot, cryptswap, vg0-root]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "volume_not_luks: observed cryptswap: PLAIN (dm-3), expected cryptswap: active LUKS "
            "volume; volume_not_luks: observed vg0-root: LVM (dm-2), expected vg0-root: active "
            "LUKS volume");
  ASSERT_EQ(r.findings.size(), 2u);
  ExpectFinding(r.findings[0], "volume_not_luks", "cryptswap: PLAIN (dm-3)",
                "cryptswap: active LUKS volume");
  ExpectFinding(r.findings[1], "volume_not_luks", "vg0-root: LVM (dm-2)",
                "vg0-root: active LUKS volume");
  EXPECT_TRUE(t.commands.commands_ran().empty());
}

TEST(EncryptionRun, VolumeNotInSysfsIsAskedOfCryptsetup) {
  TestHost t(FixtureHost("encryption-mixed"));
  t.commands.Script("cryptsetup status -- home", 0,
                    "/dev/mapper/home is active and is in use.\n  type:    LUKS2\n"
                    "  cipher:  aes-xts-plain64\n");
  CheckResult r = MakeCheck(kType, "    volumes: [cryptroot, home]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(r.reason, "required volumes are LUKS: cryptroot (LUKS2), home (LUKS2)");
  EXPECT_EQ(Pairs(r.observations),
            (Pairs_t{{"volume cryptroot", "LUKS2 (dm-0)"}, {"volume home", "LUKS2 (cryptsetup)"}}));
  EXPECT_EQ(t.commands.commands_ran(),
            (std::vector<std::vector<std::string>>{{"cryptsetup", "status", "--", "home"}}));
}

TEST(EncryptionRun, DeviceWithoutUuidFallsBackToCryptsetup) {
  TestHost t(FixtureHost("encryption-mixed"));
  t.commands.Script("cryptsetup status -- cryptold", 4, "/dev/mapper/cryptold is inactive.\n");
  CheckResult r = MakeCheck(kType, "    volumes: [cryptold]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  EXPECT_EQ(r.reason,
            "volume_missing: observed cryptold: not active, expected cryptold: active LUKS volume");
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "volume_missing", "cryptold: not active",
                "cryptold: active LUKS volume");
  EXPECT_EQ(Pairs(r.observations), (Pairs_t{{"volume cryptold", "not active (cryptsetup)"}}));
}

TEST(EncryptionRun, ActivePlainVolumeFromCryptsetupIsNotLuks) {
  TestHost t(FixtureHost("encryption-mixed"));
  t.commands.Script("cryptsetup status -- scratch", 0,
                    "/dev/mapper/scratch is active.\n  type:    PLAIN\n  cipher:  aes-cbc-essiv\n");
  CheckResult r = MakeCheck(kType, "    volumes: [scratch]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kDrifted);
  ASSERT_EQ(r.findings.size(), 1u);
  ExpectFinding(r.findings[0], "volume_not_luks", "scratch: PLAIN (cryptsetup)",
                "scratch: active LUKS volume");
}

TEST(EncryptionRun, UnreadableSysfsFallsBackToCryptsetup) {
  testing::MemoryFileSystem empty;
  TestHost t(empty);
  t.commands.Script("cryptsetup status -- cryptroot", 0,
                    "/dev/mapper/cryptroot is active and is in use.\n  type:    LUKS2\n");
  CheckResult r = MakeCheck(kType, "    volumes: [cryptroot]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kCompliant);
  EXPECT_EQ(Pairs(r.observations), (Pairs_t{{"sysfs", "/sys/block: No such file or directory"},
                                            {"volume cryptroot", "LUKS2 (cryptsetup)"}}));
}

TEST(EncryptionRun, CryptsetupProblemsAreErrorsNeverCompliant) {
  TestHost t(FixtureHost("encryption-mixed"));
  CheckPtr check = MakeCheck(kType, "    volumes: [cryptroot, home]\n");
  const std::string why = "home: not listed in /sys/block/dm-*/dm/name, and ";
  testing::ExpectScriptedErrors(
      *check, t,
      {
          {[](FakeCommandRunner&) {},
           why + "cryptsetup is not installed (unscripted: cryptsetup status -- home)"},
          {[](FakeCommandRunner& c) {
             c.Script("cryptsetup status -- home", 1, "",
                      "Cannot initialize device-mapper. Is dm_mod kernel module loaded?\n");
           },
           why + "cryptsetup status exited with status 1: Cannot initialize device-mapper. Is "
                 "dm_mod kernel module loaded? (cryptsetup needs root to query device-mapper)"},
          {[](FakeCommandRunner& c) {
             // Active, but reading the header failed part-way (e.g. permission on the device).
             c.Script("cryptsetup status -- home", 5, "/dev/mapper/home is active.\n", "");
           },
           why + "cryptsetup status exited with status 5"},
          {[](FakeCommandRunner& c) { c.Script("cryptsetup status -- home", testing::TimedOut()); },
           why + "cryptsetup status timed out after 10s"},
          {[](FakeCommandRunner& c) {
             c.Script("cryptsetup status -- home", testing::KilledBy(11));
           },
           why + "cryptsetup status was killed by signal 11"},
          {[](FakeCommandRunner& c) { c.Script("cryptsetup status -- home", 0, "all good\n"); },
           why + "cryptsetup status printed unexpected output: expected \"<device> is active.\" or "
                 "\"<device> is inactive.\", got \"all good\""},
      });
}

TEST(EncryptionRun, AnUndeterminedVolumeMakesTheWholeRunAnError) {
  testing::MemoryFileSystem empty;
  TestHost t(empty);
  t.commands.Script("cryptsetup status -- swap", 0, "/dev/mapper/swap is active.\n  type: PLAIN\n");
  CheckResult r = MakeCheck(kType, "    volumes: [swap, cryptroot]\n")->Run(t.host(), Later());
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.reason,
            "cryptroot: sysfs unreadable (/sys/block: No such file or directory), and cryptsetup "
            "is not installed (unscripted: cryptsetup status -- cryptroot)");
  EXPECT_EQ(Pairs(r.observations), (Pairs_t{{"sysfs", "/sys/block: No such file or directory"},
                                            {"volume swap", "PLAIN (cryptsetup)"}}));
}

}  // namespace
}  // namespace drift::checks::encryption
