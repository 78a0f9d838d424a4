#include "evidence/record.h"

#include <gtest/gtest.h>

namespace drift::evidence {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

WallTime At(std::int64_t unix_ms) { return WallTime(milliseconds(unix_ms)); }

Record Transition() {
  Record r;
  r.kind = "transition";
  r.check = "firewall";
  r.controls = {"hipaa:164.312(a)(1)", "soc2:CC7.1"};
  r.severity = "critical";
  r.payload = {{"from", "compliant"}, {"to", "drifted"}, {"reason", "ruleset changed"}};
  return r;
}

RecordHeader Header(std::uint64_t seq = 7) {
  RecordHeader h;
  h.seq = seq;
  h.time = At(1'722'513'605'250);  // 2024-08-01T12:00:05.250Z
  h.host = "web-1";
  h.prev_chain.fill(0xab);
  return h;
}

const char kGolden[] =
    R"j({"actor":"drift_exporter","check":"firewall","controls":["hipaa:164.312(a)(1)","soc2:CC7.1"],)j"
    R"j("host":"web-1","kind":"transition","payload":{"from":"compliant","reason":"ruleset changed",)j"
    R"j("to":"drifted"},"prev_chain":"abababababababababababababababababababababababababababababababab",)j"
    R"j("schema":1,"seq":7,"severity":"critical","time":"2024-08-01T12:00:05.250Z"})j"
    "\n";

TEST(Record, SerializesToTheDocumentedBytes) {
  Result<std::string> text = SerializeRecord(Transition(), Header());
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, kGolden);
}

TEST(Record, ParsesBackExactly) {
  Result<ParsedRecord> parsed = ParseRecord(kGolden);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->header.seq, 7u);
  EXPECT_EQ(parsed->header.host, "web-1");
  EXPECT_EQ(parsed->header.time, At(1'722'513'605'250));
  EXPECT_EQ(parsed->record.check, "firewall");
  EXPECT_EQ(parsed->record.controls, Transition().controls);
  EXPECT_EQ(parsed->record.payload, Transition().payload);
  EXPECT_EQ(parsed->header.prev_chain, Header().prev_chain);

  Record system;
  system.kind = "start";
  Result<std::string> text = SerializeRecord(system, Header(1));
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"check\":null"), std::string::npos);
  Result<ParsedRecord> again = ParseRecord(*text);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->record.check.has_value());
}

TEST(Record, RejectsEverythingButTheCanonicalForm) {
  std::string golden = kGolden;
  struct Case {
    std::string file;
    std::string error;
  };
  std::string body = golden.substr(0, golden.size() - 1);
  std::vector<Case> cases = {
      {body, "not a record: does not end with a newline"},
      {"not json\n", "not a record: not valid JSON"},
      {"[1]\n", "not a record: not a JSON object"},
      {"{" + body.substr(1, body.size() - 2) + ",\"extra\":1}\n",
       "not a record: unknown field \"extra\""},
      {"{\"actor\":\"x\"}\n", "not a record: field \"check\" missing"},
      {std::string(body).replace(body.find("\"schema\":1"), 10, "\"schema\":2") + "\n",
       "record schema 2 is not supported (this version reads schema 1)"},
      {std::string(body).replace(body.find(",\"host\""), 1, ", ") + "\n",
       "not a record: not in canonical form"},
      {std::string(body).replace(body.find("\"seq\":7"), 7, "\"seq\":7.0") + "\n",
       "not a record: seq is not a positive integer"},
      {std::string(body).replace(body.find("\"to\":\"drifted\""), 14, "\"to\":1.5") + "\n",
       "not a record: record: payload: to: floating-point number 1.5 (records hold integers "
       "only)"},
      {std::string(body).replace(body.find("ruleset"), 7, "rules\\u0065t") + "\n",
       "not a record: not in canonical form"},
  };
  // Duplicate keys collapse when parsed; the canonical comparison catches them.
  cases.push_back(
      {"{\"actor\":\"x\"," + body.substr(1) + "\n", "not a record: not in canonical form"});
  for (const Case& c : cases) {
    Result<ParsedRecord> parsed = ParseRecord(c.file);
    ASSERT_FALSE(parsed.ok()) << c.file;
    EXPECT_EQ(parsed.error().message, c.error) << c.file;
  }
}

