#include "core/clock.h"

namespace zlayer {

Clock::SteadyTime SystemClock::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

Clock::WallTime SystemClock::wall_now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

ManualClock::ManualClock(WallTime wall_start) : wall_start_(wall_start) {}

Clock::SteadyTime ManualClock::now() const { return SteadyTime(Duration(elapsed_.load())); }

Clock::WallTime ManualClock::wall_now() const { return wall_start_ + Duration(elapsed_.load()); }

void ManualClock::advance(Duration delta) { elapsed_.fetch_add(delta.count()); }

}  // namespace zlayer
