#include "common/rfc3339.h"

#include <gtest/gtest.h>

namespace drift {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

WallTime At(std::int64_t unix_seconds) { return WallTime(seconds(unix_seconds)); }

std::string ErrorOf(std::string_view text) {
  Result<WallTime> r = ParseRfc3339(text);
  return r.ok() ? "no error" : r.error().message;
}

TEST(Rfc3339, ParsesUtcAndOffsets) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), At(0));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20Z"), At(1'700'000'000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14t22:13:20z"), At(1'700'000'000));
  EXPECT_EQ(*ParseRfc3339("2023-11-15T00:13:20+02:00"), At(1'700'000'000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T17:43:20-04:30"), At(1'700'000'000));
  EXPECT_EQ(*ParseRfc3339("2023-11-14T22:13:20-00:00"), At(1'700'000'000));
}

TEST(Rfc3339, ParsesLeapDaysAndEraBoundaries) {
  EXPECT_EQ(*ParseRfc3339("2000-02-29T00:00:00Z"), At(951'782'400));
  EXPECT_EQ(*ParseRfc3339("2024-02-29T12:00:00Z"), At(1'709'208'000));
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59Z"), At(-1));
  EXPECT_EQ(*ParseRfc3339("1900-03-01T00:00:00Z"), At(-2'203'891'200));
  EXPECT_EQ(*ParseRfc3339("2100-03-01T00:00:00Z"), At(4'107'542'400));
}

TEST(Rfc3339, ParsesFractions) {
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:01.5Z"), At(1) + milliseconds(500));
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00.000000001Z"),
            WallTime(std::chrono::duration_cast<WallTime::duration>(nanoseconds(1))));
  // Digits beyond nanoseconds are dropped, not rounded.
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00.1234567899Z"),
            WallTime(std::chrono::duration_cast<WallTime::duration>(nanoseconds(123'456'789))));
}

TEST(Rfc3339, RejectsMalformedText) {
  const std::string shape =
      ": expected YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or an offset like +02:00";
  EXPECT_EQ(ErrorOf(""), "invalid RFC 3339 timestamp \"\"" + shape);
  EXPECT_EQ(ErrorOf("2024-01-01"), "invalid RFC 3339 timestamp \"2024-01-01\"" + shape);
  EXPECT_EQ(ErrorOf("2024-01-01 00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-01-01 00:00:00Z\"" + shape);
  EXPECT_EQ(ErrorOf("2024/01/01T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024/01/01T00:00:00Z\"" + shape);
  EXPECT_EQ(ErrorOf("24-01-01T00:00:00Z"),
            "invalid RFC 3339 timestamp \"24-01-01T00:00:00Z\"" + shape);
  EXPECT_EQ(ErrorOf("2024-01-01T0:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-01-01T0:00:00Z\"" + shape);
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00\": missing time zone; expected Z "
            "or an offset like +02:00");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00UTC"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00UTC\": missing time zone; expected "
            "Z or an offset like +02:00");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00.Z"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00.Z\": expected digits after the "
            "decimal point");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00+0200"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00+0200\": expected a time zone "
            "offset like +02:00");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00+02"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00+02\": expected a time zone offset "
            "like +02:00");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00Zjunk"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00Zjunk\": unexpected \"junk\" after "
            "the time zone");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00+02:00 "),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00+02:00 \": unexpected \" \" after "
            "the time zone");
}

TEST(Rfc3339, RejectsOutOfRangeFields) {
  EXPECT_EQ(ErrorOf("2024-13-01T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-13-01T00:00:00Z\": month 13 out of range");
  EXPECT_EQ(ErrorOf("2024-00-01T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-00-01T00:00:00Z\": month 0 out of range");
  EXPECT_EQ(ErrorOf("2024-04-31T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-04-31T00:00:00Z\": day 31 out of range for "
            "2024-04");
  EXPECT_EQ(ErrorOf("2023-02-29T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2023-02-29T00:00:00Z\": day 29 out of range for "
            "2023-02");
  EXPECT_EQ(ErrorOf("1900-02-29T00:00:00Z"),
            "invalid RFC 3339 timestamp \"1900-02-29T00:00:00Z\": day 29 out of range for "
            "1900-02");
  EXPECT_EQ(ErrorOf("2024-01-00T00:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-01-00T00:00:00Z\": day 0 out of range for 2024-01");
  EXPECT_EQ(ErrorOf("2024-01-01T24:00:00Z"),
            "invalid RFC 3339 timestamp \"2024-01-01T24:00:00Z\": hour 24 out of range");
  EXPECT_EQ(ErrorOf("2024-01-01T00:60:00Z"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:60:00Z\": minute 60 out of range");
  EXPECT_EQ(ErrorOf("2016-12-31T23:59:60Z"),
            "invalid RFC 3339 timestamp \"2016-12-31T23:59:60Z\": second 60 out of range");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00+24:00"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00+24:00\": time zone offset out of "
            "range");
  EXPECT_EQ(ErrorOf("2024-01-01T00:00:00-01:60"),
            "invalid RFC 3339 timestamp \"2024-01-01T00:00:00-01:60\": time zone offset out of "
            "range");
}

TEST(Rfc3339, RejectsTimesTheClockCannotHold) {
  EXPECT_EQ(ErrorOf("0001-01-01T00:00:00Z"),
            "invalid RFC 3339 timestamp \"0001-01-01T00:00:00Z\": outside the range of times "
            "this system can represent");
  EXPECT_EQ(ErrorOf("9999-12-31T23:59:59Z"),
            "invalid RFC 3339 timestamp \"9999-12-31T23:59:59Z\": outside the range of times "
            "this system can represent");
}

TEST(Rfc3339, QuotesLongInputShort) {
  std::string long_text(100, 'x');
  EXPECT_EQ(ErrorOf(long_text), "invalid RFC 3339 timestamp \"" + std::string(64, 'x') +
                                    "\"...: expected YYYY-MM-DDTHH:MM:SS[.fraction] followed by "
                                    "Z or an offset like +02:00");
}

TEST(Rfc3339, FormatsUtcWithMillisecondsOnlyWhenPresent) {
  EXPECT_EQ(FormatRfc3339(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(1'700'000'000)), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatRfc3339(At(1'709'208'000)), "2024-02-29T12:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(1'700'000'000) + milliseconds(250)), "2023-11-14T22:13:20.250Z");
  EXPECT_EQ(FormatRfc3339(At(1'700'000'000) + std::chrono::microseconds(999)),
            "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatRfc3339(At(-1)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(At(-1) + milliseconds(1)), "1969-12-31T23:59:59.001Z");
  EXPECT_EQ(FormatRfc3339(At(-2'203'891'200)), "1900-03-01T00:00:00Z");
}

TEST(Rfc3339, FormatThenParseRoundTripsEveryDayOfACentury) {
  for (std::int64_t day = -25'000; day < 25'000; day += 7) {
    WallTime t = At(day * 86'400 + 3723) + milliseconds((day % 1000 + 1000) % 1000);
    std::string text = FormatRfc3339(t);
    Result<WallTime> back = ParseRfc3339(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.error().message;
    EXPECT_EQ(*back, t) << text;
  }
}

}  // namespace
}  // namespace drift
