#include "evidence/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/atomic_file.h"

namespace drift::evidence {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 4096;

// Reads a whole small file through an open descriptor.
Result<std::string> ReadAll(int fd, const std::string& what) {
  std::string out;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysErr(what, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxKeyFileBytes) {
      WipeString(out);
      return Err("{}: larger than {} bytes; not a key file", what, kMaxKeyFileBytes);
    }
  }
  return out;
}

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
  const std::string what = "secret key file " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) return Err("{}: is a symbolic link; name the key file itself", what);
    return SysErr(what, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return SysErr(what, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Err("{}: not a regular file", what);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Err(
        "{} has mode {:04o}; a secret key must not be accessible to group or others "
        "(chmod 0400 {})",
        what, st.st_mode & 07777, path);
  }
  if (check_owner && st.st_uid != ::geteuid()) {
    ::close(fd);
    return Err("{} is owned by uid {}, not by uid {} that runs drift_exporter", what, st.st_uid,
               ::geteuid());
  }
  Result<std::string> text = ReadAll(fd, what);
  ::close(fd);
  if (!text.ok()) return text.error();
  Result<SecretKey> key = SecretKey::Parse(*text);
  WipeString(*text);
  if (!key.ok()) return Err("{}: {}", what, key.error().message);
  return std::move(*key);
}

Result<PublicKey> LoadPublicKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return SysErr("public key file " + path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Err("public key file {}: not a regular file", path);
  }
  Result<std::string> text = ReadAll(fd, "public key file " + path);
  ::close(fd);
  if (!text.ok()) return text.error();
  Result<PublicKey> key = ParsePublicKeyFile(*text);
  if (!key.ok()) return Err("public key file {}: {}", path, key.error().message);
  return *key;
}

}  // namespace drift::evidence
