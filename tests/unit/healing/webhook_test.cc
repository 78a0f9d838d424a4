#include "healing/webhook.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/rfc3339.h"

namespace drift::healing {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(DRIFT_FIXTURES_DIR) + "/webhook/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ErrorOf(std::string_view body) {
  Result<WebhookMessage> m = ParseWebhookMessage(body);
  return m.ok() ? "parsed" : m.error().message;
}

// A minimal valid message with one alert whose JSON is `alert`.
std::string WithAlert(const std::string& alert) {
  return R"({"version":"4","status":"firing","alerts":[)" + alert + "]}";
}

// Bodies Alertmanager 0.25 really sent (tests/fixtures/webhook, captured from a webhook_config
// with send_resolved).
TEST(ParseWebhookMessage, ReadsWhatAlertmanagerSends) {
  Result<WebhookMessage> firing = ParseWebhookMessage(Fixture("alertmanager_firing.json"));
  ASSERT_TRUE(firing.ok()) << firing.error().message;
  EXPECT_EQ(firing->receiver, "drift-heal");
  EXPECT_EQ(firing->status, AlertStatus::kFiring);
  EXPECT_EQ(firing->external_url, "http://vm:19093");
  EXPECT_EQ(firing->truncated_alerts, 0);
  EXPECT_EQ(firing->group_key,
            "{}:{alertname=\"ComplianceDrift\", check=\"logging\", instance=\"web-1\", "
            "severity=\"high\"}");
  ASSERT_EQ(firing->alerts.size(), 1U);
  const WebhookAlert& a = firing->alerts[0];
  EXPECT_EQ(a.status, AlertStatus::kFiring);
  EXPECT_EQ(a.labels.at("check"), "logging");
  EXPECT_EQ(a.labels.at("instance"), "web-1");
  EXPECT_EQ(a.annotations.at("recommended_action"), "restart_logging_services");
  EXPECT_EQ(FormatRfc3339(a.starts_at), "2026-12-06T03:05:02.123Z");
  EXPECT_FALSE(a.ends_at.has_value());  // Go's zero time
  EXPECT_EQ(a.generator_url, "http://web-1:9968/checks/logging");
  EXPECT_EQ(a.fingerprint, "44190cd1c042fa81");
  // Alertmanager's fingerprint is the one AlertmanagerFingerprint computes.
  EXPECT_EQ(AlertmanagerFingerprint(a.labels), a.fingerprint);

  Result<WebhookMessage> resolved = ParseWebhookMessage(Fixture("alertmanager_resolved.json"));
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->status, AlertStatus::kResolved);
  ASSERT_TRUE(resolved->alerts[0].ends_at.has_value());
  EXPECT_EQ(FormatRfc3339(*resolved->alerts[0].ends_at), "2026-12-06T03:05:06.456Z");
  EXPECT_EQ(resolved->alerts[0].starts_at, a.starts_at);
}

TEST(ParseWebhookMessage, IgnoresUnknownFieldsAndFillsAMissingFingerprint) {
  Result<WebhookMessage> m = ParseWebhookMessage(
      R"({"version":"4","status":"firing","future":{"x":[1]},"alerts":[{"status":"firing",)"
      R"("labels":{"a":"b"},"startsAt":"2026-01-01T00:00:00+01:00","extra":true}]})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->alerts[0].fingerprint, "d2b371819297f98a");  // what Alertmanager computes
  EXPECT_EQ(FormatRfc3339(m->alerts[0].starts_at), "2025-12-31T23:00:00Z");
  EXPECT_TRUE(m->alerts[0].annotations.empty());
}

TEST(ParseWebhookMessage, ErrorsSayWhatAndWhere) {
  EXPECT_EQ(ErrorOf(R"({"version":"3","status":"firing","alerts":[]})"),
            "version: unsupported webhook message version \"3\"; expected \"4\" (Alertmanager's "
            "webhook_configs)");
  EXPECT_EQ(ErrorOf(R"({"version":4,"status":"firing","alerts":[]})"),
            "version: unsupported webhook message version 4; expected \"4\" (Alertmanager's "
            "webhook_configs)");
  EXPECT_EQ(ErrorOf(R"({"status":"firing","alerts":[]})"), "message: missing \"version\"");
  EXPECT_EQ(ErrorOf(R"({"version":"4","status":"firing","alerts":[]})"),
            "alerts: no alerts; a webhook message carries at least one");
  EXPECT_EQ(ErrorOf(R"({"version":"4","status":"firing","alerts":{}})"),
            "alerts: expected an array, got an object");
  EXPECT_EQ(ErrorOf(R"({"version":"4","status":"burning","alerts":[]})"),
            "status: expected \"firing\" or \"resolved\", got \"burning\"");
  EXPECT_EQ(ErrorOf("[1]"), "message: expected an object, got an array");
  EXPECT_EQ(ErrorOf(WithAlert(R"({"status":"firing","labels":{"check":1},)"
                              R"("startsAt":"2026-01-01T00:00:00Z"})")),
            "alerts[0].labels.check: expected a string, got a number");
  EXPECT_EQ(ErrorOf(WithAlert(R"({"status":"firing","labels":[],)"
                              R"("startsAt":"2026-01-01T00:00:00Z"})")),
            "alerts[0].labels: expected an object, got an array");
  EXPECT_EQ(ErrorOf(WithAlert(R"({"status":"firing","labels":{}})")),
            "alerts[0]: missing \"startsAt\"");
  EXPECT_EQ(ErrorOf(WithAlert(R"({"status":"firing","startsAt":"yesterday"})")),
            "alerts[0].startsAt: expected an RFC 3339 time, got \"yesterday\"");
  EXPECT_EQ(ErrorOf(WithAlert(R"({"status":"firing","startsAt":"2026-01-01T00:00:00Z",)"
                              R"("endsAt":"soon"})")),
            "alerts[0].endsAt: expected an RFC 3339 time, got \"soon\"");
  EXPECT_EQ(ErrorOf(WithAlert("7")), "alerts[0]: expected an object, got a number");
  EXPECT_EQ(ErrorOf(R"({"version":"4","status":"firing","truncatedAlerts":-1,"alerts":[]})"),
            "truncatedAlerts: expected a count, got -1");
}

TEST(ParseWebhookMessage, RefusesWhatIsNotJsonTextBeforeParsing) {
  EXPECT_EQ(ErrorOf("{\"version\":\"4\xff\"}"), "the body is not UTF-8 (byte 13 is 0xff)");
  EXPECT_EQ(ErrorOf(std::string(10'000, '[') + std::string(10'000, ']')),
            "JSON nested deeper than 8 levels; not an Alertmanager webhook message");
  EXPECT_EQ(ErrorOf("{\"version\":"),
            "invalid JSON: parse error at line 1, column 12: syntax error while parsing value - "
            "unexpected end of input; expected '[', '{', or a literal");
  EXPECT_EQ(ErrorOf(""),
            "invalid JSON: parse error at line 1, column 1: syntax error while "
            "parsing value - unexpected end of input; expected '[', '{', or a "
            "literal");
}

TEST(JsonNestingDepth, CountsBracketsOutsideStrings) {
  EXPECT_EQ(JsonNestingDepth("{}", 8), 1);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":"[[[[\"[["}]})", 8), 3);
  EXPECT_EQ(JsonNestingDepth("1", 8), 0);
  // Stops counting past the limit.
  EXPECT_EQ(JsonNestingDepth(std::string(100, '['), 8), 9);
}

}  // namespace
}  // namespace drift::healing
