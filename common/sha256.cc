#include "common/sha256.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <stdexcept>

namespace drift {

Sha256::Sha256() {
  if (gnutls_hash_init(&ctx_, GNUTLS_DIG_SHA256) < 0) {
    throw std::runtime_error("GnuTLS: cannot initialise SHA-256");
  }
}

Sha256::~Sha256() { gnutls_hash_deinit(ctx_, nullptr); }

void Sha256::Update(std::span<const std::uint8_t> bytes) {
  gnutls_hash(ctx_, bytes.data(), bytes.size());
}

void Sha256::Update(std::string_view bytes) { gnutls_hash(ctx_, bytes.data(), bytes.size()); }

Sha256Digest Sha256::Finish() {
  Sha256Digest out{};
  gnutls_hash_output(ctx_, out.data());  // and starts a new stream
  return out;
}

Sha256Digest Sha256Of(std::string_view bytes) {
  Sha256Digest out{};
  gnutls_hash_fast(GNUTLS_DIG_SHA256, bytes.data(), bytes.size(), out.data());
  return out;
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

Result<Sha256Digest> ParseSha256Hex(std::string_view hex) {
  if (hex.size() != 64) {
    return Err("expected a SHA-256 as 64 hex digits, got {} characters", hex.size());
  }
  Sha256Digest out{};
  for (std::size_t i = 0; i < 64; ++i) {
    char c = hex[i];
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0)
      return Err("expected a SHA-256 as 64 hex digits, found {:?} at position {}", c, i + 1);
    out[i / 2] = static_cast<std::uint8_t>(out[i / 2] | (i % 2 == 0 ? v << 4 : v));
  }
  return out;
}

}  // namespace drift
