#include "evidence/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using testing::TempDir;
using testing::TestKey;
using testing::WriteText;

class EvidenceConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(dir_ / "k.key", TestKey(1).FormatFile());
    ::chmod((dir_ / "k.key").c_str(), 0400);
  }
  // Parses `yaml` as if it were <dir>/config.yml and reads its evidence section.
  EvidenceConfig Read(const std::string& yaml) {
    ConfigNode root = ConfigNode::Parse(yaml, dir_ / "config.yml");
    EvidenceConfig c = ReadEvidenceConfig(root.Child("evidence"));
    root.Finish();
    return c;
  }
  std::string Error(const std::string& yaml) {
    try {
      Read(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }
  TempDir dir_;
};

TEST_F(EvidenceConfigTest, DefaultsAndRelativePaths) {
  EvidenceConfig c = Read("evidence:\n  directory: data/ev\n  secret_key_file: k.key\n");
  EXPECT_TRUE(c.enabled);
  EXPECT_EQ(c.directory, dir_ / "data/ev");
  EXPECT_EQ(c.secret_key_file, dir_ / "k.key");
  EXPECT_EQ(c.attestation_interval, std::chrono::hours(1));
  EXPECT_EQ(c.retention, std::chrono::hours(24 * 366 * 6));
  EXPECT_FALSE(c.create_key_if_missing);
  EXPECT_EQ(c.queue_capacity, 1024u);
  EXPECT_EQ(c.host, "");
}

TEST_F(EvidenceConfigTest, EveryKey) {
  EvidenceConfig c = Read(
      "evidence:\n  directory: /var/lib/ev\n  secret_key_file: k.key\n"
      "  attestation_interval: 5m\n  retention: 400d\n  queue_capacity: 64\n  host: web-1\n");
  EXPECT_EQ(c.directory, "/var/lib/ev");
  EXPECT_EQ(c.attestation_interval, std::chrono::minutes(5));
  EXPECT_EQ(c.retention, std::chrono::hours(24 * 400));
  EXPECT_EQ(c.queue_capacity, 64u);
  EXPECT_EQ(c.host, "web-1");
}

TEST_F(EvidenceConfigTest, BadValuesNameFileLineColumnAndKey) {
  const std::string file = dir_ / "config.yml";
  struct Case {
    std::string yaml;
    std::string error;
  };
  std::vector<Case> cases = {
      {"evidence:\n  secret_key_file: k.key\n",
       file + ":2:3: evidence.directory: required key missing"},
      {"evidence:\n  directory: d\n  secret_key_file: missing.key\n",
       file + ":3:20: evidence.secret_key_file: cannot read secret key file " +
           (dir_ / "missing.key") +
           ": No such file or directory; create a key pair with `drift_exporter evidence keygen "
           "--out-dir=DIR`"},
      {"evidence:\n  directory: d\n  secret_key_file: k.key\n  retention: 12h\n",
       file + ":4:14: evidence.retention: expected at least 1d, got \"12h\""},
      {"evidence:\n  directory: d\n  secret_key_file: k.key\n  retention: six years\n",
       file + ":4:14: evidence.retention: expected years like 6y or a duration like 400d: "},
      {"evidence:\n  directory: d\n  secret_key_file: k.key\n  attestation_interval: 500ms\n",
       file + ":4:25: evidence.attestation_interval: expected at least 1s"},
      {"evidence:\n  directory: d\n  secret_key_file: k.key\n  host: a b\n",
       file + ":4:9: evidence.host: expected a host name of letters, digits, '-', '.', '_', got "
              "\"a b\""},
      {"evidence:\n  directory: d\n  secret_key_file: k.key\n  retension: 6y\n",
       file + ":4:3: evidence.retension: unknown key"},
  };
  for (const Case& c : cases) {
    std::string got = Error(c.yaml);
    EXPECT_TRUE(got.starts_with(c.error)) << "got:  " << got << "\nwant: " << c.error;
  }
}

TEST_F(EvidenceConfigTest, KeyModeIsCheckedAtLoad) {
  ::chmod((dir_ / "k.key").c_str(), 0640);
  EXPECT_EQ(Error("evidence:\n  directory: d\n  secret_key_file: k.key\n"),
            dir_ / "config.yml" + ":3:20: evidence.secret_key_file: secret key file " +
                (dir_ / "k.key") +
                " is accessible to its group or others (mode 0640); run `chmod 600 " +
                (dir_ / "k.key") + "`");
}

TEST_F(EvidenceConfigTest, AMissingKeyIsFineWhenTheDemoMayCreateIt) {
  EvidenceConfig c = Read(
      "evidence:\n  directory: d\n  secret_key_file: new.key\n  create_key_if_missing: true\n");
  EXPECT_TRUE(c.create_key_if_missing);
  EXPECT_EQ(c.secret_key_file, dir_ / "new.key");
}

TEST(Retention, YearsCount366Days) {
  EXPECT_EQ(*ParseRetention("6y"), std::chrono::hours(24 * 366 * 6));
  EXPECT_EQ(*ParseRetention("1y"), std::chrono::hours(24 * 366));
  EXPECT_EQ(ParseRetention("0y").error().message, "expected at least 1y, got \"0y\"");
  EXPECT_EQ(*ParseRetention("2w"), std::chrono::hours(24 * 14));
}

}  // namespace
}  // namespace drift::evidence
