#include "healing/webhook.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "common/strings.h"

namespace drift::healing {
namespace {

using nlohmann::json;

// A field failed to read; `where` is its path in the message ("alerts[0].labels").
struct FieldError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& where, std::string_view what) {
  throw FieldError{fmt::format("{}: {}", where, what)};
}

std::string_view TypeName(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "null";
}

const std::string& String(const json& v, const std::string& where) {
  if (!v.is_string()) Fail(where, fmt::format("expected a string, got {}", TypeName(v)));
  return v.get_ref<const std::string&>();
}

// The member `key` of `object`, or null when absent.
const json* Member(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const json& Required(const json& object, std::string_view key, const std::string& where) {
  const json* v = Member(object, key);
  if (v == nullptr) Fail(where, fmt::format("missing \"{}\"", key));
  return *v;
}

std::string OptionalString(const json& object, std::string_view key, const std::string& where) {
  const json* v = Member(object, key);
  if (v == nullptr || v->is_null()) return {};
  return String(*v, fmt::format("{}.{}", where, key));
}

Labels ReadLabels(const json& object, std::string_view key, const std::string& where) {
  const json* v = Member(object, key);
  const std::string path = where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_object()) Fail(path, fmt::format("expected an object, got {}", TypeName(*v)));
  Labels labels;
  for (const auto& [name, value] : v->items()) {
    labels.emplace(name, String(value, fmt::format("{}.{}", path, name)));
  }
  return labels;
}

AlertStatus ReadStatus(const json& v, const std::string& where) {
  const std::string& s = String(v, where);
  if (s == "firing") return AlertStatus::kFiring;
  if (s == "resolved") return AlertStatus::kResolved;
  Fail(where, fmt::format("expected \"firing\" or \"resolved\", got {:?}", s));
}

WallTime ReadTime(const json& v, const std::string& where) {
  const std::string& s = String(v, where);
  Result<WallTime> t = ParseRfc3339(s);
  if (!t.ok()) Fail(where, fmt::format("expected an RFC 3339 time, got {:?}", s));
  return *t;
}

WebhookAlert ReadAlert(const json& v, const std::string& where) {
  if (!v.is_object()) Fail(where, fmt::format("expected an object, got {}", TypeName(v)));
  WebhookAlert a;
  a.status = ReadStatus(Required(v, "status", where), where + ".status");
  a.labels = ReadLabels(v, "labels", where);
  a.annotations = ReadLabels(v, "annotations", where);
  a.starts_at = ReadTime(Required(v, "startsAt", where), where + ".startsAt");
  if (const json* end = Member(v, "endsAt"); end != nullptr && !end->is_null()) {
    if (!end->is_string() || end->get_ref<const std::string&>() != kGoZeroTime) {
      a.ends_at = ReadTime(*end, where + ".endsAt");
    }
  }
  a.generator_url = OptionalString(v, "generatorURL", where);
  a.fingerprint = OptionalString(v, "fingerprint", where);
  if (a.fingerprint.empty()) a.fingerprint = AlertmanagerFingerprint(a.labels);
  return a;
}

WebhookMessage ReadMessage(const json& root) {
  if (!root.is_object()) {
    Fail("message", fmt::format("expected an object, got {}", TypeName(root)));
  }
  const json& version = Required(root, "version", "message");
  if (!version.is_string() || version.get_ref<const std::string&>() != WebhookMessage::kVersion) {
    Fail("version", fmt::format("unsupported webhook message version {}; expected \"{}\" "
                                "(Alertmanager's webhook_configs)",
                                version.dump(), WebhookMessage::kVersion));
  }
  WebhookMessage m;
  m.status = ReadStatus(Required(root, "status", "message"), "status");
  m.receiver = OptionalString(root, "receiver", "message");
  m.group_key = OptionalString(root, "groupKey", "message");
  m.external_url = OptionalString(root, "externalURL", "message");
  if (const json* t = Member(root, "truncatedAlerts"); t != nullptr && !t->is_null()) {
    if (!t->is_number_integer() || t->get<std::int64_t>() < 0) {
      Fail("truncatedAlerts", fmt::format("expected a count, got {}", t->dump()));
    }
    m.truncated_alerts = t->get<std::int64_t>();
  }
  m.group_labels = ReadLabels(root, "groupLabels", "");
  m.common_labels = ReadLabels(root, "commonLabels", "");
  m.common_annotations = ReadLabels(root, "commonAnnotations", "");
  const json& alerts = Required(root, "alerts", "message");
  if (!alerts.is_array()) {
    Fail("alerts", fmt::format("expected an array, got {}", TypeName(alerts)));
  }
  if (alerts.empty()) Fail("alerts", "no alerts; a webhook message carries at least one");
  m.alerts.reserve(alerts.size());
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    m.alerts.push_back(ReadAlert(alerts[i], fmt::format("alerts[{}]", i)));
  }
  return m;
}

}  // namespace

int JsonNestingDepth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Result<WebhookMessage> ParseWebhookMessage(std::string_view body) {
  if (std::size_t bad = FirstInvalidUtf8(body); bad != std::string_view::npos) {
    return Err("the body is not UTF-8 (byte {} is 0x{:02x})", bad,
               static_cast<unsigned char>(body[bad]));
  }
  if (JsonNestingDepth(body, kMaxWebhookDepth) > kMaxWebhookDepth) {
    return Err("JSON nested deeper than {} levels; not an Alertmanager webhook message",
               kMaxWebhookDepth);
  }
  json root;
  try {
    root = json::parse(body);
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ...".
    std::string_view what = e.what();
    if (std::size_t at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    return Err("invalid JSON: {}", what);
  }
  try {
    return ReadMessage(root);
  } catch (const FieldError& e) {
    return Err("{}", e.message);
  }
}

}  // namespace drift::healing
