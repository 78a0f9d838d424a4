#include "alerts/delivery.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/log.h"
#include "common/rfc3339.h"
#include "tests/support/fake_monotonic_clock.h"
#include "tests/support/fakes.h"
#include "tests/unit/alerts/alert_fakes.h"

namespace drift::alerts {
namespace {

using fakes::FakeAlertmanager;
using fakes::FakePoster;
using fakes::RecordingObserver;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Answer = FakeAlertmanager::Answer;

const std::string kUrl = "http://am:9093";
const WallTime kStart = WallTime(seconds(1'700'000'000));

Alert MakeAlert(const std::string& check, WallTime starts = kStart,
                WallTime ends = kStart + seconds(240)) {
  Alert a;
  a.content.labels = {{"alertname", "ComplianceDrift"}, {"check", check}};
  a.starts_at = starts;
  a.ends_at = ends;
  return a;
}

std::vector<std::string> Checks(const std::vector<nlohmann::json>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) out.push_back(a["labels"]["check"]);
  return out;
}

// Captures log lines for the test's lifetime.
class LogCapture {
 public:
  LogCapture() {
    log::SetSinkForTesting([this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { log::SetSinkForTesting(nullptr); }
  std::string Find(std::string_view needle) const {
    std::lock_guard lock(mu_);
    for (const std::string& l : lines_) {
      if (l.find(needle) != std::string::npos) return l;
    }
    return "";
  }
  std::size_t Count(std::string_view needle) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const std::string& l : lines_) n += l.find(needle) != std::string::npos;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

class DeliveryTest : public ::testing::Test {
 protected:
  std::unique_ptr<AlertmanagerSink> MakeSink(std::size_t capacity = 100,
                                             milliseconds timeout = seconds(10),
                                             std::size_t max_batch = 64,
                                             milliseconds initial_backoff = milliseconds(10),
                                             AlertFormat format = AlertFormat::kAlertmanager) {
    AlertmanagerConfig target;
    target.url = kUrl;
    target.endpoint = kUrl + "/api/v2/alerts";
    target.timeout = timeout;
    target.format = format;
    target.receiver = "heal";
    target.repeat_interval = std::chrono::minutes(10);
    target.external_url = "http://web-1:9968";
    DeliveryOptions options;
    options.max_batch = max_batch;
    options.initial_backoff = initial_backoff;
    options.max_backoff = std::max(initial_backoff, milliseconds(40));
    return std::make_unique<AlertmanagerSink>(target, capacity, std::make_unique<FakePoster>(am_),
                                              observer_, clock_, options, *monotonic_);
  }
  // The sink is parked in its backoff (waiting on the fake monotonic clock): moves the clock past
  // the longest backoff MakeSink's options allow, so that it retries now.
  void Retry() {
    ASSERT_TRUE(mono_.AwaitWaiters(1));
    mono_.Advance(milliseconds(40));
  }
  // For the tests of Stop's deadline, which cancels a real POST: backoff and deadlines on the
  // real monotonic clock.
  void UseSteadyClock() { monotonic_ = &SteadyClock::Get(); }
  bool WaitAccepted(std::size_t n) {
    return am_.WaitFor([&] { return am_.accepted_count_locked() >= n; });
  }
  bool WaitPosts(std::size_t n) {
    return am_.WaitFor([&] { return am_.post_count_locked() >= n; });
  }

  drift::testing::FakeClock clock_{kStart + seconds(5)};
  drift::testing::FakeMonotonicClock mono_;
  const MonotonicClock* monotonic_ = &mono_;
  FakeAlertmanager am_;
  RecordingObserver observer_;
};

TEST_F(DeliveryTest, PostsQueuedAlertsAndReportsSuccess) {
  auto sink = MakeSink();
  std::vector<Alert> alerts = {MakeAlert("a"), MakeAlert("b"), MakeAlert("c")};
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitAccepted(3));
  sink->Stop(seconds(1));
  std::vector<nlohmann::json> posts = am_.posts();
  ASSERT_EQ(posts.size(), 1u) << "one batch";
  EXPECT_EQ(posts[0].dump(),
            R"([{"annotations":{},"endsAt":"2023-11-14T22:17:20Z","labels":{"alertname":)"
            R"("ComplianceDrift","check":"a"},"startsAt":"2023-11-14T22:13:20Z"},)"
            R"({"annotations":{},"endsAt":"2023-11-14T22:17:20Z","labels":{"alertname":)"
            R"("ComplianceDrift","check":"b"},"startsAt":"2023-11-14T22:13:20Z"},)"
            R"({"annotations":{},"endsAt":"2023-11-14T22:17:20Z","labels":{"alertname":)"
            R"("ComplianceDrift","check":"c"},"startsAt":"2023-11-14T22:13:20Z"}])");
  EXPECT_EQ(observer_.sent(), (std::map<std::string, std::size_t>{{kUrl + " success", 3}}));
  EXPECT_EQ(observer_.delivered(kUrl), clock_.Now());
  EXPECT_EQ(observer_.queue(kUrl), 0u);
  EXPECT_EQ(observer_.dropped(kUrl), 0u);
}

TEST_F(DeliveryTest, BatchesAtMostMaxBatchAlertsPerPost) {
  auto sink = MakeSink(100, seconds(10), 2);
  std::vector<Alert> alerts;
  for (const char* c : {"a", "b", "c", "d", "e"}) alerts.push_back(MakeAlert(c));
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitAccepted(5));
  sink->Stop(seconds(1));
  std::vector<std::size_t> sizes;
  for (const auto& p : am_.posts()) sizes.push_back(p.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));
  EXPECT_EQ(Checks(am_.accepted()), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

// A webhook receiver gets Alertmanager's webhook message, one alert each, when the alert
// starts, every repeat_interval while it fires (not at every resend), and once resolved.
TEST_F(DeliveryTest, WebhookReceiversGetOneMessagePerAlertAsAlertmanagerWouldSend) {
  auto sink = MakeSink(100, seconds(10), 64, milliseconds(10), AlertFormat::kWebhook);
  sink->Enqueue(std::vector<Alert>{MakeAlert("a"), MakeAlert("b")});
  ASSERT_TRUE(WaitPosts(2));
  clock_.Advance(seconds(60));  // a resend within repeat_interval: not sent
  sink->Enqueue(std::vector<Alert>{MakeAlert("a", kStart, clock_.Now() + seconds(240))});
  clock_.Advance(std::chrono::minutes(10));  // repeat_interval passed: sent again
  sink->Enqueue(std::vector<Alert>{MakeAlert("a", kStart, clock_.Now() + seconds(240))});
  ASSERT_TRUE(WaitPosts(3));
  const WallTime resolved = clock_.Now() - seconds(1);
  sink->Enqueue(std::vector<Alert>{MakeAlert("b", kStart, resolved)});
  sink->Enqueue(std::vector<Alert>{MakeAlert("b", kStart, resolved)});  // resent: not again
  ASSERT_TRUE(WaitPosts(4));
  sink->Stop(seconds(1));
  std::vector<nlohmann::json> posts = am_.posts();
  ASSERT_EQ(posts.size(), 4u);
  std::vector<std::string> seen;
  for (const auto& p : posts) {
    EXPECT_EQ(p["version"], "4");
    EXPECT_EQ(p["receiver"], "heal");
    EXPECT_EQ(p["externalURL"], "http://web-1:9968");
    ASSERT_EQ(p["alerts"].size(), 1u);
    seen.push_back(p["alerts"][0]["labels"]["check"].get<std::string>() + " " +
                   p["alerts"][0]["status"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a firing", "b firing", "a firing", "b resolved"}));
  EXPECT_EQ(posts[0]["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(posts[0]["alerts"][0]["fingerprint"],
            drift::AlertmanagerFingerprint({{"alertname", "ComplianceDrift"}, {"check", "a"}}));
}

TEST_F(DeliveryTest, ClientErrorsAreLoggedWithTheBodyAndDroppedNotRetried) {
  for (long status : {400L, 401L, 404L, 422L}) {
    SCOPED_TRACE(status);
    LogCapture logs;
    FakeAlertmanager am;
    RecordingObserver observer;
    AlertmanagerConfig target;
    target.url = kUrl;
    AlertmanagerSink sink(target, 100, std::make_unique<FakePoster>(am), observer, clock_,
                          {64, milliseconds(10), milliseconds(40)});
    am.Script({{status, "{\"code\":" + std::to_string(status) + ",\"message\":\"bad alert\"}"}});
    std::vector<Alert> first = {MakeAlert("a"), MakeAlert("b")};
    sink.Enqueue(first);
    ASSERT_TRUE(am.WaitFor([&] { return am.post_count_locked() >= 1; }));
    std::vector<Alert> second = {MakeAlert("c")};
    sink.Enqueue(second);
    ASSERT_TRUE(am.WaitFor([&] { return am.accepted_count_locked() >= 1; }));
    sink.Stop(seconds(1));
    EXPECT_EQ(am.posts().size(), 2u) << "the rejected batch is not sent again";
    EXPECT_EQ(Checks(am.accepted()), std::vector<std::string>{"c"});
    EXPECT_EQ(observer.sent(), (std::map<std::string, std::size_t>{{kUrl + " rejected", 2},
                                                                   {kUrl + " success", 1}}));
    EXPECT_EQ(observer.dropped(kUrl), 2u);
    std::string line = logs.Find("Alertmanager rejected alerts; dropping them");
    EXPECT_NE(line.find("alertmanager=http://am:9093 status=" + std::to_string(status) +
                        " alerts=2 body=\"{\\\"code\\\":" + std::to_string(status) +
                        ",\\\"message\\\":\\\"bad alert\\\"}\""),
              std::string::npos)
        << line;
  }
}

TEST_F(DeliveryTest, ServerErrorsAndTooManyRequestsAreRetriedUntilAccepted) {
  LogCapture logs;
  auto sink = MakeSink();
  am_.Script({{500, "internal"}, {503, "unavailable"}, {502, ""}, {429, "slow down"}});
  std::vector<Alert> alerts = {MakeAlert("a")};
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitPosts(1));
  for (std::size_t posts = 2; posts <= 5; ++posts) {
    Retry();
    ASSERT_TRUE(WaitPosts(posts));
  }
  ASSERT_TRUE(WaitAccepted(1));
  sink->Stop(seconds(1));
  EXPECT_EQ(am_.posts().size(), 5u);
  EXPECT_EQ(Checks(am_.accepted()), std::vector<std::string>{"a"});
  EXPECT_EQ(observer_.sent(),
            (std::map<std::string, std::size_t>{{kUrl + " error", 4}, {kUrl + " success", 1}}));
  EXPECT_EQ(observer_.dropped(kUrl), 0u);
  // One warning for the outage (the retries log at debug), one line for the recovery.
  EXPECT_EQ(logs.Count("cannot send alerts to Alertmanager; will retry"), 1u);
  EXPECT_NE(logs.Find("cannot send alerts").find("err=\"HTTP 500: internal\""), std::string::npos);
  EXPECT_NE(logs.Find("alerts delivered to Alertmanager again").find("failed_attempts=4"),
            std::string::npos);
}

TEST_F(DeliveryTest, TransportErrorsAndTimeoutsAreRetriedWithTheConfiguredTimeout) {
  auto sink = MakeSink(100, milliseconds(50));
  am_.Script({{0, "", "POST http://am:9093/api/v2/alerts: Couldn't connect to server"},
              {200, "", "", milliseconds(200)}});  // answers after the timeout: a timeout
  std::vector<Alert> alerts = {MakeAlert("a")};
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitPosts(1));
  Retry();
  ASSERT_TRUE(WaitPosts(2));
  Retry();
  ASSERT_TRUE(WaitAccepted(1));
  sink->Stop(seconds(1));
  EXPECT_EQ(am_.posts().size(), 3u);
  EXPECT_EQ(am_.timeouts(), (std::vector<milliseconds>(3, milliseconds(50))));
  EXPECT_EQ(observer_.sent(),
            (std::map<std::string, std::size_t>{{kUrl + " error", 2}, {kUrl + " success", 1}}));
}

TEST_F(DeliveryTest, FullQueueDropsTheOldestAndNeverExceedsItsBound) {
  LogCapture logs;
  am_.SetFallback({0, "", "connection refused"});
  auto sink = MakeSink(3);
  std::vector<Alert> alerts;
  for (const char* c : {"a0", "a1", "a2", "a3", "a4"}) alerts.push_back(MakeAlert(c));
  sink->Enqueue(alerts);
  EXPECT_EQ(observer_.dropped(kUrl), 2u);
  ASSERT_TRUE(WaitPosts(1));
  Retry();
  ASSERT_TRUE(WaitPosts(2));
  std::vector<Alert> more = {MakeAlert("a5")};
  sink->Enqueue(more);
  Retry();
  ASSERT_TRUE(WaitPosts(3));
  Retry();
  ASSERT_TRUE(WaitPosts(4));
  EXPECT_LE(sink->queue_length(), 3u);
  EXPECT_EQ(observer_.dropped(kUrl), 3u);
  EXPECT_EQ(observer_.max_queue(kUrl), 3u);
  am_.SetFallback({200, ""});
  Retry();
  ASSERT_TRUE(WaitAccepted(3));
  sink->Stop(seconds(1));
  EXPECT_EQ(Checks(am_.accepted()), (std::vector<std::string>{"a3", "a4", "a5"}));
  EXPECT_EQ(logs.Count("alert queue full; dropping the oldest alerts"), 1u)
      << "logged once per episode";
}

TEST_F(DeliveryTest, ANewerStateOfAQueuedAlertReplacesIt) {
  am_.SetFallback({0, "", "connection refused"});
  auto sink = MakeSink(10);
  std::vector<Alert> first = {MakeAlert("a", kStart, kStart + seconds(240))};
  sink->Enqueue(first);
  ASSERT_TRUE(WaitPosts(1));
  std::vector<Alert> resend = {MakeAlert("a", kStart, kStart + seconds(300))};
  sink->Enqueue(resend);
  std::vector<Alert> resolved = {MakeAlert("a", kStart, kStart + seconds(90))};
  sink->Enqueue(resolved);
  // A new alert with the same labels but a later start is a different alert: kept.
  std::vector<Alert> again = {MakeAlert("a", kStart + seconds(120), kStart + seconds(360))};
  sink->Enqueue(again);
  am_.SetFallback({200, ""});
  Retry();
  ASSERT_TRUE(WaitAccepted(2));
  sink->Stop(seconds(1));
  std::vector<nlohmann::json> got = am_.accepted();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["endsAt"], "2023-11-14T22:14:50Z") << "the resolution, in place of the rest";
  EXPECT_EQ(got[1]["startsAt"], "2023-11-14T22:15:20Z");
  EXPECT_EQ(observer_.dropped(kUrl), 0u) << "replaced alerts are not lost, only superseded";
}

TEST_F(DeliveryTest, StopFlushesWhatItCanBeforeTheDeadline) {
  auto sink = MakeSink();
  am_.Script({{200, "", "", milliseconds(50)}});
  std::vector<Alert> alerts = {MakeAlert("a"), MakeAlert("b")};
  sink->Enqueue(alerts);
  sink->Stop(seconds(2));
  EXPECT_EQ(Checks(am_.accepted()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(observer_.dropped(kUrl), 0u);
}

TEST_F(DeliveryTest, StopWithAnAlertmanagerDownDropsAndCountsAtTheDeadline) {
  LogCapture logs;
  am_.SetFallback({0, "", "connection refused"});
  UseSteadyClock();
  auto sink = MakeSink();
  std::vector<Alert> alerts = {MakeAlert("a"), MakeAlert("b")};
  sink->Enqueue(alerts);
  auto t0 = std::chrono::steady_clock::now();
  sink->Stop(milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, milliseconds(1500));
  EXPECT_EQ(observer_.dropped(kUrl), 2u);
  EXPECT_EQ(observer_.queue(kUrl), 0u);
  EXPECT_NE(logs.Find("dropping alerts not delivered before shutdown").find("alerts=2"),
            std::string::npos);
  // Enqueued after stopping: ignored.
  std::size_t posts = am_.posts().size();
  std::vector<Alert> late = {MakeAlert("late")};
  sink->Enqueue(late);
  EXPECT_EQ(observer_.dropped(kUrl), 2u);
  EXPECT_EQ(observer_.queue(kUrl), 0u);
  EXPECT_EQ(am_.posts().size(), posts);
}

TEST_F(DeliveryTest, StopCancelsAHangingPostAtTheDeadline) {
  FakeAlertmanager::Answer hang{200, "", "", seconds(30)};
  am_.Script({hang});
  UseSteadyClock();
  auto sink = MakeSink(100, seconds(30));
  std::vector<Alert> alerts = {MakeAlert("a")};
  sink->Enqueue(alerts);
  // The POST is running (it records itself when it returns, so wait for it to start instead).
  ASSERT_TRUE(am_.WaitFor([&] { return am_.started_count_locked() >= 1; }));
  auto t0 = std::chrono::steady_clock::now();
  sink->Stop(milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, milliseconds(250));
  EXPECT_LT(took, seconds(2));
  EXPECT_EQ(observer_.dropped(kUrl), 1u);
  EXPECT_TRUE(am_.accepted().empty());
}

TEST_F(DeliveryTest, PostsDuringStopHaveTheirTimeoutCutToTheDeadline) {
  am_.Script({{0, "", "connection refused"}});
  UseSteadyClock();
  auto sink = MakeSink(100, seconds(30), 64, milliseconds(500));
  std::vector<Alert> alerts = {MakeAlert("a")};
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitPosts(1));
  sink->Stop(milliseconds(2000));
  ASSERT_EQ(am_.timeouts().size(), 2u);
  EXPECT_EQ(am_.timeouts()[0], seconds(30));
  EXPECT_LE(am_.timeouts()[1], milliseconds(2000));
  EXPECT_EQ(Checks(am_.accepted()), std::vector<std::string>{"a"});
}

TEST_F(DeliveryTest, RetriesWaitForTheBackoffOnTheMonotonicClock) {
  am_.Script({{503, ""}});
  auto sink = MakeSink();
  std::vector<Alert> alerts = {MakeAlert("a")};
  sink->Enqueue(alerts);
  ASSERT_TRUE(WaitPosts(1));
  // The first backoff is 5 to 10 ms: still waiting after 4.
  ASSERT_TRUE(mono_.AwaitWaits(1));
  mono_.Advance(milliseconds(4));
  ASSERT_TRUE(mono_.AwaitWaits(2));
  EXPECT_EQ(am_.posts().size(), 1u) << "no retry before the backoff has passed";
  mono_.Advance(milliseconds(6));
  ASSERT_TRUE(WaitAccepted(1));
  sink->Stop(seconds(1));
  EXPECT_EQ(am_.posts().size(), 2u);
}

TEST(Backoff, GrowsExponentiallyWithJitterUpToTheCap) {
  DeliveryOptions o;
  o.initial_backoff = milliseconds(500);
  o.max_backoff = milliseconds(30'000);
  std::mt19937 rng(42);
  struct Range {
    int attempt;
    long lo, hi;
  };
  for (Range r : {Range{1, 250, 500}, Range{2, 500, 1000}, Range{3, 1000, 2000},
                  Range{7, 15'000, 30'000}, Range{100, 15'000, 30'000}}) {
    long min = 1 << 30, max = 0;
    for (int i = 0; i < 200; ++i) {
      long d = static_cast<long>(Backoff(r.attempt, o, rng).count());
      min = std::min(min, d);
      max = std::max(max, d);
    }
    EXPECT_GE(min, r.lo) << r.attempt;
    EXPECT_LE(max, r.hi) << r.attempt;
    EXPECT_LT(min, max) << "jittered";
  }
}

TEST(OutcomeName, NamesEveryOutcome) {
  EXPECT_EQ(OutcomeName(Outcome::kSuccess), "success");
  EXPECT_EQ(OutcomeName(Outcome::kError), "error");
  EXPECT_EQ(OutcomeName(Outcome::kRejected), "rejected");
}

TEST(EncodeAlerts, WritesThePostableAlertFormat) {
  Alert a = MakeAlert("fw", kStart, kStart + milliseconds(1500));
  a.content.annotations = {{"summary", "s \"q\""}};
  a.content.generator_url = "http://h:9968/checks/fw";
  std::vector<Alert> alerts = {a};
  EXPECT_EQ(EncodeAlerts(alerts),
            R"([{"annotations":{"summary":"s \"q\""},"endsAt":"2023-11-14T22:13:21.500Z",)"
            R"("generatorURL":"http://h:9968/checks/fw","labels":{"alertname":"ComplianceDrift",)"
            R"("check":"fw"},"startsAt":"2023-11-14T22:13:20Z"}])");
  EXPECT_EQ(EncodeAlerts({}), "[]");
  Alert bad = MakeAlert("x");
  bad.content.annotations = {{"description", "\xff"}};
  std::vector<Alert> bads = {bad};
  EXPECT_NE(EncodeAlerts(bads).find("\"description\":\"\xEF\xBF\xBD\""), std::string::npos)
      << "invalid UTF-8 replaced, not thrown";
}

TEST(Fingerprint, EqualLabelsEqualFingerprints) {
  EXPECT_EQ(Fingerprint({{"a", "1"}, {"b", "2"}}), Fingerprint({{"b", "2"}, {"a", "1"}}));
  EXPECT_NE(Fingerprint({{"a", "1"}}), Fingerprint({{"a", "1"}, {"b", ""}}));
}

}  // namespace
}  // namespace drift::alerts
