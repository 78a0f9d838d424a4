#include "alerts/webhook.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"

namespace drift::alerts {
namespace {

// A label set as Alertmanager prints it in a group key: {a="1", b="2"}.
std::string LabelSetText(const Labels& labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ", ";
    out += fmt::format("{}={:?}", name, value);
  }
  out += '}';
  return out;
}

}  // namespace

WebhookMessage ToWebhookMessage(const Alert& alert, const std::string& receiver,
                                const std::string& external_url, WallTime now) {
  WebhookAlert a;
  a.status = alert.ends_at > now ? AlertStatus::kFiring : AlertStatus::kResolved;
  a.labels = alert.content.labels;
  a.annotations = alert.content.annotations;
  a.starts_at = alert.starts_at;
  if (a.status == AlertStatus::kResolved) a.ends_at = alert.ends_at;
  a.generator_url = alert.content.generator_url;
  a.fingerprint = AlertmanagerFingerprint(a.labels);

  WebhookMessage m;
  m.receiver = receiver;
  m.status = a.status;
  m.group_labels = a.labels;
  m.common_labels = a.labels;
  m.common_annotations = a.annotations;
  m.external_url = external_url;
  m.group_key = "{}:" + LabelSetText(a.labels);
  m.alerts.push_back(std::move(a));
  return m;
}

std::string RenderWebhookMessage(const WebhookMessage& message) {
  nlohmann::json alerts = nlohmann::json::array();
  for (const WebhookAlert& a : message.alerts) {
    alerts.push_back({
        {"status", AlertStatusName(a.status)},
        {"labels", a.labels},
        {"annotations", a.annotations},
        {"startsAt", FormatRfc3339(a.starts_at)},
        {"endsAt", a.ends_at ? FormatRfc3339(*a.ends_at) : std::string(kGoZeroTime)},
        {"generatorURL", a.generator_url},
        {"fingerprint", a.fingerprint},
    });
  }
  const nlohmann::json body = {
      {"version", WebhookMessage::kVersion},
      {"groupKey", message.group_key},
      {"truncatedAlerts", message.truncated_alerts},
      {"status", AlertStatusName(message.status)},
      {"receiver", message.receiver},
      {"groupLabels", message.group_labels},
      {"commonLabels", message.common_labels},
      {"commonAnnotations", message.common_annotations},
      {"externalURL", message.external_url},
      {"alerts", std::move(alerts)},
  };
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drift::alerts
