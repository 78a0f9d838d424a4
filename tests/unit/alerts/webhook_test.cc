#include "alerts/webhook.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/rfc3339.h"
#include "healing/webhook.h"

namespace drift::alerts {
namespace {

using std::chrono::minutes;

WallTime At(const char* text) { return *ParseRfc3339(text); }

Alert DriftAlert(WallTime starts, WallTime ends) {
  Alert a;
  a.content.labels = {{"alertname", "ComplianceDrift"},
                      {"check", "logging"},
                      {"instance", "web-1"},
                      {"severity", "high"}};
  a.content.annotations = {{"recommended_action", "restart_logging_services"},
                           {"summary", "Check logging drifted"}};
  a.content.generator_url = "http://web-1:9968/checks/logging";
  a.starts_at = starts;
  a.ends_at = ends;
  return a;
}

// What the alert source renders is what healing parses: one model, both directions.
TEST(WebhookMessage, RendersWhatHealingParsesBack) {
  const WallTime start = At("2026-12-06T03:05:02.123Z");
  for (WallTime now : {start + minutes(1), start + minutes(10)}) {
    const WebhookMessage sent = ToWebhookMessage(DriftAlert(start, start + minutes(4)),
                                                 "drift-heal", "http://web-1:9968", now);
    Result<WebhookMessage> read = healing::ParseWebhookMessage(RenderWebhookMessage(sent));
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(*read, sent);
  }
}

// The same message, field for field, as Alertmanager 0.25 sent for the same alert
// (tests/fixtures/webhook/alertmanager_firing.json), but for the URLs.
TEST(WebhookMessage, LooksLikeAlertmanagers) {
  const WallTime start = At("2026-12-06T03:05:02.123Z");
  const WebhookMessage firing = ToWebhookMessage(
      DriftAlert(start, start + minutes(4)), "drift-heal", "http://vm:19093", start + minutes(1));
  EXPECT_EQ(firing.status, AlertStatus::kFiring);
  EXPECT_EQ(firing.alerts[0].fingerprint, "44190cd1c042fa81");
  EXPECT_EQ(firing.group_key,
            "{}:{alertname=\"ComplianceDrift\", check=\"logging\", instance=\"web-1\", "
            "severity=\"high\"}");
  EXPECT_FALSE(firing.alerts[0].ends_at.has_value());
  EXPECT_NE(RenderWebhookMessage(firing).find(R"("endsAt":"0001-01-01T00:00:00Z")"),
            std::string::npos);

  const WebhookMessage resolved = ToWebhookMessage(
      DriftAlert(start, start + minutes(4)), "drift-heal", "http://vm:19093", start + minutes(5));
  EXPECT_EQ(resolved.status, AlertStatus::kResolved);
  EXPECT_EQ(resolved.alerts[0].ends_at, start + minutes(4));
}

TEST(WebhookMessage, ReplacesInvalidUtf8InsteadOfThrowing) {
  Alert a = DriftAlert(At("2026-01-01T00:00:00Z"), At("2026-01-01T00:04:00Z"));
  a.content.annotations["description"] = "observed \xff";
  const std::string body =
      RenderWebhookMessage(ToWebhookMessage(a, "r", "", At("2026-01-01T00:01:00Z")));
  EXPECT_TRUE(healing::ParseWebhookMessage(body).ok());
}

}  // namespace
}  // namespace drift::alerts
