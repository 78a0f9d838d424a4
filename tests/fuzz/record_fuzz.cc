// The evidence record parsers on arbitrary bytes (evidence/record.h, the head of
// evidence/store.h). Properties: ParseRecord and ScanRecord accept exactly the same files and read
// the same header, kind and check from them; a record that parses is byte-for-byte what
// SerializeRecord writes; every other parser reads back what its formatter writes of a value it
// accepted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "evidence/canonical_json.h"
#include "evidence/record.h"
#include "evidence/store.h"
#include "tests/fuzz/fuzz_check.h"

using drift::fuzz::Expect;
namespace ev = drift::evidence;

namespace {

void CheckRecord(std::string_view text) {
  drift::Result<ev::ParsedRecord> parsed = ev::ParseRecord(text);
  drift::Result<ev::RecordView> view = ev::ScanRecord(text);
  Expect(parsed.ok() == view.ok(), "ParseRecord and ScanRecord disagree on a file");
  if (!parsed.ok()) return;
  Expect(view->header.seq == parsed->header.seq && view->header.time == parsed->header.time &&
             view->header.host == parsed->header.host &&
             view->header.prev_chain == parsed->header.prev_chain,
         "ScanRecord reads another header than ParseRecord");
  Expect(view->kind == parsed->record.kind && view->check == parsed->record.check,
         "ScanRecord reads another kind or check than ParseRecord");
  drift::Result<std::string> payload = ev::CanonicalJson(parsed->record.payload);
  Expect(payload.ok() && *payload == view->payload, "ScanRecord's payload is not ParseRecord's");
  drift::Result<std::string> again = ev::SerializeRecord(parsed->record, parsed->header);
  Expect(again.ok() && *again == text, "a record that parses is not what SerializeRecord writes");
}

void CheckTrustedComment(std::string_view text) {
  drift::Result<ev::TrustedComment> c = ev::ParseTrustedComment(text);
  if (!c.ok()) return;
  drift::Result<ev::TrustedComment> again = ev::ParseTrustedComment(ev::FormatTrustedComment(*c));
  Expect(again.ok() && again->seq == c->seq && again->time == c->time && again->kind == c->kind &&
             again->record_sha256 == c->record_sha256 && again->chain == c->chain,
         "a formatted trusted comment does not read back");
}

void CheckNames(std::string_view text) {
  if (std::optional<ev::RecordFileName> name = ev::ParseRecordFileName(text)) {
    const std::string formatted =
        ev::RecordStem(name->seq, name->kind) +
        std::string(name->signature ? ev::kSignatureSuffix : ev::kRecordSuffix);
    std::optional<ev::RecordFileName> again = ev::ParseRecordFileName(formatted);
    Expect(again && again->seq == name->seq && again->kind == name->kind &&
               again->signature == name->signature,
           "a record file name does not read back");
  }
  if (std::optional<std::uint64_t> seq = ev::ParseHeadFileName(text)) {
    Expect(ev::ParseHeadFileName(ev::HeadFileName(*seq)) == seq,
           "a head file name does not read back");
  }
  for (int level = 0; level < 3; ++level) (void)ev::IsDayFolderPart(text, level);
  (void)ev::IsValidKind(text);
}

void CheckTime(std::string_view text) {
  drift::Result<drift::WallTime> t = ev::ParseRecordTime(text);
  if (!t.ok()) return;
  drift::Result<drift::WallTime> again = ev::ParseRecordTime(ev::FormatRecordTime(*t));
  Expect(again.ok() && *again == *t, "a record time does not read back");
  (void)ev::DayFolder(*t);
}

void CheckHead(std::string_view text) {
  drift::Result<ev::Head> head = ev::ParseHead(text);
  if (!head.ok()) return;
  Expect(std::string_view(text).starts_with(head->signed_text),
         "a head's signed text is not the start of its file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckRecord(text);
  CheckTrustedComment(text);
  CheckNames(text);
  CheckTime(text);
  CheckHead(text);
  return 0;
}
