#include "common/duration.h"

#include <gtest/gtest.h>

namespace drift {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsPrometheusStyle) {
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30'000));
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("7d"), milliseconds(604'800'000));
  EXPECT_EQ(*ParseDuration("1w"), milliseconds(604'800'000));
  EXPECT_EQ(*ParseDuration("1m1s1ms"), milliseconds(61'001));
}

TEST(ParseDuration, RejectsWithReason) {
  EXPECT_EQ(ParseDuration("").error().message, "empty duration; expected e.g. 30s, 5m, 1h30m");
  EXPECT_EQ(ParseDuration("-5s").error().message,
            "negative duration \"-5s\"; expected a positive duration");
  EXPECT_EQ(ParseDuration("0s").error().message,
            "zero duration \"0s\"; expected a positive duration");
  EXPECT_EQ(ParseDuration("10").error().message,
            "invalid duration \"10\"; units are ms, s, m, h, d, w (e.g. 30s, 1h30m)");
  EXPECT_EQ(ParseDuration("5x").error().message,
            "invalid duration \"5x\"; units are ms, s, m, h, d, w (e.g. 30s, 1h30m)");
  EXPECT_EQ(ParseDuration("1s1m").error().message,
            "invalid duration \"1s1m\"; units must go from largest to smallest");
  EXPECT_EQ(ParseDuration("s").error().message,
            "invalid duration \"s\"; expected e.g. 30s, 5m, 1h30m");
  EXPECT_FALSE(ParseDuration("99999999999999999999d").ok());
  EXPECT_EQ(ParseDuration("9999999999999d").error().message,
            "duration \"9999999999999d\" is too long");
}

TEST(FormatDuration, RoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(milliseconds(86'400'000 * 14LL)), "14d");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  for (const char* s : {"1h30m", "15s", "2d3h", "250ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(s)), s);
  }
}

}  // namespace
}  // namespace drift
