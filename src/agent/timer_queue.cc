#include "agent/timer_queue.h"

namespace zlayer::agent {

TimerId TimerQueue::schedule_at(Clock::SteadyTime deadline, std::function<void()> callback) {
  TimerId id = next_id_++;
  timers_.emplace(Key{deadline, id}, std::move(callback));
  deadlines_.emplace(id, deadline);
  return id;
}

TimerId TimerQueue::schedule_after(Clock::Duration delay, std::function<void()> callback) {
  return schedule_at(clock_.now() + delay, std::move(callback));
}

bool TimerQueue::cancel(TimerId id) {
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return false;
  timers_.erase(Key{it->second, id});
  deadlines_.erase(it);
  return true;
}

std::optional<Clock::SteadyTime> TimerQueue::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

std::size_t TimerQueue::fire_due() {
  std::size_t fired = 0;
  while (!timers_.empty()) {
    auto first = timers_.begin();
    if (first->first.first > clock_.now()) break;
    std::function<void()> callback = std::move(first->second);
    deadlines_.erase(first->first.second);
    timers_.erase(first);
    ++fired;
    // The timer is gone before its callback runs, so the callback may cancel or reschedule freely.
    callback();
  }
  return fired;
}

}  // namespace zlayer::agent
