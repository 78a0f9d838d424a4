#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <functional>
#include <string>

#include "common/result.h"

namespace drift {

// Reads a whole regular file of at most `max_bytes` named in a configuration (the configuration
// itself, a secret, a CA file) without blocking on what is not one: it is opened O_NONBLOCK (a
// FIFO or /dev/stdin does not wait for a writer) and its type is checked on the open descriptor
// (so it cannot be swapped in between). A regular file on a hung network or FUSE mount can still
// block in read(), which no flag prevents.
// The error message is the reason only; the caller names the file:
//   open, fstat or read failed: strerror(errno), with sys_errno set;
//   not a regular file: "not a regular file (a FIFO)", sys_errno 0;
//   too large: "larger than <max_bytes> bytes", sys_errno EFBIG.
Result<std::string> ReadRegularFile(const std::string& path, std::size_t max_bytes);

// What a caller with more to check (common/secret_file.h) adds to the read.
struct RegularFileOptions {
  // False: a symbolic link is refused (O_NOFOLLOW; the error has sys_errno ELOOP).
  bool follow_symlinks = true;
  // Runs on the open descriptor's status, once it is known to be a regular file within the cap
  // and before a byte is read; its error is returned as it is.
  std::function<Status(const struct stat&)> check;
  // The bytes are a secret: the buffer is sized once (no reallocation leaves a copy behind) and
  // every buffer the read used is zeroed before it is freed, on success and on failure.
  bool wipe = false;
};
Result<std::string> ReadRegularFile(const std::string& path, std::size_t max_bytes,
                                    const RegularFileOptions& options);

}  // namespace drift
