#pragma once

// Inflates a gzip stream with zlib's own inflate, for tests that check what the exporter
// compressed. Tests that include this link ZLIB::ZLIB.

#include <zlib.h>

#include <optional>
#include <string>
#include <string_view>

namespace drift::testing {

// The bytes `gzip` inflates to, or nullopt if it is not exactly one complete gzip member (a
// corrupt stream, a truncated one, or bytes after its trailer).
inline std::optional<std::string> Gunzip(std::string_view gzip) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;  // gzip wrapper only
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  zs.avail_in = static_cast<uInt>(gzip.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - zs.avail_out);
  }
  const bool whole = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!whole) return std::nullopt;
  return out;
}

}  // namespace drift::testing
