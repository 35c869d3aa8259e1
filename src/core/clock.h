// Injectable time source. Production code takes a `Clock&`; tests pass a ManualClock and advance
// it, so backoff, probes and cron are tested without sleeping. SystemClock is thread-safe;
// ManualClock is thread-safe too (an atomic time point).
#pragma once

#include <atomic>
#include <chrono>

namespace zlayer {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using SteadyTime = std::chrono::time_point<std::chrono::steady_clock, Duration>;
  using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;

  virtual ~Clock() = default;
  // Monotonic time, for durations and deadlines.
  [[nodiscard]] virtual SteadyTime now() const = 0;
  // Wall-clock time (UTC), for timestamps shown to users and cron schedules.
  [[nodiscard]] virtual WallTime wall_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] SteadyTime now() const override;
  [[nodiscard]] WallTime wall_now() const override;
  // A process-wide instance.
  static SystemClock& instance();
};

// Time only moves when a test calls advance(); wall time moves by the same amounts.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime wall_start = WallTime(std::chrono::seconds(1'700'000'000)));
  [[nodiscard]] SteadyTime now() const override;
  [[nodiscard]] WallTime wall_now() const override;
  void advance(Duration delta);

 private:
  std::atomic<Duration::rep> elapsed_{0};
  WallTime wall_start_;
};

}  // namespace zlayer
