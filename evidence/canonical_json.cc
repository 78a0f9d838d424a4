#include "evidence/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <vector>

#include "common/strings.h"

namespace drift::evidence {
namespace {

constexpr int kMaxDepth = 32;

Status AppendString(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t len = Utf8SequenceLength(s, i);
      if (len == 0) return Err("invalid UTF-8 at byte {} of a string", i);
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return {};
}

Status Append(const nlohmann::json& v, int depth, std::string& out) {
  if (depth > kMaxDepth) return Err("nested deeper than {} levels", kMaxDepth);
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out += "null";
      return {};
    case nlohmann::json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return {};
    case nlohmann::json::value_t::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      return {};
    case nlohmann::json::value_t::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      return {};
    case nlohmann::json::value_t::number_float:
      return Err("floating-point number {} (records hold integers only)", v.dump());
    case nlohmann::json::value_t::string:
      return AppendString(v.get_ref<const std::string&>(), out);
    case nlohmann::json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        if (Status s = Append(item, depth + 1, out); !s.ok()) return s;
      }
      out += ']';
      return {};
    }
    case nlohmann::json::value_t::object: {
      // std::string's ordering compares chars as unsigned (char_traits<char>::lt), which is
      // UTF-8 byte order; sort explicitly so the rule does not hang on the container's.
      std::vector<const std::string*> keys;
      keys.reserve(v.size());
      for (const auto& [key, _] : v.items()) keys.push_back(&key);
      std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) {
        return std::lexicographical_compare(
            a->begin(), a->end(), b->begin(), b->end(), [](char x, char y) {
              return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
            });
      });
      out += '{';
      bool first = true;
      for (const std::string* key : keys) {
        if (!first) out += ',';
        first = false;
        if (Status s = AppendString(*key, out); !s.ok()) {
          return Err("key: {}", s.error().message);
        }
        out += ':';
        if (Status s = Append(v.at(*key), depth + 1, out); !s.ok()) {
          return Err("{}: {}", *key, s.error().message);
        }
      }
      out += '}';
      return {};
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      break;
  }
  return Err("value of a type JSON cannot hold");
}

