#include "evidence/keys.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/regular_file.h"

namespace drift::evidence {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 4096;

// A key file that did not exist, with exactly `mode`, written atomically: never half a key.
Status WriteNewFile(const std::string& path, std::string_view text, mode_t mode) {
  Status s = WriteFileAtomically(path, text, {.mode = mode, .replace = false});
  if (!s.ok() && s.error().sys_errno == EEXIST) {
    return Err("{} already exists; not replacing a key", path);
  }
  return s;
}

}  // namespace

std::string PublicKeyPathFor(const std::string& secret_key_path) {
  if (secret_key_path.ends_with(".key")) {
    return secret_key_path.substr(0, secret_key_path.size() - 4) + ".pub";
  }
  return secret_key_path + ".pub";
}

Status WriteKeyPairAt(const std::string& secret_path, const std::string& public_path,
                      const SecretKey& key) {
  std::string secret = key.FormatFile();
  Status s = WriteNewFile(secret_path, secret, 0400);
  WipeString(secret);
  if (!s.ok()) return s;
  if (Status p = WriteNewFile(public_path, FormatPublicKeyFile(key.public_key()), 0644); !p.ok()) {
    ::unlink(secret_path.c_str());
    return p;
  }
  return {};
}

SecretFileOptions SecretKeyFileOptions(bool check_owner) {
  // Stricter than other secrets: a key someone else could replace (group-writable, a symbolic
  // link, another user's file) would sign records with a key that is not ours.
  return {.what = "secret key file",
          .max_bytes = kMaxKeyFileBytes,
          .follow_symlinks = false,
          .private_to_owner = true,
          .check_owner = check_owner};
}

Result<KeyPairPaths> WriteKeyPair(const std::string& dir, const SecretKey& key) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return SysErr(dir, errno);
  KeyPairPaths paths{(std::filesystem::path(dir) / kSecretKeyFileName).string(),
                     (std::filesystem::path(dir) / kPublicKeyFileName).string()};
  if (Status s = WriteKeyPairAt(paths.secret_key, paths.public_key, key); !s.ok()) {
    return s.error();
  }
  return paths;
}

Result<SecretKey> LoadSecretKeyFile(const std::string& path, bool check_owner) {
  Result<std::string> text = ReadSecretFile(path, SecretKeyFileOptions(check_owner));
  if (!text.ok()) return text.error();
  Result<SecretKey> key = SecretKey::Parse(*text);
  WipeSecret(*text);
  if (!key.ok()) return Err("secret key file {}: {}", path, key.error().message);
  return std::move(*key);
}

Result<PublicKey> LoadPublicKeyFile(const std::string& path) {
  Result<std::string> text = ReadRegularFile(path, kMaxKeyFileBytes);
  if (!text.ok()) {
    Error e = text.error();
    e.message = fmt::format("public key file {}: {}", path, e.message);
    return e;
  }
  Result<PublicKey> key = ParsePublicKeyFile(*text);
  if (!key.ok()) return Err("public key file {}: {}", path, key.error().message);
  return *key;
}

}  // namespace drift::evidence
