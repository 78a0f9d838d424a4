#pragma once

#include <string>

#include "alerts/alert.h"
#include "common/webhook_message.h"

namespace drift::alerts {

// The exporter's alerts as an Alertmanager webhook message (version 4), for receivers that take
// Alertmanager's webhooks without an Alertmanager in between: this exporter's own healing
// endpoint, Event-Driven Ansible, prometheus-am-executor. healing/webhook.h parses the same model.
//
// One message per alert, as an Alertmanager route grouped by every label would send it:
// `receiver` names the webhook, groupKey is `{}:{<labels>}` in Alertmanager's form, the status is
// the alert's, the fingerprint Alertmanager's. An alert whose end lies in the future is firing
// (endsAt rendered as Go's zero time, as Alertmanager does); one whose end has passed at `now` is
// resolved. Pure.
WebhookMessage ToWebhookMessage(const Alert& alert, const std::string& receiver,
                                const std::string& external_url, WallTime now);

// The JSON body of `message`, times in RFC 3339 UTC. Invalid UTF-8 in a label or annotation is
// replaced, never thrown. Pure.
std::string RenderWebhookMessage(const WebhookMessage& message);

}  // namespace drift::alerts
