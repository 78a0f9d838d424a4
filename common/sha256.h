#pragma once

#include <gnutls/crypto.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Streaming SHA-256 from GnuTLS, which uses the CPU's SHA extensions where present (GnuTLS is
// the TLS library of the web server already: one crypto library in the process, not two).
// Not thread-safe; one instance per stream. Never throws after construction.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const std::uint8_t> bytes);
  void Update(std::string_view bytes);
  // Returns the digest and resets the instance for a new stream.
  Sha256Digest Finish();

 private:
  gnutls_hash_hd_t ctx_ = nullptr;
};

Sha256Digest Sha256Of(std::string_view bytes);

// Lower-case hex, the form sha256sum prints and baselines store.
std::string ToHex(std::span<const std::uint8_t> bytes);

// Accepts exactly 64 hex digits (either case); anything else is an error saying what was expected.
Result<Sha256Digest> ParseSha256Hex(std::string_view hex);

}  // namespace drift
