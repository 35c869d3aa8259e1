#include "core/time_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zlayer {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

Clock::WallTime at(std::int64_t unix_seconds, std::int64_t nanos = 0) {
  return Clock::WallTime(seconds(unix_seconds) + nanoseconds(nanos));
}

TEST(FormatRfc3339Nano, FixedWidthUtc) {
  EXPECT_EQ(format_rfc3339_nano(at(0)), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339_nano(at(1'700'000'000, 5)), "2023-11-14T22:13:20.000000005Z");
  // 2026-11-30T02:18:25Z, the example of the log format.
  EXPECT_EQ(format_rfc3339_nano(at(1'796'005'105, 123'456'789)), "2026-11-30T02:18:25.123456789Z");
  EXPECT_EQ(format_rfc3339_nano(at(951'782'400)), "2000-02-29T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339_nano(at(1'700'000'000)).size(), kRfc3339NanoSize);
}

TEST(FormatRfc3339Nano, BeforeEpochFloors) {
  EXPECT_EQ(format_rfc3339_nano(Clock::WallTime(nanoseconds(-1))),
            "1969-12-31T23:59:59.999999999Z");
}

TEST(FormatRfc3339Nano, CachingFormatterCrossesSeconds) {
  Rfc3339NanoFormatter formatter;
  EXPECT_EQ(formatter.format(at(1'700'000'000, 1)), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(formatter.format(at(1'700'000'000, 999'999'999)), "2023-11-14T22:13:20.999999999Z");
  EXPECT_EQ(formatter.format(at(1'700'000'001)), "2023-11-14T22:13:21.000000000Z");
  EXPECT_EQ(formatter.format(at(1'700'000'000)), "2023-11-14T22:13:20.000000000Z");
}

TEST(ParseRfc3339, Variants) {
  EXPECT_EQ(*parse_rfc3339("2023-11-14T22:13:20Z"), at(1'700'000'000));
  EXPECT_EQ(*parse_rfc3339("2023-11-14t22:13:20z"), at(1'700'000'000));
  EXPECT_EQ(*parse_rfc3339("2023-11-14T22:13:20.5Z"), at(1'700'000'000, 500'000'000));
  EXPECT_EQ(*parse_rfc3339("2023-11-14T22:13:20.123456789Z"), at(1'700'000'000, 123'456'789));
  // Digits beyond nanoseconds are truncated, as Go does.
  EXPECT_EQ(*parse_rfc3339("2023-11-14T22:13:20.1234567891Z"), at(1'700'000'000, 123'456'789));
  EXPECT_EQ(*parse_rfc3339("2023-11-15T00:13:20+02:00"), at(1'700'000'000));
  EXPECT_EQ(*parse_rfc3339("2023-11-14T17:43:20.25-04:30"), at(1'700'000'000, 250'000'000));
  EXPECT_EQ(*parse_rfc3339("1969-12-31T23:59:59.999999999Z"), Clock::WallTime(nanoseconds(-1)));
}

TEST(ParseRfc3339, RoundTripsFormat) {
  for (auto t : {at(0), at(1'796'005'105, 123'456'789), at(4'102'444'799, 999'999'999)}) {
    EXPECT_EQ(*parse_rfc3339(format_rfc3339_nano(t)), t);
  }
}

TEST(ParseRfc3339, BadInputsSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "expected a 4-digit year"},
           Case{"2023/11/14T22:13:20Z", "expected the date as YYYY-MM-DD"},
           Case{"2023-11-14", "expected 'T' and a time of day"},
           Case{"2023-11-14T22:13Z", "expected the time of day as HH:MM:SS"},
           Case{"2023-11-14T22:13:20", "expected 'Z' or a +hh:mm/-hh:mm offset"},
           Case{"2023-11-14T22:13:20.Z", "expected digits after the '.'"},
           Case{"2023-11-14T22:13:20+0200", "expected the offset as +hh:mm"},
           Case{"2023-11-14T22:13:20Zjunk", "unexpected \"junk\" after the offset"},
           Case{"2023-13-14T22:13:20Z", "month 13 out of range"},
           Case{"2023-02-29T22:13:20Z", "day 29 does not exist in 2023-02"},
           Case{"2023-11-14T24:00:00Z", "time of day out of range"},
           Case{"2023-11-14T23:59:60Z", "time of day out of range"},
           Case{"2300-01-01T00:00:00Z", "outside the years 1677-2262"},
       }) {
    auto result = parse_rfc3339(c.text);
    ASSERT_FALSE(result) << c.text;
    EXPECT_EQ(result.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(result.error().message, HasSubstr(c.message)) << c.text;
    EXPECT_THAT(result.error().message, HasSubstr(fmt::format("\"{}\"", c.text)));
  }
}

TEST(ParseDuration, GoSyntax) {
  EXPECT_EQ(*parse_duration("0"), nanoseconds(0));
  EXPECT_EQ(*parse_duration("10m"), minutes(10));
  EXPECT_EQ(*parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(*parse_duration("45s"), seconds(45));
  EXPECT_EQ(*parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(*parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*parse_duration(".5s"), milliseconds(500));
  EXPECT_EQ(*parse_duration("1.s"), seconds(1));
  EXPECT_EQ(*parse_duration("2us"), microseconds(2));
  EXPECT_EQ(*parse_duration("2\xC2\xB5s"), microseconds(2));
  EXPECT_EQ(*parse_duration("2\xCE\xBCs"), microseconds(2));
  EXPECT_EQ(*parse_duration("7ns"), nanoseconds(7));
  EXPECT_EQ(
      *parse_duration("1h1m1s1ms1us1ns"),
      hours(1) + minutes(1) + seconds(1) + milliseconds(1) + microseconds(1) + nanoseconds(1));
  EXPECT_EQ(*parse_duration("-1.5h"), -minutes(90));
  EXPECT_EQ(*parse_duration("+5s"), seconds(5));
  // Fractions are exact, not rounded through a double.
  EXPECT_EQ(*parse_duration("0.000000001s"), nanoseconds(1));
  EXPECT_EQ(*parse_duration("1.000000001h"), hours(1) + nanoseconds(3600));
  EXPECT_EQ(*parse_duration("2562047h47m16.854775807s"), nanoseconds(INT64_MAX));
  EXPECT_EQ(*parse_duration("-2562047h47m16.854775808s"), nanoseconds(INT64_MIN));
}

TEST(ParseDuration, BadInputsSayWhatIsExpected) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"", "expected a number with a unit"},
           Case{"-", "expected a number with a unit"},
           Case{"10", "missing unit"},
           Case{"1h30", "missing unit"},
           Case{"5x", "unknown unit \"x\""},
           Case{"5 s", "unknown unit \" s\""},
           Case{"h", "expected a number at \"h\""},
           Case{".s", "expected a number at \"s\""},
           Case{"2562047h47m16.854775808s", "out of range"},
           Case{"99999999999999999999h", "out of range"},
       }) {
    auto result = parse_duration(c.text);
    ASSERT_FALSE(result) << c.text;
    EXPECT_EQ(result.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(result.error().message, HasSubstr(fmt::format("invalid duration \"{}\"", c.text)));
    EXPECT_THAT(result.error().message, HasSubstr(c.message)) << c.text;
  }
  EXPECT_THAT(parse_duration("5x").error().message, HasSubstr("expected ns, us, \xC2\xB5s, ms"));
}

TEST(ParseUnixSeconds, WholeAndFractional) {
  EXPECT_EQ(*parse_unix_seconds("1700000000"), at(1'700'000'000));
  EXPECT_EQ(*parse_unix_seconds("1700000000.25"), at(1'700'000'000, 250'000'000));
  EXPECT_EQ(*parse_unix_seconds("1700000000.000000001"), at(1'700'000'000, 1));
  EXPECT_FALSE(parse_unix_seconds("1700000000.0000000001"));
  EXPECT_FALSE(parse_unix_seconds("-5"));
  EXPECT_FALSE(parse_unix_seconds("12a"));
  EXPECT_FALSE(parse_unix_seconds("99999999999"));
}

TEST(ParseTimeOrDuration, DockerForms) {
  const Clock::WallTime now = at(1'700'000'000);
  EXPECT_EQ(*parse_time_or_duration("10m", now), now - minutes(10));
  EXPECT_EQ(*parse_time_or_duration("1h30m", now), now - minutes(90));
  EXPECT_EQ(*parse_time_or_duration("-5s", now), now + seconds(5));
  EXPECT_EQ(*parse_time_or_duration("0", now), at(0));
  EXPECT_EQ(*parse_time_or_duration("1699999000", now), at(1'699'999'000));
  EXPECT_EQ(*parse_time_or_duration("1699999000.5", now), at(1'699'999'000, 500'000'000));
  EXPECT_EQ(*parse_time_or_duration("2023-11-14T22:13:20.5Z", now), at(1'700'000'000, 500'000'000));
  EXPECT_EQ(*parse_time_or_duration("2023-11-14T23:13:20+01:00", now), at(1'700'000'000));
}

TEST(ParseTimeOrDuration, BadInputsNameTheForms) {
  const Clock::WallTime now = at(1'700'000'000);
  auto empty = parse_time_or_duration("", now);
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("expected a duration before now"));

  auto word = parse_time_or_duration("yesterday", now);
  ASSERT_FALSE(word);
  EXPECT_EQ(word.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(word.error().message, HasSubstr("\"yesterday\" is not a time"));
  EXPECT_THAT(word.error().message, HasSubstr("RFC 3339"));
  EXPECT_THAT(word.error().message, HasSubstr("Unix seconds"));

  auto unit = parse_time_or_duration("10x", now);
  ASSERT_FALSE(unit);
  EXPECT_THAT(unit.error().message, HasSubstr("unknown unit \"x\""));

  // A date without an offset would be local time in Docker; we refuse rather than guess.
  auto local = parse_time_or_duration("2023-11-14T22:13:20", now);
  ASSERT_FALSE(local);
  EXPECT_THAT(local.error().message, HasSubstr("expected 'Z' or a +hh:mm/-hh:mm offset"));

  auto dots = parse_time_or_duration("1.2.3", now);
  ASSERT_FALSE(dots);
  EXPECT_THAT(dots.error().message, HasSubstr("not Unix seconds"));
}

}  // namespace
}  // namespace zlayer
