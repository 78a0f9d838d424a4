#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "evidence/minisign.h"

namespace drift::fuzz {

// The keys the seed corpus is signed with (make_verify_corpus): the evidence tests' TestKey(n),
// a key derived from 32 bytes of n, id bytes n*16 + i.
inline evidence::SecretKey SeedSecretKey(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(n);
  evidence::KeyId id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(n * 16 + i);
  return evidence::SecretKey::FromSeed(seed, id);
}

// The public half of SeedSecretKey(1), the key the fuzz targets trust.
inline const evidence::PublicKey& SeedKey() {
  static const evidence::PublicKey key = SeedSecretKey(1).public_key();
  return key;
}

}  // namespace drift::fuzz
