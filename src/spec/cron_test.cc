#include "spec/cron.h"

#include <gtest/gtest.h>

namespace zlayer::spec {
namespace {

TEST(CronSchedule, AcceptsUpstreamExamples) {
  for (const char* text : {"0 0 0 * * * *", "0 */5 * * * * *", "0 0 12 * * MON-FRI *",
                           "*/10 * * * * * *", "0 * * * * * *", "0 0 * * * *",
                           "0 30 9 1,15 JAN-MAR ? 2030", "0 0 0 ? * SUN", "0 0/15 8-17 * * 2-6"}) {
    EXPECT_TRUE(validate_cron_schedule(text)) << text;
  }
}

TEST(CronSchedule, RejectsWithReason) {
  EXPECT_EQ(validate_cron_schedule("0 0 * * *").error().message,
            "expected 6 or 7 fields, seconds first (sec min hour day month weekday [year]), got 5");
  EXPECT_EQ(validate_cron_schedule("60 * * * * *").error().message,
            "field 1 (seconds) value 60 is out of range 0-59");
  EXPECT_EQ(validate_cron_schedule("0 0 25 * * *").error().message,
            "field 3 (hours) value 25 is out of range 0-23");
  EXPECT_EQ(validate_cron_schedule("0 0 0 * * 0").error().message,
            "field 6 (day of week) value 0 is out of range 1-7");
  EXPECT_EQ(validate_cron_schedule("0 */0 * * * *").error().message,
            "field 2 (minutes) has step \"0\", not a positive number");
  EXPECT_EQ(validate_cron_schedule("0 0 0 ? * x").error().message,
            "field 6 (day of week) has \"x\", not a number");
  EXPECT_EQ(validate_cron_schedule("0 5-1 * * * *").error().message,
            "field 2 (minutes) range 5-1 ends before it starts");
  EXPECT_FALSE(validate_cron_schedule("? * * * * *"));
}

}  // namespace
}  // namespace zlayer::spec
