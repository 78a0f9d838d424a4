#include "common/config_node.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/config_testing.h"
#include "tests/support/temp_dir.h"

namespace drift {
namespace {

using testing::ConfigErrorOf;

TEST(ConfigNode, ReadsTypedValuesWithDefaults) {
  ConfigNode root = ConfigNode::Parse(
      "name: fw\nenabled: false\ncount: 3\ntimeout: 5s\nlist: [a, b]\nempty:\n", "/etc/c.yml");
  EXPECT_EQ(root.Child("name").AsString(), "fw");
  EXPECT_FALSE(root.GetBool("enabled", true));
  EXPECT_EQ(root.GetInt("count", 0, 1, 10), 3);
  EXPECT_EQ(root.GetDuration("timeout", std::chrono::seconds(1)), std::chrono::seconds(5));
  EXPECT_EQ(root.Child("list").AsStringList(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(root.GetString("empty", "dflt"), "dflt");
  EXPECT_EQ(root.GetString("absent", "dflt"), "dflt");
  root.Finish();
}

TEST(ConfigNode, ResolvesRelativePathsAgainstTheFile) {
  ConfigNode root = ConfigNode::Parse("a: host\nb: /abs\nc: ../x/./y\n", "/etc/drift/c.yml");
  EXPECT_EQ(root.Child("a").AsPath(), "/etc/drift/host");
  EXPECT_EQ(root.Child("b").AsPath(), "/abs");
  EXPECT_EQ(root.Child("c").AsPath(), "/etc/x/y");
}

TEST(ConfigNode, ErrorsNameFileLineColumnAndKey) {
  ConfigNode root = ConfigNode::Parse("a:\n  b: nope\n  c: [1]\n", "c.yml");
  ConfigNode a = root.Child("a");
  EXPECT_EQ(ConfigErrorOf([&] { a.Child("b").AsBool(); }),
            "c.yml:2:6: a.b: expected true or false, got \"nope\"");
  EXPECT_EQ(ConfigErrorOf([&] { a.Child("c").AsString(); }),
            "c.yml:3:6: a.c: expected a string, got a list");
  EXPECT_EQ(ConfigErrorOf([&] { a.Child("d"); }), "c.yml:2:3: a.d: required key missing");
  EXPECT_EQ(ConfigErrorOf([&] { a.Child("c").Items()[0].AsInt(5, 9); }),
            "c.yml:3:7: a.c[0]: expected an integer from 5 to 9, got 1");
}

TEST(ConfigNode, UnknownKeyIsReportedWithWhatWasExpected) {
  ConfigNode root = ConfigNode::Parse("name: x\ntimout: 5s\n", "c.yml");
  root.GetString("name", "");
  root.GetDuration("timeout", std::chrono::seconds(1));
  EXPECT_EQ(ConfigErrorOf([&] { root.Finish(); }),
            "c.yml:2:1: timout: unknown key; expected one of: name, timeout");
}

TEST(ConfigNode, MapHandedOutButNeverReadTakesNoKeys) {
  ConfigNode root = ConfigNode::Parse("params:\n  x: 1\n", "c.yml");
  root.Child("params");
  EXPECT_EQ(ConfigErrorOf([&] { root.Finish(); }),
            "c.yml:2:3: params.x: unknown key; this mapping takes no keys");
}

TEST(ConfigNode, EntriesMarkEveryKeyKnown) {
  ConfigNode root = ConfigNode::Parse("controls:\n  hipaa: [a]\n  soc2: [b]\n", "c.yml");
  auto entries = root.Child("controls").Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].first, "soc2");
  root.Finish();
}

TEST(ConfigNode, DocumentLevelErrors) {
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: 1\na: 2\n", "c.yml"); }),
            "c.yml:2:1: a: duplicate key; first defined at line 1");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("", "c.yml"); }),
            "c.yml:1:1: empty configuration; expected a mapping");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a:\n\tb: 1\n", "c.yml"); }),
            "c.yml:2:1: tab in indentation; YAML indents with spaces");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: \"\xff\"\n", "c.yml"); }),
            "c.yml:1:5: invalid UTF-8 (byte 0xff); the configuration must be UTF-8");
  // Raw control characters are not YAML; escapes that decode to NUL or to no UTF-8 are not text
  // (a raw NUL and an N became the escape "\N"; found by tests/fuzz/config_fuzz).
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse(std::string("a: b\0N\n", 7), "c.yml"); }),
            "c.yml:1:5: control character 0x00; YAML allows only printable characters (write it "
            "as an escape in a double-quoted string)");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a:\n  b: \"x\\0y\"\n", "c.yml"); }),
            "c.yml:2:6: a.b: the value holds a NUL character; expected text");
  // yaml-cpp 0.7 decodes "\N" (U+0085) to the single byte 0x85.
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: \"\\N\"\n", "c.yml"); }),
            "c.yml:1:4: a: the value holds invalid UTF-8 (from an escape); expected text");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("\"k\\0\": 1\n", "c.yml"); }),
            "c.yml:1:1: a key holds a NUL character; keys are plain text");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("- a\n", "c.yml"); }),
            "c.yml:1:1: expected a mapping at the top level");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: 1\n---\nb: 2\n", "c.yml"); }),
            "c.yml:3:1: more than one YAML document; expected exactly one");
  // yaml-cpp 0.7's LoadAll never returned on these (found by tests/fuzz/config_fuzz; the inputs
  // are in its corpus): an error now, at once.
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse(",p\n", "c.yml"); }),
            "c.yml:1:1: invalid YAML: unexpected \",\"");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: 1\n---\n,\n", "c.yml"); }),
            "c.yml:3:1: more than one YAML document; expected exactly one");
  // Aliases of aliases grow a tree exponentially (found by tests/fuzz/config_fuzz).
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Parse("a: &x [1, 2]\nb: [*x, *x]\n", "c.yml"); }),
            "c.yml:2:5: YAML aliases (*name) are not allowed in the configuration; write the "
            "value out");
  std::string deep = "a: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  EXPECT_NE(ConfigErrorOf([&] { ConfigNode::Parse(deep, "c.yml"); }).find("c.yml:"),
            std::string::npos);
}

