#include "alerts/tracker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/rfc3339.h"
#include "tests/support/fakes.h"

namespace drift::alerts {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const milliseconds kResend = seconds(60);

AlertContent Content(std::string check, std::string severity = "high",
                     std::string description = "d") {
  AlertContent c;
  c.labels = {{"alertname", "ComplianceDrift"}, {"check", check}, {"severity", severity}};
  c.annotations = {{"description", description}};
  c.generator_url = "http://h:9968/checks/" + check;
  return c;
}

// "check severity starts_at ends_at" per alert: short and exact.
std::vector<std::string> Show(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const Alert& a : alerts) {
    out.push_back(a.content.labels.at("check") + " " + a.content.labels.at("severity") + " " +
                  FormatRfc3339(a.starts_at) + " " + FormatRfc3339(a.ends_at));
  }
  return out;
}

class TrackerTest : public ::testing::Test {
 protected:
  WallTime Now() const { return clock_.Now(); }
  void Advance(milliseconds d) { clock_.Advance(d); }
  testing::FakeClock clock_{WallTime(seconds(1'700'000'000))};  // 2023-11-14T22:13:20Z
  AlertTracker tracker_{kResend};
};

TEST_F(TrackerTest, NothingTrackedNothingDue) {
  EXPECT_TRUE(tracker_.Due(Now()).empty());
  EXPECT_EQ(tracker_.NextDue(), std::nullopt);
}

TEST_F(TrackerTest, FiringIsSentAtOnceWithEndsAtFourResendIntervalsAhead) {
  tracker_.Fire("ComplianceDrift/fw", Content("fw"), Now());
  EXPECT_LE(*tracker_.NextDue(), Now());
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:17:20Z"});
  EXPECT_TRUE(tracker_.Due(Now()).empty()) << "sent once, not again until the resend interval";
  EXPECT_EQ(tracker_.NextDue(), Now() + kResend);
}

TEST_F(TrackerTest, ResendCadenceKeepsStartAndMovesEndsAt) {
  tracker_.Fire("s", Content("fw"), Now());
  ASSERT_EQ(tracker_.Due(Now()).size(), 1u);
  Advance(seconds(59));
  EXPECT_TRUE(tracker_.Due(Now()).empty());
  Advance(seconds(1));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:18:20Z"});
  Advance(seconds(60));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:19:20Z"});
}

TEST_F(TrackerTest, ANewAlertStartsWhenWhatItIsAboutBegan) {
  // A drift episode that began an hour ago, before a restart.
  tracker_.Fire("a", Content("a"), Now(), Now() - minutes(60));
  // A clock stepped back: never a start after now (Alertmanager rejects starts after ends).
  tracker_.Fire("b", Content("b"), Now(), Now() + minutes(5));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            (std::vector<std::string>{"a high 2023-11-14T21:13:20Z 2023-11-14T22:17:20Z",
                                      "b high 2023-11-14T22:13:20Z 2023-11-14T22:17:20Z"}));
  Advance(seconds(10));
  tracker_.Fire("a", Content("a"), Now(), Now());
  Advance(seconds(50));
  EXPECT_EQ(Show(tracker_.Due(Now()))[0], "a high 2023-11-14T21:13:20Z 2023-11-14T22:18:20Z")
      << "a firing alert keeps its start";
}

TEST_F(TrackerTest, FiringAgainOnlyUpdatesAnnotationsForTheNextResend) {
  EXPECT_TRUE(tracker_.Fire("s", Content("fw", "high", "first"), Now())) << "new: due now";
  ASSERT_EQ(tracker_.Due(Now()).size(), 1u);
  Advance(seconds(10));
  EXPECT_FALSE(tracker_.Fire("s", Content("fw", "high", "second"), Now()));
  EXPECT_TRUE(tracker_.Due(Now()).empty()) << "an annotation change waits for the resend";
  Advance(seconds(50));
  std::vector<Alert> due = tracker_.Due(Now());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].content.annotations.at("description"), "second");
  EXPECT_EQ(due[0].starts_at, Now() - seconds(60));
}

