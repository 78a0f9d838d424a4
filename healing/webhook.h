#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.h"
#include "common/webhook_message.h"

namespace drift::healing {

// JSON nesting an Alertmanager webhook message needs: message, alerts, alert, labels.
inline constexpr int kMaxWebhookDepth = 8;

// Parses the body of an Alertmanager webhook POST (version 4; common/webhook_message.h).
// Fields it does not know are ignored (Alertmanager may add some); those it uses must have their
// documented types: version "4"; status and each alert's status "firing" or "resolved"; labels and
// annotations objects of strings; startsAt an RFC 3339 time; endsAt one too, or Go's zero time,
// or absent; at least one alert. An alert without a fingerprint gets AlertmanagerFingerprint of
// its labels. Errors say what and where ("alerts[0].labels.check: expected a string"), for a 400
// reply: invalid UTF-8, nesting deeper than kMaxWebhookDepth (refused before parsing), invalid
// JSON. Pure; thread-safe; never throws.
Result<WebhookMessage> ParseWebhookMessage(std::string_view body);

// The deepest nesting of arrays and objects in `json` (strings skipped), counting at most to
// `limit` + 1: a cheap scan that keeps a parser from a body of 10,000 nested arrays. Pure.
int JsonNestingDepth(std::string_view json, int limit);

}  // namespace drift::healing
