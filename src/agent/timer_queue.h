// A timer queue driven by an injectable Clock (core/clock.h): callbacks fire when a caller asks it
// to fire what is due, never on a thread of their own, so supervision, probes and backoff run
// deterministically under a ManualClock in tests (advance, then fire_due). Owned by the event
// loop (agent/event_loop.h); not thread-safe — only the loop thread may call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/clock.h"

namespace zlayer::agent {

// 0 is never a valid id, so a default-initialised TimerId means "no timer".
using TimerId = std::uint64_t;

class TimerQueue {
 public:
  explicit TimerQueue(const Clock& clock) : clock_(clock) {}
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Schedules `callback` at `deadline` (monotonic clock). Returns its id (> 0).
  TimerId schedule_at(Clock::SteadyTime deadline, std::function<void()> callback);
  // Schedules `callback` `delay` after clock.now(); a delay ≤ 0 is due at once.
  TimerId schedule_after(Clock::Duration delay, std::function<void()> callback);
  // Cancels a pending timer. Returns false when it already fired, was cancelled, or is 0.
  bool cancel(TimerId id);

  // The earliest pending deadline, none when the queue is empty.
  [[nodiscard]] std::optional<Clock::SteadyTime> next_deadline() const;
  // Fires every timer whose deadline is ≤ clock.now(), earliest first (equal deadlines in the
  // order they were scheduled). Timers that callbacks schedule and that are already due fire in
  // the same call. Returns how many fired.
  std::size_t fire_due();
  [[nodiscard]] std::size_t size() const { return timers_.size(); }
  [[nodiscard]] const Clock& clock() const { return clock_; }

 private:
  using Key = std::pair<Clock::SteadyTime, TimerId>;
  const Clock& clock_;
  TimerId next_id_ = 1;
  std::map<Key, std::function<void()>> timers_;
  std::unordered_map<TimerId, Clock::SteadyTime> deadlines_;
};

}  // namespace zlayer::agent
