#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/alert.h"
#include "common/config_node.h"
#include "common/result.h"

namespace drift::alerts {

// Where alerts go, and in which form.
enum class AlertFormat {
  kAlertmanager,  // POST /api/v2/alerts: batches of postable alerts
  kWebhook,       // Alertmanager's webhook message (version 4), one alert per message
};

// One Alertmanager, or one webhook receiver, to send every alert to. Secrets are read from their
// files when the configuration loads; they are never logged nor put in error messages.
struct AlertmanagerConfig {
  std::string url;       // as configured, without a trailing '/': the `alertmanager` label
  std::string endpoint;  // url + "/api/v2/alerts"; a webhook's url as it is
  AlertFormat format = AlertFormat::kAlertmanager;
  // Webhooks: the message's `receiver`; how often a still-firing alert is sent again (as
  // Alertmanager's repeat_interval: a webhook receiver acts on every message it gets); the
  // exporter's URL for `externalURL` (set by the exporter, not read from the file).
  std::string receiver;
  std::chrono::milliseconds repeat_interval{std::chrono::hours(4)};
  std::string external_url;
  std::string bearer_token;
  std::optional<std::string> basic_auth_username;
  std::string basic_auth_password;
  std::string ca_file;  // empty: the system's CAs
  // A client certificate and its key (PEM files) to present over https; empty: none.
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds timeout{10'000};

  bool operator==(const AlertmanagerConfig&) const = default;
};

// A runbook URL template: text with {{variable}} placeholders, checked when loaded.
class RunbookTemplate {
 public:
  // The variables a template may use, in the order documented.
  static constexpr std::string_view kVariables[] = {"alertname", "check", "instance", "severity",
                                                    "recommended_action"};

  // Parses `text`; an unknown variable or an unclosed "{{" is an error. Pure.
  static Result<RunbookTemplate> Parse(std::string_view text);
  // The URL with each variable replaced by its percent-encoded value (missing ones: empty).
  std::string Render(const Labels& values) const;
  bool empty() const { return parts_.empty(); }
  const std::string& text() const { return text_; }

  bool operator==(const RunbookTemplate& o) const { return text_ == o.text_; }

 private:
  struct Part {
    std::string literal;
    std::string variable;  // empty for a literal part
  };
  std::string text_;
  std::vector<Part> parts_;
};

// The `alerting:` section. Absent = alerting disabled.
struct AlertingConfig {
  bool enabled = false;
  // The Alertmanagers, then the webhook receivers (`webhooks:`), each with its own queue.
  std::vector<AlertmanagerConfig> alertmanagers;
  std::chrono::milliseconds resend_interval{60'000};
  std::size_t queue_capacity = 10'000;  // alerts per Alertmanager
  Labels external_labels;
  std::string instance;  // empty: the host name
  RunbookTemplate runbook_url;

  bool operator==(const AlertingConfig&) const = default;
};

// The labels the exporter sets itself; external labels may not use them.
inline constexpr std::string_view kReservedLabels[] = {"alertname", "check", "instance",
                                                       "severity"};

// Reads the `alerting:` mapping strictly (unknown keys are left for ConfigNode::Finish) and reads
// the secret files it names. Throws ConfigError ("file:line:col: alerting.<key>: what").
AlertingConfig ReadAlertingConfig(const ConfigNode& node);

// The POST /api/v2/alerts URL of the Alertmanager at base URL `url` (http or https, optionally
// with a path prefix such as https://host/alertmanager). Rejects credentials in the URL, a query
// or fragment, and a URL that already ends in /api/v2/alerts. Pure.
Result<std::string> AlertsEndpoint(std::string_view url);

// Checks an http(s) URL without credentials, query or fragment; returns it without a trailing
// '/'. `what` names the URL in messages ("Alertmanager URL"). Pure.
Result<std::string> CheckHttpUrl(std::string_view url, std::string_view what);

// Whether `name` is a valid Prometheus label name not reserved by Prometheus ("__" prefix).
bool IsLabelName(std::string_view name);

}  // namespace drift::alerts
