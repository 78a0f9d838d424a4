#include "alerts/notifier.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

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

const WallTime kStart = WallTime(seconds(1'700'000'000));  // 2023-11-14T22:13:20Z

AlertContent Content(const std::string& check) {
  AlertContent c;
  c.labels = {{"alertname", "ComplianceDrift"}, {"check", check}};
  return c;
}

// "check startsAt endsAt" of each alert an Alertmanager accepted.
std::vector<std::string> Show(const std::vector<nlohmann::json>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) {
    out.push_back(a["labels"]["check"].get<std::string>() + " " + a["startsAt"].get<std::string>() +
                  " " + a["endsAt"].get<std::string>());
  }
  return out;
}

class NotifierTest : public ::testing::Test {
 protected:
  NotifierTest()
      : notifier_(
            clock_, observer_,
            [this](const AlertmanagerConfig& t) {
              return std::make_unique<FakePoster>(ams_.at(t.url));
            },
            {64, milliseconds(10), milliseconds(40)}, mono_) {
    ams_["http://a"];
    ams_["http://b"];
  }

  AlertingConfig Config(std::vector<std::string> urls) {
    AlertingConfig c;
    c.enabled = true;
    c.resend_interval = seconds(60);
    for (const std::string& u : urls) {
      AlertmanagerConfig am;
      am.url = u;
      am.endpoint = u + "/api/v2/alerts";
      am.timeout = seconds(5);
      c.alertmanagers.push_back(am);
    }
    return c;
  }
  bool WaitAccepted(const std::string& url, std::size_t n) {
    FakeAlertmanager& am = ams_[url];
    return am.WaitFor([&] { return am.accepted_count_locked() >= n; });
  }

  drift::testing::FakeClock clock_{kStart};
  // Nothing here waits for monotonic time to pass: the dispatcher moves when kicked, and the
  // tests that stop with a POST hanging give no flush time.
  drift::testing::FakeMonotonicClock mono_;
  RecordingObserver observer_;
  // std::map never moves its elements: posters keep references.
  std::map<std::string, FakeAlertmanager> ams_;
  Notifier notifier_;
};

TEST_F(NotifierTest, EveryAlertmanagerGetsEveryAlert) {
  notifier_.Configure(Config({"http://a", "http://b"}));
  notifier_.Fire("ComplianceDrift/fw", Content("fw"));
  ASSERT_TRUE(WaitAccepted("http://a", 1));
  ASSERT_TRUE(WaitAccepted("http://b", 1));
  notifier_.Stop(seconds(1));
  for (const char* url : {"http://a", "http://b"}) {
    EXPECT_EQ(Show(ams_[url].accepted()),
              std::vector<std::string>{"fw 2023-11-14T22:13:20Z 2023-11-14T22:17:20Z"})
        << url;
  }
  EXPECT_EQ(observer_.active(), (std::map<std::string, int>{{"ComplianceDrift", 1}}));
}

TEST_F(NotifierTest, ResendsOnTheFakeClockAndSendsTheResolution) {
  notifier_.Configure(Config({"http://a"}));
  notifier_.Fire("s", Content("fw"));
  ASSERT_TRUE(WaitAccepted("http://a", 1));
  clock_.Advance(seconds(30));
  notifier_.Kick();
  clock_.Advance(seconds(30));
  notifier_.Kick();
  ASSERT_TRUE(WaitAccepted("http://a", 2));
  clock_.Advance(seconds(10));
  notifier_.Resolve("s");
  ASSERT_TRUE(WaitAccepted("http://a", 3));
  notifier_.Stop(seconds(1));
  EXPECT_EQ(Show(ams_["http://a"].accepted()),
            (std::vector<std::string>{"fw 2023-11-14T22:13:20Z 2023-11-14T22:17:20Z",
                                      "fw 2023-11-14T22:13:20Z 2023-11-14T22:18:20Z",
                                      "fw 2023-11-14T22:13:20Z 2023-11-14T22:14:30Z"}));
  EXPECT_EQ(observer_.active(), (std::map<std::string, int>{})) << "nothing firing";
}

TEST_F(NotifierTest, AnAlertmanagerThatHangsDoesNotDelayTheOthers) {
  ams_["http://a"].SetFallback({200, "", "", seconds(3)});
  notifier_.Configure(Config({"http://a", "http://b"}));
  auto t0 = std::chrono::steady_clock::now();
  notifier_.Fire("s", Content("fw"));
  ASSERT_TRUE(WaitAccepted("http://b", 1));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1500));
  EXPECT_TRUE(ams_["http://a"].accepted().empty());
  notifier_.Stop(milliseconds(0));  // cancels the hanging POST
}

TEST_F(NotifierTest, FireAndResolveNeverWaitForTheNetwork) {
  ams_["http://a"].SetFallback({200, "", "", seconds(3)});
  notifier_.Configure(Config({"http://a"}));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    // fmt, not "s" + std::to_string(i): GCC 12 -O3 warns falsely (-Wrestrict) on the latter.
    notifier_.Fire(fmt::format("s{}", i), Content(fmt::format("c{}", i)));
    notifier_.Resolve(fmt::format("s{}", i));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
  notifier_.Stop(milliseconds(0));  // cancels the hanging POST
}

TEST_F(NotifierTest, ReloadAddsAlertmanagersWithCurrentAlertsAndRemovesOthers) {
  notifier_.Configure(Config({"http://a"}));
  notifier_.Fire("s", Content("fw"));
  ASSERT_TRUE(WaitAccepted("http://a", 1));
  notifier_.Configure(Config({"http://b"}));
  ASSERT_TRUE(WaitAccepted("http://b", 1)) << "the new Alertmanager hears of the firing alert";
  EXPECT_EQ(observer_.removed(), std::vector<std::string>{"http://a"});
  clock_.Advance(seconds(1));
  notifier_.Resolve("s");
  ASSERT_TRUE(WaitAccepted("http://b", 2));
  notifier_.Stop(seconds(1));
  EXPECT_EQ(ams_["http://a"].accepted().size(), 1u) << "a removed Alertmanager hears no more";
}

TEST_F(NotifierTest, AnUnchangedAlertmanagerKeepsItsSink) {
  notifier_.Configure(Config({"http://a"}));
  notifier_.Fire("s", Content("fw"));
  ASSERT_TRUE(WaitAccepted("http://a", 1));
  notifier_.Configure(Config({"http://a"}));
  // A sink taken for new would have been given the firing alert inside Configure, and Stop
  // flushes every queue: no need to wait for a re-send.
  notifier_.Stop(seconds(1));
  EXPECT_EQ(ams_["http://a"].accepted().size(), 1u) << "not re-sent as if new";
  EXPECT_TRUE(observer_.removed().empty());
}

TEST_F(NotifierTest, StopStillSendsAResolutionMadeJustBefore) {
  notifier_.Configure(Config({"http://a"}));
  notifier_.Fire("s", Content("fw"));
  notifier_.Resolve("s");
  notifier_.Stop(seconds(2));
  std::vector<nlohmann::json> got = ams_["http://a"].accepted();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(Show({got.back()}),
            std::vector<std::string>{"fw 2023-11-14T22:13:20Z 2023-11-14T22:13:20Z"});
}

}  // namespace
}  // namespace drift::alerts
