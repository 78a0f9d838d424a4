#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace drift {

// Label or annotation names to values. Sorted, so two equal sets compare and print the same.
using Labels = std::map<std::string, std::string>;

// Alertmanager's webhook message, version 4: what Alertmanager POSTs to a webhook receiver
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). One model for both
// directions: healing/ parses it from Alertmanager (healing/webhook.h), alerts/ renders it when the
// exporter delivers its own alerts to webhook receivers (alerts/webhook.h).
enum class AlertStatus { kFiring, kResolved };
std::string_view AlertStatusName(AlertStatus status);  // "firing", "resolved"

// Go's zero time, which Alertmanager writes as the endsAt of an alert still firing.
inline constexpr std::string_view kGoZeroTime = "0001-01-01T00:00:00Z";

struct WebhookAlert {
  AlertStatus status = AlertStatus::kFiring;
  Labels labels;
  Labels annotations;
  WallTime starts_at{};
  // Unset while firing: Alertmanager writes Go's zero time, "0001-01-01T00:00:00Z", and a
  // firing alert's endsAt in the future reads the same.
  std::optional<WallTime> ends_at;
  std::string generator_url;
  std::string fingerprint;  // AlertmanagerFingerprint(labels) for the alerts Alertmanager sends

  bool operator==(const WebhookAlert&) const = default;
};

struct WebhookMessage {
  static constexpr std::string_view kVersion = "4";

  std::string receiver;
  AlertStatus status = AlertStatus::kFiring;  // firing when any of `alerts` fires
  std::vector<WebhookAlert> alerts;
  Labels group_labels;
  Labels common_labels;
  Labels common_annotations;
  std::string external_url;
  std::string group_key;
  std::int64_t truncated_alerts = 0;  // alerts left out by the receiver's max_alerts

  bool operator==(const WebhookMessage&) const = default;
};

// Alertmanager's fingerprint of a label set, as it puts it in webhook messages and its API:
// 64-bit FNV-1a over the labels sorted by name, each name and value followed by the byte 0xff,
// printed as 16 lower-case hex digits. Pure.
std::string AlertmanagerFingerprint(const Labels& labels);

}  // namespace drift
