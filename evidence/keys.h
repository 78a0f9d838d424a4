#pragma once

#include <string>

#include "common/result.h"
#include "common/secret_file.h"
#include "evidence/minisign.h"

namespace drift::evidence {

// File names `evidence keygen` writes in its output folder.
inline constexpr std::string_view kSecretKeyFileName = "drift-evidence.key";
inline constexpr std::string_view kPublicKeyFileName = "drift-evidence.pub";

// The public key file beside a secret key file: "x.key" -> "x.pub", anything else -> "<x>.pub".
std::string PublicKeyPathFor(const std::string& secret_key_path);

struct KeyPairPaths {
  std::string secret_key;
  std::string public_key;
};

// Writes `key` as <dir>/drift-evidence.key (mode 0400, our format) and <dir>/drift-evidence.pub
// (mode 0644, minisign's format), creating `dir` (mode 0700) and its parents if needed. Refuses to
// replace an existing key file. Both files are fsynced before the folder is. Never logs the secret.
Result<KeyPairPaths> WriteKeyPair(const std::string& dir, const SecretKey& key);
// Same for explicit paths (the daemon's create_key_if_missing).
Status WriteKeyPairAt(const std::string& secret_path, const std::string& public_path,
                      const SecretKey& key);

// How a secret key file is read (common/secret_file.h): no symbolic link, no permission for
// group or others, at most 4 KiB, and owned by the effective user when `check_owner`.
SecretFileOptions SecretKeyFileOptions(bool check_owner);

// Reads a secret key file. Rejects (with a message naming the file and the fix) a missing or
// unreadable file, a symlink, anything but a regular file, a mode that lets group or others in,
// a file owned by another user than the effective one (when `check_owner`), and a bad format.
// The bytes read are wiped before returning.
Result<SecretKey> LoadSecretKeyFile(const std::string& path, bool check_owner = true);

// Reads a public key file in minisign's format.
Result<PublicKey> LoadPublicKeyFile(const std::string& path);

}  // namespace drift::evidence
