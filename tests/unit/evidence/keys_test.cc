#include "evidence/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/evidence/test_util.h"

namespace drift::evidence {
namespace {

using testing::ReadText;
using testing::TempDir;
using testing::TestKey;
using testing::WriteText;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(Keys, WriteKeyPairMakesA0400SecretAndAMinisignPublicKey) {
  TempDir dir;
  SecretKey key = TestKey(1);
  Result<KeyPairPaths> paths = WriteKeyPair(dir / "keys", key);
  ASSERT_TRUE(paths.ok()) << paths.error().message;
  EXPECT_EQ(paths->secret_key, dir / "keys/drift-evidence.key");
  EXPECT_EQ(paths->public_key, dir / "keys/drift-evidence.pub");
  EXPECT_EQ(ModeOf(paths->secret_key), 0400u);
  EXPECT_EQ(ModeOf(paths->public_key), 0644u);
  EXPECT_EQ(ModeOf(dir / "keys"), 0700u);
  EXPECT_EQ(ReadText(paths->public_key), FormatPublicKeyFile(key.public_key()));
  Result<SecretKey> loaded = LoadSecretKeyFile(paths->secret_key);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->public_key().key, key.public_key().key);
  Result<PublicKey> pub = LoadPublicKeyFile(paths->public_key);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->id, key.id());

  // Never replaces a key.
  Result<KeyPairPaths> again = WriteKeyPair(dir / "keys", TestKey(2));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message,
            dir / "keys/drift-evidence.key" + " already exists; not replacing a key");
}

TEST(Keys, LoadRejectsMissingWrongModeSymlinkAndGarbage) {
  TempDir dir;
  EXPECT_EQ(LoadSecretKeyFile(dir / "none.key").error().message,
            "cannot read secret key file " + (dir / "none.key") + ": No such file or directory");

  WriteText(dir / "open.key", TestKey(1).FormatFile());
  ::chmod((dir / "open.key").c_str(), 0644);
  EXPECT_EQ(LoadSecretKeyFile(dir / "open.key").error().message,
            "secret key file " + (dir / "open.key") +
                " is accessible to its group or others (mode 0644); run `chmod 600 " +
                (dir / "open.key") + "`");
  ::chmod((dir / "open.key").c_str(), 0620);  // writable by the group: it could be replaced
  EXPECT_EQ(LoadSecretKeyFile(dir / "open.key").error().message,
            "secret key file " + (dir / "open.key") +
                " is accessible to its group or others (mode 0620); run `chmod 600 " +
                (dir / "open.key") + "`");

  ::chmod((dir / "open.key").c_str(), 0600);
  ASSERT_EQ(::symlink((dir / "open.key").c_str(), (dir / "link.key").c_str()), 0);
  EXPECT_EQ(LoadSecretKeyFile(dir / "link.key").error().message,
            "secret key file " + (dir / "link.key") + " is a symbolic link; name the file itself");

  WriteText(dir / "garbage.key", "{\"not\": \"a key\"}\n");
  ::chmod((dir / "garbage.key").c_str(), 0400);
  Result<SecretKey> garbage = LoadSecretKeyFile(dir / "garbage.key");
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(garbage.error().message.starts_with("secret key file " + (dir / "garbage.key") +
                                                  ": not a drift_exporter evidence secret key"))
      << garbage.error().message;

  ASSERT_EQ(::mkdir((dir / "dir.key").c_str(), 0700), 0);
  EXPECT_EQ(
      LoadSecretKeyFile(dir / "dir.key").error().message,
      "cannot read secret key file " + (dir / "dir.key") + ": not a regular file (a directory)");
}

TEST(Keys, LoadRejectsAKeyOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  TempDir dir;
  WriteText(dir / "other.key", TestKey(1).FormatFile());
  ::chmod((dir / "other.key").c_str(), 0400);
  ASSERT_EQ(::chown((dir / "other.key").c_str(), 65534, 65534), 0);
  EXPECT_EQ(LoadSecretKeyFile(dir / "other.key").error().message,
            "secret key file " + (dir / "other.key") +
                " is owned by uid 65534, not by uid 0 that runs drift_exporter");
  EXPECT_TRUE(LoadSecretKeyFile(dir / "other.key", /*check_owner=*/false).ok());
}

TEST(Keys, PublicKeyInTheWrongFormatIsAClearError) {
  TempDir dir;
  WriteText(dir / "ssh.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoo user@host\n");
  EXPECT_EQ(LoadPublicKeyFile(dir / "ssh.pub").error().message,
            "public key file " + (dir / "ssh.pub") +
                ": not a minisign public key: the key line must be base64 of 42 bytes");
}

TEST(Keys, PublicKeyPathForTheSecretKey) {
  EXPECT_EQ(PublicKeyPathFor("/k/drift-evidence.key"), "/k/drift-evidence.pub");
  EXPECT_EQ(PublicKeyPathFor("/k/secret"), "/k/secret.pub");
}

}  // namespace
}  // namespace drift::evidence
