#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace drift {

using Sha256Digest = std::array<std::uint8_t, 32>;

// Initialises OpenSSL for the process: loads the system configuration (openssl.cnf: providers
// such as FIPS, TLS policy) but not OpenSSL's error texts, which this program never prints and
// which keep ~450 KiB of the library resident. libcurl's TLS errors keep libssl's reason texts
// ("certificate verify failed"); an error code from another OpenSSL library shows as
// "lib(N)::reason(M)", which `openssl errstr <code>` decodes. Call once, first thing in main,
// before any other OpenSSL use; later calls do nothing. Returns false when the configuration
// cannot be loaded.
bool InitOpenSsl();

// Streaming SHA-256 on OpenSSL's EVP interface, which uses the CPU's SHA extensions where present.
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
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

Sha256Digest Sha256Of(std::string_view bytes);

// Lower-case hex, the form sha256sum prints and baselines store.
std::string ToHex(std::span<const std::uint8_t> bytes);

// Accepts exactly 64 hex digits (either case); anything else is an error saying what was expected.
Result<Sha256Digest> ParseSha256Hex(std::string_view hex);

}  // namespace drift
