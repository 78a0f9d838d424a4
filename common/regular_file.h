#pragma once

#include <cstddef>
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

}  // namespace drift