// A recursive-descent check of canonical text: the grammar of JSON with every choice CanonicalJson
// never makes (whitespace, other escapes, unsorted keys, floats, -0, leading zeros) rejected.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : t_(text) {}

  Status Value(int depth, std::vector<CanonicalMember>* members) {
    if (depth > kMaxDepth) return Fail("nested deeper than 32 levels");
    if (i_ >= t_.size()) return Fail("unexpected end");
    char c = t_[i_];
    if (c == '{') return Object(depth, members);
    if (c == '[') return Array(depth);
    if (c == '"') return String();
    if (c == '-' || (c >= '0' && c <= '9')) return Number();
    for (std::string_view word : {"true", "false", "null"}) {
      if (t_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return {};
      }
    }
    return Fail("unexpected character");
  }
  bool AtEnd() const { return i_ == t_.size(); }
  Status Fail(std::string_view what) const { return Err("at byte {}: {}", i_, what); }

 private:
  Status Object(int depth, std::vector<CanonicalMember>* members) {
    ++i_;
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      return {};
    }
    std::string previous;
    bool first = true;
    for (;;) {
      std::size_t start = i_;
      if (i_ >= t_.size() || t_[i_] != '"') return Fail("expected a key");
      if (Status s = String(); !s.ok()) return s;
      Result<std::string> key = UnescapeCanonicalString(t_.substr(start, i_ - start));
      if (!key.ok()) return key.error();
      if (!first && !std::lexicographical_compare(previous.begin(), previous.end(), key->begin(),
                                                  key->end(), [](char x, char y) {
                                                    return static_cast<unsigned char>(x) <
                                                           static_cast<unsigned char>(y);
                                                  })) {
        return Fail("keys not in order or repeated");
      }
      first = false;
      if (i_ >= t_.size() || t_[i_] != ':') return Fail("expected ':'");
      ++i_;
      std::size_t value_start = i_;
      if (Status s = Value(depth + 1, nullptr); !s.ok()) return s;
      if (members) members->push_back({*key, t_.substr(value_start, i_ - value_start)});
      previous = std::move(*key);
      if (i_ >= t_.size()) return Fail("unexpected end");
      if (t_[i_] == '}') {
        ++i_;
        return {};
      }
      if (t_[i_] != ',') return Fail("expected ',' or '}'");
      ++i_;
    }
  }

  Status Array(int depth) {
    ++i_;
    if (i_ < t_.size() && t_[i_] == ']') {
      ++i_;
      return {};
    }
    for (;;) {
      if (Status s = Value(depth + 1, nullptr); !s.ok()) return s;
      if (i_ >= t_.size()) return Fail("unexpected end");
      if (t_[i_] == ']') {
        ++i_;
        return {};
      }
      if (t_[i_] != ',') return Fail("expected ',' or ']'");
      ++i_;
    }
  }

  Status String() {
    ++i_;
    while (i_ < t_.size()) {
      auto c = static_cast<unsigned char>(t_[i_]);
      if (c == '"') {
        ++i_;
        return {};
      }
      if (c < 0x20) return Fail("unescaped control character");
      if (c >= 0x80) {
        std::size_t len = Utf8SequenceLength(t_, i_);
        if (len == 0) return Fail("invalid UTF-8");
        i_ += len;
        continue;
      }
      if (c != '\\') {
        ++i_;
        continue;
      }
      if (i_ + 1 >= t_.size()) return Fail("unexpected end");
      char e = t_[i_ + 1];
      if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        i_ += 2;
        continue;
      }
      // \u00XX, lower-case hex, only for control characters without a short escape.
      if (e != 'u' || i_ + 6 > t_.size() || t_.substr(i_ + 2, 2) != "00") {
        return Fail("escape CanonicalJson does not write");
      }
      int v = 0;
      for (std::size_t k = i_ + 4; k < i_ + 6; ++k) {
        char h = t_[k];
        int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : -1;
        if (d < 0) return Fail("escape CanonicalJson does not write");
        v = v * 16 + d;
      }
      if (v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t') {
        return Fail("escape CanonicalJson does not write");
      }
      i_ += 6;
    }
    return Fail("unterminated string");
  }

  Status Number() {
    std::size_t start = i_;
    bool negative = t_[i_] == '-';
    if (negative) ++i_;
    if (i_ >= t_.size() || t_[i_] < '0' || t_[i_] > '9') return Fail("expected a digit");
    if (t_[i_] == '0') {
      ++i_;
      if (negative) return Fail("-0");
    } else {
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
    }
    if (i_ < t_.size() &&
        (t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E' || (t_[i_] >= '0' && t_[i_] <= '9'))) {
      return Fail("not an integer in canonical form");
    }
    std::string_view digits = t_.substr(start, i_ - start);
    // In range of int64 (negative) or uint64, as nlohmann reads them exactly.
    if (negative) {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc()) return Fail("integer out of range");
    } else {
      std::uint64_t v = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc()) return Fail("integer out of range");
    }
    return {};
  }

  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

Result<std::vector<CanonicalMember>> ScanCanonical(std::string_view text) {
  Scanner scanner(text);
  std::vector<CanonicalMember> members;
  if (Status s = scanner.Value(0, &members); !s.ok()) return s.error();
  if (!scanner.AtEnd()) return scanner.Fail("trailing bytes").error();
  return members;
}

Result<std::string> UnescapeCanonicalString(std::string_view token) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') {
    return Err("not a string token");
  }
  std::string_view body = token.substr(1, token.size() - 2);
  if (body.find('\\') == std::string_view::npos) return std::string(body);
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\') {
      out += body[i];
      continue;
    }
    char e = i + 1 < body.size() ? body[i + 1] : '\0';
    switch (e) {
      case '"':
      case '\\':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        if (i + 5 >= body.size()) return Err("bad escape");
        int v = 0;
        auto [p, ec] = std::from_chars(body.data() + i + 2, body.data() + i + 6, v, 16);
        if (ec != std::errc() || p != body.data() + i + 6 || v >= 0x20) return Err("bad escape");
        out += static_cast<char>(v);
        i += 4;
        break;
      }
      default:
        return Err("bad escape");
    }
    ++i;
  }
  return out;
}

Result<std::string> CanonicalJson(const nlohmann::json& value) {
  std::string out;
  out.reserve(512);
  if (Status s = Append(value, 0, out); !s.ok()) return s.error();
  return out;
}

}  // namespace drift::evidence
