#include "alerts/alert.h"

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"

namespace drift::alerts {

std::string Fingerprint(const Labels& labels) {
  // Label names cannot contain NUL, and values only could by a bug upstream; either way a NUL
  // separator keeps {a="b\0c"} apart from {a="b", c=""} for every label set we build.
  std::string out;
  for (const auto& [name, value] : labels) {
    out += name;
    out += '\0';
    out += value;
    out += '\0';
  }
  return out;
}

std::string EncodeAlerts(std::span<const Alert> alerts) {
  nlohmann::json body = nlohmann::json::array();
  for (const Alert& a : alerts) {
    nlohmann::json item;
    item["labels"] = a.content.labels;
    item["annotations"] = a.content.annotations;
    item["startsAt"] = FormatRfc3339(a.starts_at);
    item["endsAt"] = FormatRfc3339(a.ends_at);
    if (!a.content.generator_url.empty()) item["generatorURL"] = a.content.generator_url;
    body.push_back(std::move(item));
  }
  // Replace invalid UTF-8 rather than throw: a check's observed value may be any bytes.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drift::alerts
