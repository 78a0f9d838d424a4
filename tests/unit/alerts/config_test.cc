#include "alerts/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/config_node.h"

namespace drift::alerts {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A temporary folder holding the "config file" (only its name: relative paths resolve against
// its folder) and the secret files the configs name.
class AlertingConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drift-alerts-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Write("token", "s3cr3t-token\n");
    Write("password", "hunter2\n");
    Write("empty", "\n");
    Write("two_lines", "abc\ndef\n");
    Write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    Write("shared.key", "-----BEGIN PRIVATE KEY-----\n");
    ::chmod((dir_ + "/shared.key").c_str(), 0644);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Files are private to their owner, as a secret must be (git checks fixtures out 0644).
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    ::chmod((dir_ + "/" + name).c_str(), 0600);
  }
  std::string File() const { return dir_ + "/config.yml"; }

  AlertingConfig Read(const std::string& yaml) {
    ConfigNode root = ConfigNode::Parse(yaml, File());
    AlertingConfig c = ReadAlertingConfig(root.Child("alerting"));
    root.Finish();
    return c;
  }
  // The error for `yaml`, with the config file's path replaced by "<f>" and the folder by "<d>".
  std::string ErrorOf(const std::string& yaml) {
    try {
      Read(yaml);
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      for (const auto& [from, to] : {std::pair{File(), std::string("<f>")}, {dir_, "<d>"}}) {
        for (std::size_t p; (p = msg.find(from)) != std::string::npos;) {
          msg.replace(p, from.size(), to);
        }
      }
      return msg;
    }
    return "no error";
  }

  std::string dir_;
};

// A FIFO (or /dev/stdin) named as a secret or CA file used to block start and reload waiting
// for a writer; like the configuration itself (ConfigNode::Load) it is refused at once.
TEST_F(AlertingConfigTest, RefusesAFifoOrDeviceWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  const std::string head = "alerting:\n  alertmanagers:\n";
  EXPECT_EQ(ErrorOf(head + "    - url: http://am:9093\n      bearer_token_file: fifo\n"),
            "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: cannot read <d>/fifo: not a "
            "regular file (a FIFO)");
  EXPECT_EQ(ErrorOf(head + "    - url: http://am:9093\n"
                           "      basic_auth: {username: u, password_file: /dev/zero}\n"),
            "<f>:4:48: alerting.alertmanagers[0].basic_auth.password_file: cannot read "
            "/dev/zero: not a regular file (a character device)");
  EXPECT_EQ(ErrorOf(head + "    - url: https://am:9093\n      ca_file: fifo\n"),
            "<f>:4:16: alerting.alertmanagers[0].ca_file: cannot read <d>/fifo: not a regular "
            "file (a FIFO)");
  Write("big", std::string((64 << 10) + 1, 'x'));
  EXPECT_EQ(ErrorOf(head + "    - url: http://am:9093\n      bearer_token_file: big\n"),
            "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: <d>/big is larger than "
            "65536 bytes");
}

// Secrets go through common/secret_file.h: one its group or others may read is refused, with the
// command that fixes it.
TEST_F(AlertingConfigTest, RefusesASecretOthersMayRead) {
  ::chmod((dir_ + "/token").c_str(), 0644);
  ::chmod((dir_ + "/password").c_str(), 0640);
  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"bearer_token_file: token\n",
            "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: <d>/token is readable by its "
            "group or others (mode 0644); run `chmod 600 <d>/token`"},
           {"basic_auth: {username: u, password_file: password}\n",
            "<f>:4:48: alerting.alertmanagers[0].basic_auth.password_file: <d>/password is "
            "readable by its group or others (mode 0640); run `chmod 600 <d>/password`"}}) {
    EXPECT_EQ(ErrorOf("alerting:\n  alertmanagers:\n    - url: http://am:9093\n      " + yaml),
              error);
  }
}

