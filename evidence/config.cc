#include "evidence/config.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/duration.h"
#include "common/secret_file.h"
#include "evidence/keys.h"

namespace drift::evidence {
namespace {

bool IsHostName(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

}  // namespace

Result<std::chrono::milliseconds> ParseRetention(std::string_view text) {
  using std::chrono::hours;
  if (text.size() >= 2 && text.back() == 'y' &&
      std::all_of(text.begin(), text.end() - 1, [](char c) { return c >= '0' && c <= '9'; })) {
    if (text.size() > 4) return Err("expected at most 999y, got {:?}", text);
    int years = std::stoi(std::string(text.substr(0, text.size() - 1)));
    if (years < 1) return Err("expected at least 1y, got {:?}", text);
    return std::chrono::duration_cast<std::chrono::milliseconds>(hours(24 * 366 * years));
  }
  Result<std::chrono::milliseconds> d = ParseDuration(text);
  if (!d.ok()) return Err("expected years like 6y or a duration like 400d: {}", d.error().message);
  if (*d < hours(24)) return Err("expected at least 1d, got {:?}", text);
  return *d;
}

EvidenceConfig ReadEvidenceConfig(const ConfigNode& node) {
  EvidenceConfig c;
  c.enabled = node.GetBool("enabled", true);
  ConfigNode dir = node.Child("directory");
  c.directory = dir.AsPath().string();
  ConfigNode key = node.Child("secret_key_file");
  c.secret_key_file = key.AsPath().string();
  c.create_key_if_missing = node.GetBool("create_key_if_missing", false);
  if (auto interval = node.Find("attestation_interval")) {
    c.attestation_interval = interval->AsDuration();
    if (c.attestation_interval < std::chrono::seconds(1)) {
      interval->Fail("expected at least 1s");
    }
  }
  if (auto retention = node.Find("retention")) {
    Result<std::chrono::milliseconds> r = ParseRetention(retention->AsString());
    if (!r.ok()) retention->Fail(r.error().message);
    c.retention = *r;
  }
  c.queue_capacity = static_cast<std::size_t>(node.GetInt("queue_capacity", 1024, 16, 1'000'000));
  if (auto host = node.Find("host")) {
    c.host = host->AsString();
    if (!IsHostName(c.host)) {
      host->Fail(
          fmt::format("expected a host name of letters, digits, '-', '.', '_', got {:?}", c.host));
    }
  }
  if (!c.enabled) return c;

  // The daemon reads the key again at start (and checks its owner then); a mistake in its mode
  // is a configuration error that --config.check reports.
  Result<std::string> text =
      ReadSecretFile(c.secret_key_file, SecretKeyFileOptions(/*check_owner=*/false));
  if (!text.ok()) {
    if (IsNotFound(text.error()) && c.create_key_if_missing) return c;
    if (IsNotFound(text.error())) {
      key.Fail(
          fmt::format("{}; create a key pair with `drift_exporter evidence keygen "
                      "--out-dir=DIR`",
                      text.error().message));
    }
    key.Fail(text.error().message);
  }
  WipeSecret(*text);
  return c;
}

}  // namespace drift::evidence
