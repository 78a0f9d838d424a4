#pragma once

#include <map>
#include <span>
#include <string>

#include "common/clock.h"
#include "common/webhook_message.h"

namespace drift::alerts {

using drift::Labels;

// What an alert says, apart from its timing: the labels are its identity in Alertmanager (its
// fingerprint), the annotations and generator URL are details that may change while it fires.
struct AlertContent {
  Labels labels;
  Labels annotations;
  std::string generator_url;

  bool operator==(const AlertContent&) const = default;
};

// One alert as Alertmanager's POST /api/v2/alerts takes it. A firing alert has ends_at in the
// future (Alertmanager resolves it by itself if it stops hearing about it); a resolved one has
// ends_at = when it was resolved.
struct Alert {
  AlertContent content;
  WallTime starts_at{};
  WallTime ends_at{};
};

// A stable key for a label set: two alerts are the same alert in Alertmanager iff their labels
// are equal, and so iff their fingerprints are. Not Alertmanager's own hash; only for our queues.
std::string Fingerprint(const Labels& labels);

// The JSON body of POST /api/v2/alerts for `alerts` (an array of postable alerts, times in
// RFC 3339 UTC). Pure; thread-safe.
std::string EncodeAlerts(std::span<const Alert> alerts);

}  // namespace drift::alerts