TEST(Record, ValidatesProducerFields) {
  Record r = Transition();
  r.kind = "Bad-Kind";
  EXPECT_EQ(ValidateRecord(r).error().message,
            "kind \"Bad-Kind\": expected lower-case letters, digits and '_' (at most 32)");
  r = Transition();
  r.severity = "severe";
  EXPECT_EQ(ValidateRecord(r).error().message,
            "severity \"severe\": expected none, low, medium, high or critical");
  r = Transition();
  r.controls = {"164.312(b)"};
  EXPECT_EQ(ValidateRecord(r).error().message,
            "control \"164.312(b)\": expected \"framework:id\" without spaces");
  r = Transition();
  r.actor = "";
  EXPECT_EQ(ValidateRecord(r).error().message,
            "actor \"\": expected 1 to 256 printable characters");
  r = Transition();
  r.payload = nlohmann::json::array();
  EXPECT_EQ(ValidateRecord(r).error().message, "payload: expected a JSON object");
  r = Transition();
  r.check = "../etc";
  EXPECT_EQ(ValidateRecord(r).error().message, "check \"../etc\": not a check name");
}

TEST(Chain, IsSha256OfPreviousSeqAndRecordHash) {
  ChainValue prev;
  prev.fill(0x11);
  Sha256Digest record = Sha256Of("record\n");
  // Built by hand: 32 bytes of chain, seq 258 as 8 bytes big-endian, 32 bytes of record hash.
  std::string input(32, '\x11');
  input += std::string("\x00\x00\x00\x00\x00\x00\x01\x02", 8);
  input += std::string(reinterpret_cast<const char*>(record.data()), 32);
  EXPECT_EQ(NextChain(prev, 258, record), Sha256Of(input));
  EXPECT_EQ(ToHex(GenesisChain()), std::string(64, '0'));
}

TEST(TrustedComment, FormatsAndParses) {
  TrustedComment c{12, "2024-08-01T12:00:05.250Z", "transition", {}, {}};
  c.record_sha256.fill(0x01);
  c.chain.fill(0xfe);
  std::string text = FormatTrustedComment(c);
  EXPECT_EQ(text,
            "drift_evidence v1 seq=12 time=2024-08-01T12:00:05.250Z kind=transition "
            "record_sha256=" +
                ToHex(c.record_sha256) + " chain=" + ToHex(c.chain));
  Result<TrustedComment> back = ParseTrustedComment(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->seq, 12u);
  EXPECT_EQ(back->time, c.time);
  EXPECT_EQ(back->kind, "transition");
  EXPECT_EQ(back->record_sha256, c.record_sha256);
  EXPECT_EQ(back->chain, c.chain);
  for (std::string bad : {std::string("drift_evidence v2 seq=1"), text + " extra=1",
                          text.substr(0, text.size() - 1), std::string("seq=12 ") + text}) {
    EXPECT_FALSE(ParseTrustedComment(bad).ok()) << bad;
  }
}

