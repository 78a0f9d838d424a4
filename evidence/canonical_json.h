#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace drift::evidence {

// Serialises `value` in the canonical form every evidence record is written and hashed in
// (docs/evidence.md, "Canonical JSON"):
//   - no whitespace between tokens; object members sorted by key, comparing the keys' UTF-8
//     bytes as unsigned values; keys unique (nlohmann objects already are);
//   - strings: '"' and '\' escaped as \" and \\; U+0008, U+0009, U+000A, U+000C, U+000D as \b,
//     \t, \n, \f, \r; every other code point below U+0020 as \u00XX with lower-case hex; all else
//     (U+007F and non-ASCII included) as its own UTF-8 bytes, which must be valid (shortest form,
//     no surrogates);
//   - numbers: integers only, in decimal without leading zeros or '+' (-0 cannot occur);
//     floating-point values are rejected, so a record never depends on float formatting;
//   - true, false, null as themselves; nesting at most 32 levels.
// The caller appends the final LF of a record file. Pure; thread-safe; never throws.
Result<std::string> CanonicalJson(const nlohmann::json& value);

// One member of a JSON object as it appears in canonical text: the key unescaped, the value's
// exact bytes.
struct CanonicalMember {
  std::string key;
  std::string_view value;
};

// Checks without building a document that `text` is exactly what CanonicalJson writes for some
// value (so CanonicalJson(nlohmann::json::parse(text)) == text), and, when it is an object,
// returns its top-level members in order. A fast path for the verifier; the differential test
// keeps it in step with CanonicalJson. Pure; thread-safe; never throws.
Result<std::vector<CanonicalMember>> ScanCanonical(std::string_view text);

// The value of a canonical JSON string token (with its quotes), unescaped.
Result<std::string> UnescapeCanonicalString(std::string_view token);

}  // namespace drift::evidence
