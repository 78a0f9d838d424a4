#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// Small text helpers every library uses, so that "trimmed" and "one line" mean one thing
// everywhere. Pure functions; thread-safe; none throws.
namespace drift {

// The whitespace Trim removes: space, tab, CR, LF, form feed, vertical tab (C's isspace in the
// "C" locale).
inline constexpr std::string_view kWhitespace = " \t\r\n\f\v";

// `s` without leading and/or trailing kWhitespace. The result points into `s`.
std::string_view Trim(std::string_view s);
std::string_view TrimLeft(std::string_view s);
std::string_view TrimRight(std::string_view s);

// The lines of `text`, split at LF, each without one trailing CR; a last line without LF counts,
// an empty text has none ("a\r\nb" and "a\nb\n" are both {"a", "b"}; "\n" is {""}). The views
// point into `text`.
std::vector<std::string_view> SplitLines(std::string_view text);

// `text` made fit for one line of a table, a log line or a reason: its non-empty trimmed lines
// joined with "; " (a line that ends in '.', ';' or ':' is followed by a space only: "Can't
// operate. Failed to connect"); tabs become spaces and other control characters "?"; cut to at
// most `max_bytes` bytes, never inside a UTF-8 sequence, ending in "…" where cut.
std::string OneLine(std::string_view text, std::size_t max_bytes);

// Whether `s` is a name of lower-case letters, digits and '_', 1 to 64 bytes: a runbook, a
// control framework ("update_to_baseline_generation", "pci_dss").
bool IsLowerSnakeName(std::string_view s);

// UTF-8, strictly (RFC 3629): shortest forms only, no surrogates, nothing past U+10FFFF.
//
// The length of the sequence that starts at text[i] (1 to 4), or 0 if none valid starts there.
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i);
// The index of the first byte of `text` that is not part of valid UTF-8, or npos.
std::size_t FirstInvalidUtf8(std::string_view text);
bool IsValidUtf8(std::string_view text);
// Whether `c` continues a sequence (10xxxxxx) rather than starting a character.
constexpr bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence. Points into `text`.
std::string_view Utf8Prefix(std::string_view text, std::size_t max_bytes);

}  // namespace drift