TEST(ConfigNode, MissingFile) {
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Load("/nonexistent/c.yml"); }),
            "/nonexistent/c.yml: cannot read: No such file or directory");
}

// Opening a FIFO for reading waits for a writer, and a device can be read for ever: either used
// to hang the daemon's signal thread on SIGHUP. They are refused at once, before any read.
TEST(ConfigNode, RefusesWhatIsNotARegularFileWithoutBlocking) {
  testing::TempDir dir;
  const std::string fifo = (dir.path() / "config.yml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ConfigErrorOf([&] { ConfigNode::Load(fifo); }),
            fifo +
                ": not a regular file (a FIFO); name the file itself, not a pipe, device, "
                "socket or directory");
  EXPECT_EQ(ConfigErrorOf([] { ConfigNode::Load("/dev/zero"); }),
            "/dev/zero: not a regular file (a character device); name the file itself, not "
            "a pipe, device, socket or directory");
  EXPECT_EQ(ConfigErrorOf([&] { ConfigNode::Load(dir.root()); }),
            dir.root() +
                ": not a regular file (a directory); name the file itself, not a pipe, "
                "device, socket or directory");
}

TEST(ConfigNode, LoadHashesTheTextItParsed) {
  testing::TempDir dir;
  dir.Write("/c.yml", "a: 1\n");
  ConfigNode root = ConfigNode::Load((dir.path() / "c.yml").string());
  EXPECT_EQ(root.source_sha256(), Sha256Of("a: 1\n"));
  EXPECT_EQ(root.Child("a").source_sha256(), Sha256Of("a: 1\n"));
}

}  // namespace
}  // namespace drift