TEST(RecordTime, HasOneSpellingWithMilliseconds) {
  EXPECT_EQ(FormatRecordTime(At(1'722'513'605'000)), "2024-08-01T12:00:05.000Z");
  EXPECT_EQ(FormatRecordTime(At(1'722'513'605'250) + std::chrono::microseconds(999)),
            "2024-08-01T12:00:05.250Z");
  Result<WallTime> t = ParseRecordTime("2024-02-29T23:59:59.999Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRecordTime(*t), "2024-02-29T23:59:59.999Z");
  EXPECT_FALSE(ParseRecordTime("2024-08-01T12:00:05Z").ok());
  EXPECT_FALSE(ParseRecordTime("2023-02-29T00:00:00.000Z").ok());
  EXPECT_FALSE(ParseRecordTime("2024-08-01T12:00:05.250+00:00").ok());
}

TEST(Layout, NamesFilesAndFolders) {
  EXPECT_EQ(RecordStem(42, "transition"), "00000000000000000042-transition");
  auto sig = ParseRecordFileName("00000000000000000042-transition.json.minisig");
  ASSERT_TRUE(sig.has_value());
  EXPECT_EQ(sig->seq, 42u);
  EXPECT_EQ(sig->kind, "transition");
  EXPECT_TRUE(sig->signature);
  auto rec = ParseRecordFileName("18446744073709551615-x.json");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->seq, 18446744073709551615ULL);
  EXPECT_FALSE(rec->signature);
  for (std::string bad :
       {"42-transition.json", "00000000000000000000-start.json", "0000000000000000004x-start.json",
        "00000000000000000042-Start.json", "00000000000000000042-start.txt",
        ".00000000000000000042-start.json.tmp", "99999999999999999999-start.json"}) {
    EXPECT_FALSE(ParseRecordFileName(bad).has_value()) << bad;
  }
  EXPECT_EQ(DayFolder(At(1'722'513'605'250)), "2024/08/01");
  EXPECT_TRUE(IsDayFolderPart("2024", 0));
  EXPECT_FALSE(IsDayFolderPart("24", 0));
  EXPECT_TRUE(IsDayFolderPart("08", 1));
  EXPECT_FALSE(IsDayFolderPart("8", 2));
}

}  // namespace
}  // namespace drift::evidence

namespace drift::evidence {
namespace {

// ScanRecord (the verifier's fast path) must accept exactly what ParseRecord accepts. Every
// single-byte deletion and substitution of a few records is tried on both.
TEST(ScanRecord, AgreesWithParseRecordOnEveryMutation) {
  Record rich = Transition();
  rich.actor = "alice \"the admin\" <a@example.com>";
  rich.payload = {{"text", "tab\there \xC3\xA9 \x01 \x7f"},
                  {"n", -42},
                  {"big", 18446744073709551615ULL},
                  {"nested", {{"a", nlohmann::json::array({1, true, nullptr, "x"})}, {"b", {}}}},
                  {"empty", nlohmann::json::object()}};
  Record bare;
  bare.kind = "stop";
  std::vector<std::string> files = {kGolden, *SerializeRecord(rich, Header(3)),
                                    *SerializeRecord(bare, Header(1))};
  const std::string subs = std::string("\"\\ 0129a{}[],:-.eEtnu\x7f\x01") + "\xC3";
  int mutations = 0;
  for (const std::string& file : files) {
    Result<RecordView> view = ScanRecord(file);
    Result<ParsedRecord> parsed = ParseRecord(file);
    ASSERT_TRUE(view.ok()) << view.error().message;
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(view->header.seq, parsed->header.seq);
    EXPECT_EQ(view->header.time, parsed->header.time);
    EXPECT_EQ(view->header.host, parsed->header.host);
    EXPECT_EQ(view->header.prev_chain, parsed->header.prev_chain);
    EXPECT_EQ(view->kind, parsed->record.kind);
    EXPECT_EQ(view->check, parsed->record.check);
    EXPECT_EQ(nlohmann::json::parse(view->payload), parsed->record.payload);
    for (std::size_t i = 0; i < file.size(); ++i) {
      std::vector<std::string> variants = {std::string(file).erase(i, 1)};
      for (char c : subs) {
        if (file[i] != c) variants.push_back(std::string(file).replace(i, 1, 1, c));
      }
      variants.push_back(std::string(file).insert(i, " "));
      for (const std::string& v : variants) {
        ++mutations;
        bool fast = ScanRecord(v).ok();
        bool slow = ParseRecord(v).ok();
        ASSERT_EQ(fast, slow) << "disagree on " << v;
      }
    }
  }
  EXPECT_GT(mutations, 20000);
}

}  // namespace
}  // namespace drift::evidence
