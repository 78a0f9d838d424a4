#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

// Content codings of HTTP responses (RFC 9110 §8.4.1): which one a request accepts, and gzip.
namespace drift::exporter {

// How a body that exists as identity and as gzip may be sent to one request.
enum class ContentCoding {
  kIdentity,        // as it is
  kGzip,            // gzip-compressed, with Content-Encoding: gzip
  kNoneAcceptable,  // the request refuses both ("identity;q=0", or "*;q=0" without gzip)
};

// "identity", "gzip" or "none acceptable" (for logs and the `encoding` label).
std::string_view ContentCodingName(ContentCoding coding);

// The coding to send, by the value of the request's Accept-Encoding header (nullopt when the
// request has none), following RFC 9110 §12.5.3:
// - the value is a list of `coding [OWS ";" OWS "q=" qvalue]` separated by commas with optional
//   whitespace; coding names and the "q" are case-insensitive; "x-gzip" is gzip (§8.4.1.3);
// - a coding's weight is that of the element naming it (the highest, if named twice), else that
//   of "*"; gzip named by neither is not accepted, identity named by neither is acceptable
//   (unless refused, identity always is) but preferred least;
// - gzip when its weight is above 0 and not below identity's (on a tie the smaller body wins),
//   else identity when its weight is above 0, else kNoneAcceptable.
// No header, or an empty value, means identity. A malformed element (a coding name that is not
// a token, a weight that is not a qvalue such as "q=2" or "q=0.0001", a parameter other than q,
// spaces around '=') is ignored as if absent, so that it can never select gzip. Pure.
ContentCoding NegotiateContentCoding(std::optional<std::string_view> accept_encoding);

// `text` compressed as one gzip member (RFC 1952: deflate with the gzip header and trailer,
// no file name, modification time 0) at zlib `level` (1 fastest to 9 smallest). The same input
// and level always give the same bytes. An error says what zlib said (out of memory). Pure;
// thread-safe.
Result<std::string> GzipCompress(std::string_view text, int level);

}  // namespace drift::exporter
