#include "checks/params.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tests/support/config_testing.h"
#include "tests/support/temp_dir.h"

namespace drift::checks {
namespace {

// The value of `x` in a one-key document, as a node.
ConfigNode Value(std::string_view yaml_value) {
  return ConfigNode::Parse(fmt::format("x: {}\n", yaml_value), "p.yml").Child("x");
}

template <typename Reader>
std::string ErrorOf(Reader read, std::string_view yaml_value) {
  return testing::ConfigErrorOf([&] { read(Value(yaml_value)); });
}

TEST(ReadUnitName, AcceptsSystemdUnitNames) {
  EXPECT_EQ(ReadUnitName(Value("nftables.service")), "nftables.service");
  EXPECT_EQ(ReadUnitName(Value("getty@tty1.service")), "getty@tty1.service");
  EXPECT_EQ(ReadUnitName(Value("'systemd-fsck@dev-disk-by\\x2duuid-1.service'")),
            "systemd-fsck@dev-disk-by\\x2duuid-1.service");
  EXPECT_EQ(ReadUnitName(Value("a:b_c.d")), "a:b_c.d");
  std::string longest(255, 'a');
  EXPECT_EQ(ReadUnitName(Value(longest)), longest);
}

TEST(ReadUnitName, RejectsEverythingElse) {
  const std::string bad =
      "p.yml:1:4: x: expected a systemd unit name like nftables.service (letters, digits and "
      ":_.\\@-, not starting with '-' or '.'), got ";
  const std::vector<std::pair<std::string, std::string>> values = {
      {"''", "\"\""},
      {"'-x.service'", "\"-x.service\""},
      {".hidden.service", "\".hidden.service\""},
      {"'a b.service'", "\"a b.service\""},
      {"'a/b.service'", "\"a/b.service\""},
      {"'a;reboot'", "\"a;reboot\""},
      {"'ünit.service'", "\"ünit.service\""},
      {std::string(256, 'a'), "\"" + std::string(256, 'a') + "\""}};
  for (const auto& [value, shown] : values) {
    EXPECT_EQ(ErrorOf(ReadUnitName, value), bad + shown) << value;
  }
  EXPECT_EQ(ErrorOf(ReadUnitName, "{a: b}"), "p.yml:1:4: x: expected a string, got a mapping");
}

TEST(ReadUnitNames, ReadsANonEmptyListOfDistinctNames) {
  EXPECT_EQ(ReadUnitNames(Value("[a.service, b.socket]")),
            (std::vector<std::string>{"a.service", "b.socket"}));
  EXPECT_EQ(ErrorOf(ReadUnitNames, "[]"),
            "p.yml:1:4: x: expected a non-empty list of systemd unit names");
  EXPECT_EQ(ErrorOf(ReadUnitNames, "a.service"),
            "p.yml:1:4: x: expected a list, got \"a.service\"");
  EXPECT_EQ(ErrorOf(ReadUnitNames, "[a.service, -b]"),
            "p.yml:1:16: x[1]: expected a systemd unit name like nftables.service (letters, "
            "digits and :_.\\@-, not starting with '-' or '.'), got \"-b\"");
  EXPECT_EQ(ErrorOf(ReadUnitNames, "[a.service, a.service]"),
            "p.yml:1:16: x[1]: duplicate unit; list each unit once");
}

TEST(ReadHostPath, NormalisesAbsolutePathsWithoutResolvingThem) {
  EXPECT_EQ(ReadHostPath(Value("/usr/sbin/clamd")), "/usr/sbin/clamd");
  EXPECT_EQ(ReadHostPath(Value("/usr//sbin/./../sbin/clamd")), "/usr/sbin/clamd");
  EXPECT_EQ(ReadHostPath(Value("/../etc/x")), "/etc/x");
  EXPECT_EQ(ReadHostPath(Value("/")), "/");
}

TEST(ReadHostPath, RejectsRelativeAndNulPaths) {
  const std::string bad = "p.yml:1:4: x: expected an absolute host path, got ";
  const std::vector<std::pair<std::string, std::string>> values = {
      {"usr/sbin/clamd", "\"usr/sbin/clamd\""}, {"./clamd", "\"./clamd\""}, {"''", "\"\""}};
  for (const auto& [value, shown] : values) {
    EXPECT_EQ(ErrorOf(ReadHostPath, value), bad + shown) << value;
  }
  // A NUL would cut the path short at the system call; the loader refuses it in any value.
  EXPECT_EQ(ErrorOf(ReadHostPath, "\"/usr/sbin/clamd\\0x\""),
            "p.yml:1:4: x: the value holds a NUL character; expected text");
}

// A listing path is relative to the file that sets it (the baseline, beside which capture wrote
// it); only a listing whose hash is the pin is used.
TEST(ReadBaselineListing, ReadsTheKeptListingBesideTheBaseline) {
  testing::TempDir dir;
  dir.Write("/baseline.d/fw.nft", "table inet filter {\n}\n");
  dir.Write("/baseline.yml", "checks:\n  fw:\n    ruleset_listing: baseline.d/fw.nft\n");
  ConfigNode baseline =
      ConfigNode::Load(dir.At("/baseline.yml").string()).Child("checks").Child("fw");
  ConfigNode check = ConfigNode::Parse("name: fw\n", "drift.yml");
  Params params(check, std::nullopt, baseline);
  const Sha256Digest pin = Sha256Of("table inet filter {\n}\n");

  BaselineListing read = ReadBaselineListing(params, "ruleset_listing", pin, 1024);
  EXPECT_EQ(read.text, "table inet filter {\n}\n");
  EXPECT_EQ(read.note, "");

  read = ReadBaselineListing(params, "ruleset_listing", pin, 10);
  EXPECT_EQ(read.text, std::nullopt);
  EXPECT_EQ(read.note, "the kept listing " + dir.At("/baseline.d/fw.nft").string() +
                           " is larger than 10 bytes; ignored");

  // Nothing to explain without a pin.
  read = ReadBaselineListing(params, "ruleset_listing", std::nullopt, 1024);
  EXPECT_EQ(read.text, std::nullopt);
}

}  // namespace
}  // namespace drift::checks
