// The agent's event loop (../shared/DESIGN.md §4): one loop thread owns all supervision and
// health state; blocking work (runtime calls, probes, pulls) runs on a BlockingExecutor and posts
// its result back to the loop. Timers come from a TimerQueue on the injected Clock.
// Production: a ThreadPool executor and run() on a thread of its own. Tests: an InlineExecutor and
// a ManualClock, driven by run_until_idle() — every step deterministic, no sleeps.
// post() and stop() may be called from any thread; everything else from the loop thread only.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/timer_queue.h"
#include "core/clock.h"

namespace zlayer::agent {

// Where blocking work runs. submit() may be called from any thread.
class BlockingExecutor {
 public:
  virtual ~BlockingExecutor() = default;
  virtual void submit(std::function<void()> work) = 0;
};

// Runs the work at once on the caller's thread (tests: the loop thread, so order is fixed).
class InlineExecutor final : public BlockingExecutor {
 public:
  void submit(std::function<void()> work) override { work(); }
};

// `threads` workers (≥ 1) taking work first in, first out. The destructor finishes the queued
// work and joins the workers.
class ThreadPool final : public BlockingExecutor {
 public:
  explicit ThreadPool(std::size_t threads);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  void submit(std::function<void()> work) override;

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

class EventLoop {
 public:
  // `clock` and `executor` must outlive the loop.
  EventLoop(const Clock& clock, BlockingExecutor& executor);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  [[nodiscard]] const Clock& clock() const { return timers_.clock(); }

  // Queues `task` to run on the loop thread (any thread; wakes run()).
  void post(std::function<void()> task);
  // Timers (loop thread only); see TimerQueue.
  TimerId schedule_after(Clock::Duration delay, std::function<void()> callback) {
    return timers_.schedule_after(delay, std::move(callback));
  }
  bool cancel(TimerId id) { return timers_.cancel(id); }
  [[nodiscard]] std::size_t pending_timers() const { return timers_.size(); }
  [[nodiscard]] std::optional<Clock::SteadyTime> next_deadline() const {
    return timers_.next_deadline();
  }

  // Runs `work` on the executor and then `done(result)` on the loop thread. `work` must not touch
  // loop-owned state; it gets its inputs by value.
  template <typename T>
  void run_blocking(std::function<T()> work, std::function<void(T)> done) {
    executor_.submit([this, work = std::move(work), done = std::move(done)]() mutable {
      auto result = std::make_shared<T>(work());
      post([done = std::move(done), result]() mutable { done(std::move(*result)); });
    });
  }

  // Runs posted tasks and due timers until neither is ready; returns how many ran. With an
  // InlineExecutor this completes every chain of blocking work too. Loop thread only.
  std::size_t run_until_idle();
  // Runs until stop(): posted tasks at once, timers when clock.now() reaches them. The wait for
  // the next deadline is a real wait (meant for SystemClock).
  void run();
  // Makes run() return after the task it is running (any thread).
  void stop();

 private:
  std::size_t run_posted();

  BlockingExecutor& executor_;
  TimerQueue timers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> posted_;
  bool stop_requested_ = false;
};

}  // namespace zlayer::agent
