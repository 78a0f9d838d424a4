#include "exporter/baseline_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/config_node.h"
#include "tests/support/temp_dir.h"

namespace drift::exporter {
namespace {

// Values a hand-written YAML writer gets wrong: indicators, comments, quotes, line breaks, YAML
// 1.1 booleans and nulls, numbers that are strings, non-ASCII text and nothing at all.
const std::vector<std::string> kAwkward = {
    ":",
    "a: b",
    "#",
    "a #b",
    "-",
    "- x",
    "-1x",
    "\"quoted\"",
    "it's",
    "'single'",
    "a\"b'c",
    "line1\nline2",
    "trailing\n",
    "tab\there",
    "yes",
    "no",
    "null",
    "Null",
    "~",
    "true",
    "off",
    "",
    " lead",
    "trail ",
    "naïve ✓ 日本",
    "{x}",
    "[x]",
    "*ref",
    "&anchor",
    "!tag",
    "%dir",
    "@at",
    "`tick",
    "0600",
    "0x1f",
    "1e3",
    "3.14",
    "-42",
    "?",
    "|",
    ">",
    "back\\slash",
    "\x7f",
    "é\u2028é",
    "a,b",
    "...",
    "---",
};

TEST(BaselineFile, AwkwardValuesReadBackTheSameThroughTheStrictLoader) {
  BaselineEntry entry;
  for (std::size_t i = 0; i < kAwkward.size(); ++i) {
    SetParam(entry, "v" + std::to_string(i), PinValue(kAwkward[i]));
  }
  const std::string text = EmitBaseline("# header\n", {{"check", entry}});
  ConfigNode root = ConfigNode::Parse(text, "baseline.yml");
  ConfigNode check = root.Child("checks").Child("check");
  for (std::size_t i = 0; i < kAwkward.size(); ++i) {
    std::optional<ConfigNode> value = check.Find("v" + std::to_string(i));
    ASSERT_TRUE(value.has_value()) << "v" << i << " of\n" << text;
    EXPECT_EQ(value->AsString(), kAwkward[i]) << "v" << i << " of\n" << text;
  }
  root.Finish();
}

// Readable: a block mapping per check, hashes double-quoted, a generation plain so that it loads
// as the integer the patching type wants.
TEST(BaselineFile, IsReadableAndIntegersStayPlain) {
  BaselineEntry agent;
  SetParam(agent, "binary_sha256", PinValue("813abedf"));
  BaselineEntry patches;
  SetParam(patches, "expected_generation", PinValue("41"));
  SetParam(patches, "expected_generation", PinValue("42"));  // replaced in place
  SetParam(patches, "note", PinValue("0042"));               // a leading 0 is not a number
  const std::string text = EmitBaseline("# a\n# b\n", {{"agent", agent}, {"patches", patches}});
  EXPECT_EQ(text,
            "# a\n# b\n"
            "checks:\n"
            "  agent:\n"
            "    binary_sha256: \"813abedf\"\n"
            "  patches:\n"
            "    expected_generation: 42\n"
            "    note: \"0042\"\n");
  ConfigNode root = ConfigNode::Parse(text, "baseline.yml");
  EXPECT_EQ(root.Child("checks").Child("patches").Child("expected_generation").AsInt(1, 100), 42);
  EXPECT_EQ(EmitBaseline("", {}), "checks: {}\n");
}

// A previous capture's values are written back as they were: quoted stays a string, plain stays
// plain (an integer or a boolean still loads as one), lists and mappings keep their items.
TEST(BaselineFile, KeptValuesKeepTheirForm) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "baseline.yml").string();
  std::ofstream(path) << "checks:\n"
                         "  f:\n"
                         "    mode: \"0600\"\n"
                         "    owner_uid: 0\n"
                         "    follow_symlinks: true\n"
                         "    sha256: 'it''s: #1'\n"
                         "  disks:\n"
                         "    volumes: [cryptroot, \"no\", 'a: b']\n"
                         "    map: {k: \"42\", n: 7}\n"
                         "  empty:\n";
  Result<std::map<std::string, BaselineEntry>> read = ReadBaselineEntries(path);
  ASSERT_TRUE(read.ok()) << read.error().message;
  ASSERT_EQ(read->size(), 3u);
  EXPECT_TRUE(read->at("empty").empty());
  const std::string text = EmitBaseline("", {{"f", read->at("f")}, {"disks", read->at("disks")}});
  EXPECT_EQ(text,
            "checks:\n"
            "  f:\n"
            "    mode: \"0600\"\n"
            "    owner_uid: 0\n"
            "    follow_symlinks: true\n"
            "    sha256: \"it's: #1\"\n"
            "  disks:\n"
            "    volumes: [cryptroot, \"no\", \"a: b\"]\n"
            "    map: {k: \"42\", n: 7}\n");
  ConfigNode root = ConfigNode::Parse(text, "baseline.yml");
  ConfigNode f = root.Child("checks").Child("f");
  EXPECT_EQ(f.Child("mode").AsString(), "0600");
  EXPECT_EQ(f.Child("owner_uid").AsInt(0, 10), 0);
  EXPECT_TRUE(f.Child("follow_symlinks").AsBool());
  EXPECT_EQ(f.Child("sha256").AsString(), "it's: #1");
  EXPECT_EQ(root.Child("checks").Child("disks").Child("volumes").AsStringList(),
            (std::vector<std::string>{"cryptroot", "no", "a: b"}));
}

TEST(BaselineFile, AMissingFileHasNoEntriesAndABadOneIsAnError) {
  testing::TempDir dir;
  Result<std::map<std::string, BaselineEntry>> none =
      ReadBaselineEntries((dir.path() / "none.yml").string());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  const std::string path = (dir.path() / "bad.yml").string();
  std::ofstream(path) << "checks: [a, b]\n";
  EXPECT_EQ(ReadBaselineEntries(path).error().message, path + ": `checks` is not a mapping");
}

}  // namespace
}  // namespace drift::exporter
