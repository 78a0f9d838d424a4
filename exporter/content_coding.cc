#include "exporter/content_coding.h"

#include <strings.h>
#include <zlib.h>

#include <algorithm>
#include <climits>

#include "common/strings.h"

namespace drift::exporter {
namespace {

// Weights are counted in thousandths: a qvalue has at most three decimals (RFC 9110 §12.4.2).
constexpr int kWeightOne = 1000;

bool Is(std::string_view name, std::string_view want) {
  return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
}

// tchar of RFC 9110 §5.6.2.
bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 if `s` is
// not one.
int ParseQvalue(std::string_view s) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return -1;
  const int whole = s[0] - '0';
  if (s.size() == 1) return whole * kWeightOne;
  if (s[1] != '.' || s.size() > 5) return -1;
  int thousandths = 0;
  for (std::size_t i = 2; i < 5; ++i) {
    thousandths *= 10;
    if (i >= s.size()) continue;
    if (s[i] < '0' || s[i] > '9') return -1;
    thousandths += s[i] - '0';
  }
  if (whole == 1 && thousandths != 0) return -1;
  return whole * kWeightOne + thousandths;
}

struct Element {
  std::string_view coding;
  int weight = kWeightOne;
};

// One element of the list, `coding [OWS ";" OWS "q=" qvalue]` (already trimmed), or nullopt if
// malformed. The weight is the only parameter Accept-Encoding defines.
std::optional<Element> ParseElement(std::string_view element) {
  const std::size_t semicolon = element.find(';');
  Element e{Trim(element.substr(0, semicolon))};
  if (!IsToken(e.coding)) return std::nullopt;
  if (semicolon == std::string_view::npos) return e;
  std::string_view weight = Trim(element.substr(semicolon + 1));
  if (weight.size() < 2 || (weight[0] != 'q' && weight[0] != 'Q') || weight[1] != '=') {
    return std::nullopt;
  }
  e.weight = ParseQvalue(weight.substr(2));  // a second parameter fails here too
  if (e.weight < 0) return std::nullopt;
  return e;
}

}  // namespace

std::string_view ContentCodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kIdentity:
      return "identity";
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kNoneAcceptable:
      break;
  }
  return "none acceptable";
}

ContentCoding NegotiateContentCoding(std::optional<std::string_view> accept_encoding) {
  if (!accept_encoding) return ContentCoding::kIdentity;
  int gzip = -1, identity = -1, any = -1;  // -1: not named
  std::string_view rest = *accept_encoding;
  for (;;) {
    const std::size_t comma = rest.find(',');
    // Empty elements ("gzip,,br", a trailing comma) are allowed by the list syntax.
    std::string_view part = Trim(rest.substr(0, comma));
    std::optional<Element> e = part.empty() ? std::nullopt : ParseElement(part);
    if (e) {
      int* weight = Is(e->coding, "gzip") || Is(e->coding, "x-gzip") ? &gzip
                    : Is(e->coding, "identity")                      ? &identity
                    : e->coding == "*"                               ? &any
                                                                     : nullptr;
      if (weight != nullptr) *weight = std::max(*weight, e->weight);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (gzip < 0) gzip = std::max(any, 0);
  // Unnamed identity is acceptable (§12.5.3) but asked for by nothing: the least weight that
  // still accepts it, so that any accepted gzip is preferred.
  if (identity < 0) identity = any >= 0 ? any : 1;
  if (gzip > 0 && gzip >= identity) return ContentCoding::kGzip;
  if (identity > 0) return ContentCoding::kIdentity;
  return ContentCoding::kNoneAcceptable;
}

Result<std::string> GzipCompress(std::string_view text, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a 32 KiB window, with the gzip header and trailer instead of zlib's.
  int rc = deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    return Err("gzip: deflateInit2: {}", zs.msg != nullptr ? zs.msg : zError(rc));
  }
  // Room for the whole output, so that one deflate() call finishes the stream.
  const uLong bound = deflateBound(&zs, static_cast<uLong>(text.size()));
  if (bound > UINT_MAX) {
    deflateEnd(&zs);
    return Err("gzip: {} bytes is more than one deflate() call takes", text.size());
  }
  std::string out(bound, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  rc = deflate(&zs, Z_FINISH);
  std::string error;
  if (rc != Z_STREAM_END) error = zs.msg != nullptr ? zs.msg : zError(rc);
  const std::size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Err("gzip: deflate: {}", error);
  out.resize(written);
  out.shrink_to_fit();  // kept for as long as the body is served: give back the bound's slack
  return out;
}

}  // namespace drift::exporter