TEST_F(TrackerTest, ResolveSendsEndsAtResolutionTimeAndResendsForFifteenMinutes) {
  tracker_.Fire("s", Content("fw"), Now());
  ASSERT_EQ(tracker_.Due(Now()).size(), 1u);
  Advance(seconds(30));
  tracker_.Resolve("s", Now());
  EXPECT_FALSE(tracker_.Firing("s"));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:13:50Z"});
  int resends = 0;
  for (int i = 0; i < 20; ++i) {
    Advance(seconds(60));
    std::vector<Alert> due = tracker_.Due(Now());
    if (due.empty()) continue;
    ++resends;
    EXPECT_EQ(Show(due),
              std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:13:50Z"});
  }
  // Resent at +1m .. +14m after the resolution; at +15m the window is over.
  EXPECT_EQ(resends, 14);
  EXPECT_EQ(tracker_.NextDue(), std::nullopt) << "forgotten after the window";
}

TEST_F(TrackerTest, ResolvingSomethingNotFiringSendsNothing) {
  tracker_.Resolve("s", Now());
  EXPECT_TRUE(tracker_.Due(Now()).empty());
}

TEST_F(TrackerTest, LateDueStillSendsTheResolutionOnce) {
  tracker_.Fire("s", Content("fw"), Now());
  tracker_.Resolve("s", Now() + seconds(1));
  Advance(minutes(20));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:13:21Z"});
  Advance(minutes(1));
  EXPECT_TRUE(tracker_.Due(Now()).empty());
  EXPECT_EQ(tracker_.NextDue(), std::nullopt);
}

TEST_F(TrackerTest, FlappingStartsANewAlertAfterTheSentResolution) {
  tracker_.Fire("s", Content("fw"), Now());
  tracker_.Due(Now());
  Advance(seconds(60));
  tracker_.Resolve("s", Now());
  tracker_.Due(Now());  // the resolution went out
  Advance(seconds(60));
  tracker_.Fire("s", Content("fw"), Now());
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:15:20Z 2023-11-14T22:19:20Z"})
      << "a new start; the old resolution is not resent (it would overwrite the new alert)";
  Advance(seconds(60));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:15:20Z 2023-11-14T22:20:20Z"});
}

TEST_F(TrackerTest, FlappingWithinOneDispatchSendsTheEndBeforeTheNewStart) {
  tracker_.Fire("s", Content("fw"), Now());
  tracker_.Due(Now());
  Advance(seconds(5));
  tracker_.Resolve("s", Now());
  Advance(seconds(5));
  tracker_.Fire("s", Content("fw"), Now());
  EXPECT_EQ(Show(tracker_.Due(Now())),
            (std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:13:25Z",
                                      "fw high 2023-11-14T22:13:30Z 2023-11-14T22:17:30Z"}));
  Advance(seconds(60));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:30Z 2023-11-14T22:18:30Z"});
}

TEST_F(TrackerTest, NewLabelsResolveTheOldAlertAndStartANewOne) {
  tracker_.Fire("s", Content("fw", "high"), Now());
  tracker_.Due(Now());
  Advance(seconds(10));
  EXPECT_TRUE(tracker_.Fire("s", Content("fw", "critical"), Now()));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            (std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:13:30Z",
                                      "fw critical 2023-11-14T22:13:30Z 2023-11-14T22:17:30Z"}));
  EXPECT_EQ(tracker_.FiringByAlertname(), (std::map<std::string, int>{{"ComplianceDrift", 1}}));
}

TEST_F(TrackerTest, SlotsAreIndependent) {
  tracker_.Fire("a", Content("a"), Now());
  tracker_.Fire("b", Content("b"), Now());
  EXPECT_EQ(tracker_.Due(Now()).size(), 2u);
  Advance(seconds(30));
  tracker_.Resolve("a", Now());
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"a high 2023-11-14T22:13:20Z 2023-11-14T22:13:50Z"});
  EXPECT_EQ(tracker_.FiringSlots(), std::vector<std::string>{"b"});
  EXPECT_EQ(tracker_.NextDue(), Now() + seconds(30)) << "b's resend comes before a's";
}

TEST_F(TrackerTest, ResendsDueWithinATenthOfTheIntervalTravelTogether) {
  tracker_.Fire("a", Content("a"), Now());
  tracker_.Due(Now());
  Advance(seconds(5));
  tracker_.Fire("b", Content("b"), Now());  // started in the same (slow) check cycle
  tracker_.Due(Now());
  Advance(seconds(7));
  tracker_.Fire("c", Content("c"), Now());  // 12s later: more than a tenth of 60s
  tracker_.Due(Now());
  Advance(seconds(48));  // a is due; b would be in 5s; c in 12s
  EXPECT_EQ(Show(tracker_.Due(Now())),
            (std::vector<std::string>{"a high 2023-11-14T22:13:20Z 2023-11-14T22:18:20Z",
                                      "b high 2023-11-14T22:13:25Z 2023-11-14T22:18:20Z"}));
  EXPECT_EQ(tracker_.NextDue(), Now() + seconds(12));
  Advance(seconds(11));
  EXPECT_TRUE(tracker_.Due(Now()).empty()) << "nothing strictly due, nothing sent early";
}

TEST_F(TrackerTest, ResendIntervalChangeAppliesToTheNextSends) {
  tracker_.Fire("s", Content("fw"), Now());
  tracker_.Due(Now());
  tracker_.SetResendInterval(seconds(10));
  Advance(seconds(10));
  EXPECT_EQ(Show(tracker_.Due(Now())),
            std::vector<std::string>{"fw high 2023-11-14T22:13:20Z 2023-11-14T22:14:10Z"});
}

TEST_F(TrackerTest, ClockSteppingBackResendsAtOnce) {
  tracker_.Fire("s", Content("fw"), Now());
  tracker_.Due(Now());
  Advance(-seconds(3600));
  EXPECT_EQ(tracker_.Due(Now()).size(), 1u);
  EXPECT_TRUE(tracker_.Due(Now()).empty());
}

TEST_F(TrackerTest, CurrentListsResolutionsThenFiringWithoutMarkingThemSent) {
  tracker_.Fire("a", Content("a"), Now());
  tracker_.Fire("b", Content("b"), Now());
  tracker_.Due(Now());
  tracker_.Resolve("a", Now() + seconds(1));
  EXPECT_EQ(Show(tracker_.Current(Now() + seconds(2))),
            (std::vector<std::string>{"a high 2023-11-14T22:13:20Z 2023-11-14T22:13:21Z",
                                      "b high 2023-11-14T22:13:20Z 2023-11-14T22:17:22Z"}));
  EXPECT_EQ(tracker_.Due(Now() + seconds(2)).size(), 1u) << "a's resolution is still due";
}

}  // namespace
}  // namespace drift::alerts
