#include "core/clock.h"

#include <gtest/gtest.h>

namespace zlayer {
namespace {

using namespace std::chrono_literals;

TEST(ManualClock, MovesOnlyWhenAdvanced) {
  ManualClock clock;
  auto t0 = clock.now();
  auto w0 = clock.wall_now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(10s);
  EXPECT_EQ(clock.now() - t0, 10s);
  EXPECT_EQ(clock.wall_now() - w0, 10s);
}

TEST(SystemClock, IsMonotonic) {
  auto& clock = SystemClock::instance();
  auto a = clock.now();
  auto b = clock.now();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace zlayer
