#include "evidence/record.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>

#include "common/strings.h"
#include "evidence/canonical_json.h"

namespace drift::evidence {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kCommentTag = "drift_evidence v1";
constexpr std::array<std::string_view, 5> kSeverities = {"none", "low", "medium", "high",
                                                         "critical"};

bool IsCheckName(std::string_view s) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  return !s.empty() && s.size() <= 64 && alnum(s[0]) &&
         std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '-' || c == '.'; });
}

bool IsPrintable(std::string_view s) {
  return IsValidUtf8(s) && std::none_of(s.begin(), s.end(), [](char c) {
           return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
         });
}

Result<std::uint64_t> ParseUint(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || (s.size() > 1 && s[0] == '0'))
    return Err("expected a decimal number, got {:?}", s);
  return v;
}

std::string_view HashBytes(const Sha256Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace

bool IsValidKind(std::string_view kind) {
  return !kind.empty() && kind.size() <= 32 && kind[0] >= 'a' && kind[0] <= 'z' &&
         std::all_of(kind.begin(), kind.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

Status ValidateRecord(const Record& record) {
  if (!IsValidKind(record.kind)) {
    return Err("kind {:?}: expected lower-case letters, digits and '_' (at most 32)", record.kind);
  }
  if (record.check && !IsCheckName(*record.check)) {
    return Err("check {:?}: not a check name", *record.check);
  }
  for (const std::string& c : record.controls) {
    std::size_t colon = c.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == c.size() || c.size() > 160 ||
        !IsPrintable(c) || c.find(' ') != std::string::npos) {
      return Err("control {:?}: expected \"framework:id\" without spaces", c);
    }
  }
  if (std::find(kSeverities.begin(), kSeverities.end(), record.severity) == kSeverities.end()) {
    return Err("severity {:?}: expected none, low, medium, high or critical", record.severity);
  }
  if (record.actor.empty() || record.actor.size() > 256 || !IsPrintable(record.actor)) {
    return Err("actor {:?}: expected 1 to 256 printable characters", record.actor);
  }
  if (!record.payload.is_object()) return Err("payload: expected a JSON object");
  return {};
}

ChainValue GenesisChain() { return ChainValue{}; }

ChainValue NextChain(const ChainValue& previous, std::uint64_t seq,
                     const Sha256Digest& record_sha256) {
  std::array<std::uint8_t, 8> seq_be{};
  for (int i = 7; i >= 0; --i) {
    seq_be[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seq & 0xFF);
    seq >>= 8;
  }
  Sha256 h;
  h.Update(HashBytes(previous));
  h.Update(std::span<const std::uint8_t>(seq_be));
  h.Update(HashBytes(record_sha256));
  return h.Finish();
}

std::string FormatRecordTime(WallTime t) {
  auto ms = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  auto frac = static_cast<int>(ms - secs * 1000);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

Result<WallTime> ParseRecordTime(std::string_view text) {
  // Exactly the form FormatRecordTime writes, so that a record has one spelling of its time.
  auto digits = [&](std::size_t pos, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return Err("expected a time like 2024-08-01T12:00:05.250Z, got {:?}", text);
  }
  int year = digits(0, 4), mon = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
      min = digits(14, 2), sec = digits(17, 2), ms = digits(20, 3);
  if (year < 1970 || mon < 1 || mon > 12 || day < 1 || hour < 0 || hour > 23 || min < 0 ||
      min > 59 || sec < 0 || sec > 59 || ms < 0) {
    return Err("expected a time like 2024-08-01T12:00:05.250Z, got {:?}", text);
  }
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(mon)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return Err("no such date in {:?}", text);
  // The clock counts nanoseconds in 64 bits: past 2262 the time is not representable.
  if (year > 2200) return Err("time {:?} is out of range", text);
  return WallTime(sys_days(ymd).time_since_epoch() + hours(hour) + minutes(min) + seconds(sec) +
                  milliseconds(ms));
}

Result<std::string> SerializeRecord(const Record& record, const RecordHeader& header) {
  if (Status s = ValidateRecord(record); !s.ok()) return s.error();
  nlohmann::json controls = nlohmann::json::array();
  for (const std::string& c : record.controls) controls.push_back(c);
  nlohmann::json doc = {
      {"actor", record.actor},
      {"check", record.check ? nlohmann::json(*record.check) : nlohmann::json(nullptr)},
      {"controls", std::move(controls)},
      {"host", header.host},
      {"kind", record.kind},
      {"payload", record.payload},
      {"prev_chain", ToHex(header.prev_chain)},
      {"schema", kSchemaVersion},
      {"seq", header.seq},
      {"severity", record.severity},
      {"time", FormatRecordTime(header.time)},
  };
  Result<std::string> text = CanonicalJson(doc);
  if (!text.ok()) return Err("record: {}", text.error().message);
  *text += '\n';
  return text;
}

Result<ParsedRecord> ParseRecord(std::string_view file) {
  if (file.empty() || file.back() != '\n') return Err("not a record: does not end with a newline");
  nlohmann::json doc = nlohmann::json::parse(file.substr(0, file.size() - 1), nullptr, false);
  if (doc.is_discarded()) return Err("not a record: not valid JSON");
  if (!doc.is_object()) return Err("not a record: not a JSON object");
  static constexpr std::array<std::string_view, 11> kFields = {
      "actor",      "check",  "controls", "host",     "kind", "payload",
      "prev_chain", "schema", "seq",      "severity", "time"};
  for (const auto& [key, _] : doc.items()) {
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      return Err("not a record: unknown field {:?}", key);
    }
  }
  for (std::string_view f : kFields) {
    if (!doc.contains(f)) return Err("not a record: field {:?} missing", f);
  }
  const nlohmann::json& schema = doc["schema"];
  if (!schema.is_number_integer()) return Err("not a record: schema is not an integer");
  if (schema.get<std::int64_t>() != kSchemaVersion) {
    return Err("record schema {} is not supported (this version reads schema {})", schema.dump(),
               kSchemaVersion);
  }
  ParsedRecord out;
  auto str = [&](std::string_view key, std::string& into) -> Status {
    const nlohmann::json& v = doc[std::string(key)];
    if (!v.is_string()) return Err("not a record: {} is not a string", key);
    into = v.get<std::string>();
    return {};
  };
  for (auto [key, into] : std::initializer_list<std::pair<std::string_view, std::string*>>{
           {"actor", &out.record.actor},
           {"host", &out.header.host},
           {"kind", &out.record.kind},
           {"severity", &out.record.severity}}) {
    if (Status s = str(key, *into); !s.ok()) return s.error();
  }
  if (!doc["check"].is_null()) {
    std::string check;
    if (Status s = str("check", check); !s.ok()) return s.error();
    out.record.check = std::move(check);
  }
  if (!doc["controls"].is_array()) return Err("not a record: controls is not an array");
  for (const nlohmann::json& c : doc["controls"]) {
    if (!c.is_string()) return Err("not a record: a control is not a string");
    out.record.controls.push_back(c.get<std::string>());
  }
  out.record.payload = doc["payload"];
  const nlohmann::json& seq = doc["seq"];
  if (!seq.is_number_unsigned() || seq.get<std::uint64_t>() == 0) {
    return Err("not a record: seq is not a positive integer");
  }
  out.header.seq = seq.get<std::uint64_t>();
  std::string text;
  if (Status s = str("prev_chain", text); !s.ok()) return s.error();
  Result<Sha256Digest> prev = ParseSha256Hex(text);
  if (!prev.ok()) return Err("not a record: prev_chain: {}", prev.error().message);
  out.header.prev_chain = *prev;
  if (Status s = str("time", text); !s.ok()) return s.error();
  Result<WallTime> time = ParseRecordTime(text);
  if (!time.ok()) return Err("not a record: time: {}", time.error().message);
  out.header.time = *time;
  // Byte-for-byte canonical: rules out duplicate keys, whitespace, escapes spelled another way,
  // upper-case hex and every other second spelling of the same content.
  Result<std::string> again = SerializeRecord(out.record, out.header);
  if (!again.ok()) return Err("not a record: {}", again.error().message);
  if (*again != file) return Err("not a record: not in canonical form");
  return out;
}

Result<RecordView> ScanRecord(std::string_view file) {
  if (file.empty() || file.back() != '\n') return Err("not a record: does not end with a newline");
  Result<std::vector<CanonicalMember>> members = ScanCanonical(file.substr(0, file.size() - 1));
  if (!members.ok()) return Err("not a record: not canonical JSON ({})", members.error().message);
  static constexpr std::array<std::string_view, 11> kFields = {
      "actor",      "check",  "controls", "host",     "kind", "payload",
      "prev_chain", "schema", "seq",      "severity", "time"};
  if (members->size() != kFields.size() || file.front() != '{') {
    return Err("not a record: expected an object of the 11 record fields");
  }
  const std::vector<CanonicalMember>& m = *members;
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    if (m[i].key != kFields[i]) return Err("not a record: expected field {:?}", kFields[i]);
  }
  auto is_string = [](std::string_view v) { return v.size() >= 2 && v.front() == '"'; };
  // Fields whose valid values never need escaping: the token's inside is the value.
  auto plain = [&](std::string_view v) { return v.substr(1, v.size() - 2); };
  RecordView out;
  // actor: 1 to 256 printable characters.
  if (!is_string(m[0].value)) return Err("not a record: actor is not a string");
  Result<std::string> actor = UnescapeCanonicalString(m[0].value);
  if (!actor.ok() || actor->empty() || actor->size() > 256 || !IsPrintable(*actor)) {
    return Err("not a record: bad actor");
  }
  if (m[1].value != "null") {
    if (!is_string(m[1].value) || !IsCheckName(plain(m[1].value))) {
      return Err("not a record: bad check");
    }
    out.check = std::string(plain(m[1].value));
  }
  // controls: an array of "framework:id" strings. ScanCanonical has checked the array's syntax,
  // so each element is a string token followed by ',' or ']'.
  std::string_view controls = m[2].value;
  if (controls.front() != '[') return Err("not a record: controls is not an array");
  if (controls != "[]") {
    std::size_t pos = 1;
    while (pos < controls.size()) {
      if (controls[pos] != '"') return Err("not a record: a control is not a string");
      std::size_t end = pos + 1;
      while (controls[end] != '"') end += controls[end] == '\\' ? 2 : 1;
      Result<std::string> c = UnescapeCanonicalString(controls.substr(pos, end + 1 - pos));
      std::size_t colon = c.ok() ? c->find(':') : std::string::npos;
      if (colon == std::string::npos || colon == 0 || colon + 1 == c->size() || c->size() > 160 ||
          !IsPrintable(*c) || c->find(' ') != std::string::npos) {
        return Err("not a record: bad control");
      }
      pos = end + 2;  // past the quote and the ',' or ']'
    }
  }
  if (!is_string(m[3].value)) return Err("not a record: host is not a string");
  out.header.host = *UnescapeCanonicalString(m[3].value);
  if (!is_string(m[4].value) || !IsValidKind(plain(m[4].value))) {
    return Err("not a record: bad kind");
  }
  out.kind = std::string(plain(m[4].value));
  if (m[5].value.front() != '{') return Err("not a record: payload is not an object");
  out.payload = m[5].value;
  std::string_view prev = is_string(m[6].value) ? plain(m[6].value) : "";
  Result<Sha256Digest> prev_chain = ParseSha256Hex(prev);
  if (!prev_chain.ok() || ToHex(*prev_chain) != prev) return Err("not a record: bad prev_chain");
  out.header.prev_chain = *prev_chain;
  if (m[7].value != "1") {
    return Err("record schema {} is not supported (this version reads schema {})", m[7].value,
               kSchemaVersion);
  }
  Result<std::uint64_t> seq = ParseUint(m[8].value);
  if (!seq.ok() || *seq == 0) return Err("not a record: seq is not a positive integer");
  out.header.seq = *seq;
  if (!is_string(m[9].value) ||
      std::find(kSeverities.begin(), kSeverities.end(), plain(m[9].value)) == kSeverities.end()) {
    return Err("not a record: bad severity");
  }
  Result<WallTime> time = is_string(m[10].value) ? ParseRecordTime(plain(m[10].value))
                                                 : Result<WallTime>(Err("not a string"));
  if (!time.ok()) return Err("not a record: bad time");
  out.header.time = *time;
  return out;
}

std::string FormatTrustedComment(const TrustedComment& c) {
  return fmt::format("{} seq={} time={} kind={} record_sha256={} chain={}", kCommentTag, c.seq,
                     c.time, c.kind, ToHex(c.record_sha256), ToHex(c.chain));
}

Result<TrustedComment> ParseTrustedComment(std::string_view text) {
  auto fail = [&] {
    return Err(
        "trusted comment is not \"drift_evidence v1 seq=<n> time=<time> kind=<kind> "
        "record_sha256=<hex> chain=<hex>\": {:?}",
        text);
  };
  if (!text.starts_with(kCommentTag) || text.size() == kCommentTag.size() ||
      text[kCommentTag.size()] != ' ') {
    return fail();
  }
  std::string_view rest = text.substr(kCommentTag.size() + 1);
  static constexpr std::array<std::string_view, 5> kKeys = {
      "seq=", "time=", "kind=", "record_sha256=", "chain="};
  std::array<std::string_view, 5> values;
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    std::size_t sp = rest.find(' ');
    std::string_view field = rest.substr(0, sp);
    if (!field.starts_with(kKeys[i]) || (i + 1 < kKeys.size()) == (sp == std::string_view::npos)) {
      return fail();
    }
    values[i] = field.substr(kKeys[i].size());
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  }
  TrustedComment c;
  Result<std::uint64_t> seq = ParseUint(values[0]);
  Result<Sha256Digest> hash = ParseSha256Hex(values[3]);
  Result<Sha256Digest> chain = ParseSha256Hex(values[4]);
  if (!seq.ok() || !hash.ok() || !chain.ok() || !IsValidKind(values[2])) return fail();
  c.seq = *seq;
  c.time = std::string(values[1]);
  c.kind = std::string(values[2]);
  c.record_sha256 = *hash;
  c.chain = *chain;
  return c;
}

std::string RecordStem(std::uint64_t seq, std::string_view kind) {
  return fmt::format("{:020}-{}", seq, kind);
}

std::optional<RecordFileName> ParseRecordFileName(std::string_view name) {
  RecordFileName out;
  if (name.ends_with(kSignatureSuffix)) {
    out.signature = true;
    name.remove_suffix(kSignatureSuffix.size());
  } else if (name.ends_with(kRecordSuffix)) {
    name.remove_suffix(kRecordSuffix.size());
  } else {
    return std::nullopt;
  }
  if (name.size() < 22 || name[20] != '-') return std::nullopt;
  std::string_view digits = name.substr(0, 20);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + 20, out.seq);
  if (ec != std::errc() || out.seq == 0) return std::nullopt;
  out.kind = std::string(name.substr(21));
  if (!IsValidKind(out.kind)) return std::nullopt;
  return out;
}

std::string DayFolder(WallTime t) {
  std::string s = FormatRecordTime(t);
  return s.substr(0, 4) + "/" + s.substr(5, 2) + "/" + s.substr(8, 2);
}

bool IsDayFolderPart(std::string_view name, int level) {
  std::size_t width = level == 0 ? 4 : 2;
  return name.size() == width &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace drift::evidence
