#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift {

// How a secret file is read (ReadSecretFile).
struct SecretFileOptions {
  // What the file is, for messages: "secret key file" makes them say "secret key file <path>";
  // empty, they say the path alone.
  std::string_view what;
  std::size_t max_bytes = 64 << 10;
  // False: a symbolic link is refused (the evidence key: a link could be pointed elsewhere).
  bool follow_symlinks = true;
  // True: any permission for group or others is refused (a key that someone else could replace),
  // not only reading.
  bool private_to_owner = false;
  // True: the file must belong to the effective user (another user could swap it in place).
  bool check_owner = false;
};

// Reads a secret (a token, a password, a private key) named in a configuration: one reader, so
// that every secret gets the same guarantees. On top of ReadRegularFile's (never blocks on a
// FIFO or device, type and size checked on the open descriptor) it refuses, on that same
// descriptor, a file its group or others may read, and zeroes every buffer it used but the one
// it returns. Messages name the file and, for a mode, the command that fixes it:
//   "cannot read <file>: <strerror>"                      (sys_errno set)
//   "cannot read <file>: not a regular file (a FIFO)"
//   "<file> is a symbolic link; name the file itself"     (follow_symlinks false)
//   "<file> is larger than <max_bytes> bytes"             (sys_errno EFBIG)
//   "<file> is readable by its group or others (mode 0644); run `chmod 600 <path>`"
//   "<file> is accessible to its group or others (mode 0620); run `chmod 600 <path>`"
//                                                         (private_to_owner)
//   "<file> is owned by uid 65534, not by uid 0 that runs drift_exporter"  (check_owner)
// where <file> is "<what> <path>", or the path alone. The caller wipes the secret (WipeSecret)
// when done with it. Thread-safe.
Result<std::string> ReadSecretFile(const std::string& path, const SecretFileOptions& options = {});

// Zeroes `secret` in a way the compiler cannot drop, then empties it.
void WipeSecret(std::string& secret);

}  // namespace drift
