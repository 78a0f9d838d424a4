#include "healing/window.h"

#include <gtest/gtest.h>

#include "common/rfc3339.h"

namespace drift::healing {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

WallTime At(const char* text) { return *ParseRfc3339(text); }

unsigned Days(std::initializer_list<const char*> names) {
  unsigned days = 0;
  for (const char* n : names) days |= *ParseWeekday(n);
  return days;
}

MaintenanceWindow Window(std::initializer_list<const char*> days, minutes start, minutes length,
                         const char* zone) {
  Result<MaintenanceWindow> w = MaintenanceWindow::Make("w", Days(days), start, length, zone);
  EXPECT_TRUE(w.ok()) << w.error().message;
  return *w;
}

TEST(MaintenanceWindow, RunsPastMidnightIntoTheNextDay) {
  // Saturday 22:00 for 6h: until Sunday 04:00 (2026-12-05 is a Saturday).
  const MaintenanceWindow w = Window({"sat"}, hours(22), hours(6), "UTC");
  EXPECT_FALSE(w.Contains(At("2026-12-05T21:59:59Z")));
  EXPECT_TRUE(w.Contains(At("2026-12-05T22:00:00Z")));
  EXPECT_TRUE(w.Contains(At("2026-12-06T03:59:59Z")));
  EXPECT_FALSE(w.Contains(At("2026-12-06T04:00:00Z")));
  EXPECT_FALSE(w.Contains(At("2026-12-07T23:00:00Z")));  // Monday
  EXPECT_EQ(w.NextStart(At("2026-12-06T03:00:00Z")), At("2026-12-12T22:00:00Z"));
  EXPECT_EQ(w.NextStart(At("2026-12-05T12:00:00Z")), At("2026-12-05T22:00:00Z"));
  EXPECT_EQ(w.Describe(), "sat 22:00+6h UTC");
}

TEST(MaintenanceWindow, FollowsItsTimeZone) {
  // 02:00 in Berlin is 01:00 UTC in winter.
  const MaintenanceWindow w = Window({"sat", "sun"}, hours(2), minutes(90), "Europe/Berlin");
  EXPECT_FALSE(w.Contains(At("2026-12-06T00:59:59Z")));
  EXPECT_TRUE(w.Contains(At("2026-12-06T01:00:00Z")));
  EXPECT_TRUE(w.Contains(At("2026-12-06T02:29:59Z")));
  EXPECT_FALSE(w.Contains(At("2026-12-06T02:30:00Z")));
  EXPECT_EQ(w.NextStart(At("2026-12-06T02:00:00Z")), At("2026-12-12T01:00:00Z"));
  EXPECT_EQ(w.Describe(), "sat,sun 02:00+90m Europe/Berlin");
}

TEST(MaintenanceWindow, DaylightSavingChanges) {
  // 2026-03-29: Berlin skips 02:00-03:00. A window at 02:30 starts at the change (01:00 UTC).
  const MaintenanceWindow spring = Window({"sun"}, minutes(150), hours(1), "Europe/Berlin");
  EXPECT_EQ(spring.NextStart(At("2026-03-28T12:00:00Z")), At("2026-03-29T01:00:00Z"));
  EXPECT_TRUE(spring.Contains(At("2026-03-29T01:59:00Z")));
  EXPECT_FALSE(spring.Contains(At("2026-03-29T02:00:00Z")));
  // 2026-10-25: Berlin repeats 02:00-03:00. A window at 02:30 starts the first time (CEST).
  EXPECT_EQ(spring.NextStart(At("2026-10-24T12:00:00Z")), At("2026-10-25T00:30:00Z"));
  // Summer: 02:30 CEST is 00:30 UTC.
  EXPECT_EQ(spring.NextStart(At("2026-06-01T12:00:00Z")), At("2026-06-07T00:30:00Z"));
}

TEST(MaintenanceWindow, RefusesWhatCannotBeAWindow) {
  auto error = [](unsigned days, minutes start, minutes length, const char* zone) {
    Result<MaintenanceWindow> w = MaintenanceWindow::Make("w", days, start, length, zone);
    return w.ok() ? std::string("made") : w.error().message;
  };
  EXPECT_EQ(error(Days({"mon"}), hours(1), hours(1), "Mars/Olympus"),
            "unknown time zone \"Mars/Olympus\" (expected an IANA name such as \"Europe/Berlin\" "
            "or \"UTC\", from the system's time zone database)");
  EXPECT_EQ(error(0, hours(1), hours(1), "UTC"), "expected at least one day, mon to sun");
  EXPECT_EQ(error(Days({"mon"}), hours(24), hours(1), "UTC"),
            "the start must be a time of day, 00:00 to 23:59");
  EXPECT_EQ(error(Days({"mon"}), hours(1), hours(169), "UTC"),
            "the duration must be more than 0 and at most a week (168h)");
  EXPECT_FALSE(ParseWeekday("monday").has_value());
  EXPECT_EQ(ParseWeekday("sun"), 1U << 6);
}

}  // namespace
}  // namespace drift::healing
