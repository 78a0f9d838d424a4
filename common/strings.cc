#include "common/strings.h"

namespace drift {
namespace {

constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // U+2026 "…"

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string_view TrimLeft(std::string_view s) {
  const std::size_t first = s.find_first_not_of(kWhitespace);
  return first == std::string_view::npos ? std::string_view() : s.substr(first);
}

std::string_view TrimRight(std::string_view s) {
  const std::size_t last = s.find_last_not_of(kWhitespace);
  return last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1);
}

std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return lines;
}

std::string OneLine(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (std::string_view line : SplitLines(text)) {
    line = Trim(line);
    if (line.empty()) continue;
    if (!out.empty()) {
      // A line that already ends a sentence or introduces the next needs only a space.
      const char last = out.back();
      out += last == '.' || last == ';' || last == ':' ? " " : "; ";
    }
    for (char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '\t') {
        out += ' ';
      } else if (u < 0x20 || u == 0x7f) {
        out += '?';
      } else {
        out += c;
      }
    }
  }
  if (out.size() > max_bytes) {
    if (max_bytes < kEllipsis.size()) {
      // No room for the ellipsis: cut without one.
      std::size_t cut = max_bytes;
      while (cut > 0 && IsUtf8Continuation(out[cut])) --cut;
      out.resize(cut);
      return out;
    }
    std::size_t cut = max_bytes - kEllipsis.size();
    while (cut > 0 && IsUtf8Continuation(out[cut])) --cut;
    out.resize(cut);
    out += kEllipsis;
  }
  return out;
}

}  // namespace drift