TEST_F(AlertingConfigTest, MinimalConfigHasTheDocumentedDefaults) {
  AlertingConfig c = Read("alerting:\n  alertmanagers:\n    - url: http://am:9093\n");
  EXPECT_TRUE(c.enabled);
  ASSERT_EQ(c.alertmanagers.size(), 1u);
  EXPECT_EQ(c.alertmanagers[0].url, "http://am:9093");
  EXPECT_EQ(c.alertmanagers[0].endpoint, "http://am:9093/api/v2/alerts");
  EXPECT_EQ(c.alertmanagers[0].timeout, seconds(10));
  EXPECT_EQ(c.alertmanagers[0].bearer_token, "");
  EXPECT_EQ(c.alertmanagers[0].basic_auth_username, std::nullopt);
  EXPECT_EQ(c.resend_interval, seconds(60));
  EXPECT_EQ(c.queue_capacity, 10'000u);
  EXPECT_TRUE(c.external_labels.empty());
  EXPECT_EQ(c.instance, "");
  EXPECT_TRUE(c.runbook_url.empty());
}

TEST_F(AlertingConfigTest, FullConfigReadsEveryKeyAndSecretFiles) {
  AlertingConfig c = Read(R"(alerting:
  alertmanagers:
    - url: https://am1.example.com/alertmanager/
      bearer_token_file: token
      ca_file: ca.pem
      cert_file: ca.pem
      key_file: password
      timeout: 2s
    - url: http://[::1]:9093
      basic_auth: {username: drift, password_file: password}
  resend_interval: 30s
  queue_capacity: 500
  external_labels: {source: exporter, region: eu}
  instance: web1.example.com
  runbook_url: https://runbooks.example.com/{{ alertname }}/{{check}}
)");
  ASSERT_EQ(c.alertmanagers.size(), 2u);
  const AlertmanagerConfig& a = c.alertmanagers[0];
  EXPECT_EQ(a.url, "https://am1.example.com/alertmanager");
  EXPECT_EQ(a.endpoint, "https://am1.example.com/alertmanager/api/v2/alerts");
  EXPECT_EQ(a.bearer_token, "s3cr3t-token") << "trailing newline trimmed";
  EXPECT_EQ(a.ca_file, dir_ + "/ca.pem");
  EXPECT_EQ(a.cert_file, dir_ + "/ca.pem");
  EXPECT_EQ(a.key_file, dir_ + "/password");
  EXPECT_EQ(a.timeout, seconds(2));
  const AlertmanagerConfig& b = c.alertmanagers[1];
  EXPECT_EQ(b.endpoint, "http://[::1]:9093/api/v2/alerts");
  EXPECT_EQ(b.basic_auth_username, "drift");
  EXPECT_EQ(b.basic_auth_password, "hunter2");
  EXPECT_EQ(c.resend_interval, seconds(30));
  EXPECT_EQ(c.queue_capacity, 500u);
  EXPECT_EQ(c.external_labels, (Labels{{"region", "eu"}, {"source", "exporter"}}));
  EXPECT_EQ(c.instance, "web1.example.com");
  EXPECT_EQ(c.runbook_url.Render({{"alertname", "ComplianceDrift"}, {"check", "fw"}}),
            "https://runbooks.example.com/ComplianceDrift/fw");
}

struct BadCase {
  std::string yaml;
  std::string expected;
};

// Every mistake with the exact message a user sees: file:line:col, key, what was expected.
// No message may contain a secret.
// Webhook receivers take Alertmanager's webhook message: their URL is used as it is.
TEST_F(AlertingConfigTest, WebhooksAreTargetsOfTheirOwnForm) {
  AlertingConfig c = Read(
      "alerting:\n  webhooks:\n    - url: https://eda.example.com:5000/endpoint\n"
      "      receiver: eda\n      repeat_interval: 1h\n      bearer_token_file: token\n"
      "    - url: http://127.0.0.1:9968/api/v1/heal\n");
  ASSERT_EQ(c.alertmanagers.size(), 2u);
  const AlertmanagerConfig& eda = c.alertmanagers[0];
  EXPECT_EQ(eda.format, AlertFormat::kWebhook);
  EXPECT_EQ(eda.endpoint, "https://eda.example.com:5000/endpoint");
  EXPECT_EQ(eda.receiver, "eda");
  EXPECT_EQ(eda.repeat_interval, std::chrono::hours(1));
  EXPECT_EQ(eda.bearer_token, "s3cr3t-token");
  EXPECT_EQ(c.alertmanagers[1].receiver, "drift_exporter");
  EXPECT_EQ(c.alertmanagers[1].repeat_interval, std::chrono::hours(4));
  EXPECT_EQ(c.alertmanagers[1].endpoint, "http://127.0.0.1:9968/api/v1/heal");
}

TEST_F(AlertingConfigTest, BadConfigsNameFileLineColumnAndKey) {
  const std::string head = "alerting:\n  alertmanagers:\n";
  const std::vector<BadCase> cases = {
      {"alerting: yes\n", "<f>:1:11: alerting: expected a mapping"},
      {"alerting: {}\n",
       "<f>:1:11: alerting: expected alertmanagers, webhooks or both: where to send alerts"},
      {"alerting:\n  alertmanagers: []\n",
       "<f>:2:18: alerting.alertmanagers: expected at least one, or leave the key out"},
      {"alerting:\n  webhooks:\n    - url: http://127.0.0.1:9968/api/v1/heal\n      "
       "repeat_interval: 500ms\n",
       "<f>:4:24: alerting.webhooks[0].repeat_interval: expected at least 1s"},
      {"alerting:\n  webhooks:\n    - url: ftp://x\n",
       "<f>:3:12: alerting.webhooks[0].url: webhook URL \"ftp://x\" must start with http:// or "
       "https://"},
      {"alerting:\n  alertmanagers: [{url: \"http://h:1\"}]\n  webhooks: [{url: \"http://h:1\"}]\n",
       "<f>:3:20: alerting.webhooks[0].url: duplicate URL \"http://h:1\""},
      {head + "    - http://am:9093\n",
       "<f>:3:7: alerting.alertmanagers[0]: expected a mapping with at least url"},
      {head + "    - url: am:9093\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL \"am:9093\" must start with "
       "http:// or https://"},
      {head + "    - url: http://\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL \"http://\" has no host"},
      {head + "    - url: http://am:99999\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL \"http://am:99999\" has an "
       "invalid port"},
      {head + "    - url: http://am:port\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL \"http://am:port\" has an "
       "invalid port"},
      {head + "    - url: http://admin:pw@am:9093\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL must not contain credentials; "
       "use basic_auth.password_file or bearer_token_file"},
      {head + "    - url: http://am:9093/?x=1\n",
       "<f>:3:12: alerting.alertmanagers[0].url: Alertmanager URL \"http://am:9093/?x=1\" must "
       "not have a query or fragment"},
      {head + "    - url: http://am:9093/api/v2/alerts\n",
       "<f>:3:12: alerting.alertmanagers[0].url: give the Alertmanager's base URL, without "
       "/api/v2/alerts"},
      {head + "    - url: http://am:9093\n    - url: http://am:9093/\n",
       "<f>:4:12: alerting.alertmanagers[1].url: duplicate URL \"http://am:9093\""},
      {head + "    - url: http://am:9093\n      bearer_token_file: missing\n",
       "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: cannot read <d>/missing: No such "
       "file or directory"},
      {head + "    - url: http://am:9093\n      bearer_token_file: empty\n",
       "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: <d>/empty is empty"},
      {head + "    - url: http://am:9093\n      bearer_token_file: two_lines\n",
       "<f>:4:26: alerting.alertmanagers[0].bearer_token_file: <d>/two_lines contains a control "
       "character (a secret must be one line)"},
      {head + "    - url: http://am:9093\n      bearer_token_file: token\n"
              "      basic_auth: {username: u, password_file: password}\n",
       "<f>:5:19: alerting.alertmanagers[0].basic_auth: set either bearer_token_file or "
       "basic_auth, not both"},
      {head + "    - url: http://am:9093\n      basic_auth: {username: u}\n",
       "<f>:4:19: alerting.alertmanagers[0].basic_auth.password_file: required key missing"},
      {head + "    - url: http://am:9093\n      basic_auth: {username: 'a:b', password_file: "
              "password}\n",
       "<f>:4:30: alerting.alertmanagers[0].basic_auth.username: expected a user name without "
       "':' or control characters"},
      {head + "    - url: http://am:9093\n      ca_file: ca.pem\n",
       "<f>:4:16: alerting.alertmanagers[0].ca_file: ca_file needs an https:// URL"},
      {head + "    - url: https://am:9093\n      ca_file: nope.pem\n",
       "<f>:4:16: alerting.alertmanagers[0].ca_file: cannot read <d>/nope.pem: No such file or "
       "directory"},
      {head + "    - url: https://am:9093\n      cert_file: ca.pem\n",
       "<f>:4:18: alerting.alertmanagers[0].cert_file: cert_file and key_file go together"},
      {head + "    - url: https://am:9093\n      key_file: password\n",
       "<f>:4:17: alerting.alertmanagers[0].key_file: cert_file and key_file go together"},
      {head + "    - url: http://am:9093\n      cert_file: ca.pem\n      key_file: password\n",
       "<f>:4:18: alerting.alertmanagers[0].cert_file: cert_file needs an https:// URL"},
      {head + "    - url: https://am:9093\n      cert_file: nope.pem\n      key_file: password\n",
       "<f>:4:18: alerting.alertmanagers[0].cert_file: cannot read <d>/nope.pem: No such file or "
       "directory"},
      {head + "    - url: https://am:9093\n      cert_file: ca.pem\n      key_file: shared.key\n",
       "<f>:5:17: alerting.alertmanagers[0].key_file: key_file <d>/shared.key is readable by its "
       "group or others (mode 0644); run `chmod 600 <d>/shared.key`"},
      {head + "    - url: http://am:9093\n      timeout: 0s\n",
       "<f>:4:16: alerting.alertmanagers[0].timeout: zero duration \"0s\"; expected a positive "
       "duration"},
      {head + "    - url: http://am:9093\n  resend_interval: 0s\n",
       "<f>:4:20: alerting.resend_interval: zero duration \"0s\"; expected a positive duration"},
      {head + "    - url: http://am:9093\n  resend_interval: 500ms\n",
       "<f>:4:20: alerting.resend_interval: expected at least 1s: every firing alert is sent "
       "once per resend_interval"},
      {head + "    - url: http://am:9093\n  queue_capacity: 0\n",
       "<f>:4:19: alerting.queue_capacity: expected an integer from 1 to 1000000, got 0"},
      {head + "    - url: http://am:9093\n  external_labels: {severity: low}\n",
       "<f>:4:31: alerting.external_labels.severity: \"severity\" is set by the exporter itself"},
      {head + "    - url: http://am:9093\n  external_labels: {__x: a}\n",
       "<f>:4:26: alerting.external_labels.__x: \"__x\" is not a label name: letters, digits and "
       "'_', not starting with a digit or \"__\""},
      {head + "    - url: http://am:9093\n  external_labels: {team: ''}\n",
       "<f>:4:27: alerting.external_labels.team: expected a non-empty label value"},
      {head + "    - url: http://am:9093\n  instance: ''\n",
       "<f>:4:13: alerting.instance: expected a non-empty instance name without control "
       "characters"},
      {head + "    - url: http://am:9093\n  external_url: http://web1:9968\n",
       "<f>:4:17: alerting.external_url: moved to the --web.external-url flag"},
      {head + "    - url: http://am:9093\n  runbook_url: https://rb/{{check}\n",
       "<f>:4:16: alerting.runbook_url: unclosed \"{{\" at position 12"},
      {head + "    - url: http://am:9093\n  runbook_url: https://rb/{{host}}\n",
       "<f>:4:16: alerting.runbook_url: unknown variable {{host}}; expected one of "
       "{{alertname}}, {{check}}, {{instance}}, {{severity}}, {{recommended_action}}"},
      {head + "    - url: http://am:9093\n  runbook_url: rb/{{check}}\n",
       "<f>:4:16: alerting.runbook_url: expected a URL template starting with http:// or "
       "https://, got \"rb/{{check}}\""},
      {head + "    - url: http://am:9093\n      tiemout: 1s\n",
       "<f>:4:7: alerting.alertmanagers[0].tiemout: unknown key; expected one of: basic_auth, "
       "bearer_token_file, ca_file, cert_file, key_file, timeout, url"},
      {head + "    - url: http://am:9093\n  resend: 1m\n",
       "<f>:4:3: alerting.resend: unknown key; expected one of: alertmanagers, external_labels, "
       "external_url, instance, queue_capacity, resend_interval, runbook_url, webhooks"},
  };
  for (const BadCase& c : cases) {
    std::string got = ErrorOf(c.yaml);
    EXPECT_EQ(got, c.expected) << c.yaml;
    EXPECT_EQ(got.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(got.find("hunter2"), std::string::npos);
  }
}

TEST(AlertsEndpoint, JoinsThePathPrefix) {
  EXPECT_EQ(*AlertsEndpoint("http://127.0.0.1:9093"), "http://127.0.0.1:9093/api/v2/alerts");
  EXPECT_EQ(*AlertsEndpoint("https://h/prefix/am/"), "https://h/prefix/am/api/v2/alerts");
  EXPECT_EQ(*AlertsEndpoint("http://[::1]"), "http://[::1]/api/v2/alerts");
  EXPECT_EQ(AlertsEndpoint("ftp://h").error().message,
            "Alertmanager URL \"ftp://h\" must start with http:// or https://");
  EXPECT_EQ(AlertsEndpoint("http://h x").error().message,
            "Alertmanager URL \"http://h x\" contains a space or control character");
  EXPECT_EQ(AlertsEndpoint("http://::1:9093").error().message,
            "Alertmanager URL \"http://::1:9093\": put an IPv6 address in brackets");
  EXPECT_EQ(AlertsEndpoint("http://h:").error().message,
            "Alertmanager URL \"http://h:\" has an invalid port");
}

TEST(RunbookTemplate, RendersPercentEncodedValuesAndEmptyForMissingOnes) {
  Result<RunbookTemplate> t = RunbookTemplate::Parse(
      "https://rb/{{alertname}}?c={{ check }}&i={{instance}}&x={{severity}}");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->Render({{"alertname", "ComplianceDrift"}, {"check", "a b/c"}, {"instance", "h:1"}}),
            "https://rb/ComplianceDrift?c=a%20b%2Fc&i=h%3A1&x=");
  EXPECT_EQ(RunbookTemplate::Parse("https://rb/static")->Render({}), "https://rb/static");
}

TEST(IsLabelName, FollowsPrometheusRules) {
  EXPECT_TRUE(IsLabelName("team"));
  EXPECT_TRUE(IsLabelName("_x9"));
  EXPECT_FALSE(IsLabelName(""));
  EXPECT_FALSE(IsLabelName("9x"));
  EXPECT_FALSE(IsLabelName("__name"));
  EXPECT_FALSE(IsLabelName("a-b"));
}

}  // namespace
}  // namespace drift::alerts
