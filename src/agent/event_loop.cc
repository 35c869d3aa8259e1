#include "agent/event_loop.h"

#include <algorithm>

namespace zlayer::agent {

ThreadPool::ThreadPool(std::size_t threads) {
  threads = std::max<std::size_t>(threads, 1);
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    workers_.emplace_back([this] {
      for (;;) {
        std::function<void()> work;
        {
          std::unique_lock lock(mutex_);
          ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          work = std::move(queue_.front());
          queue_.pop_front();
        }
        work();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::submit(std::function<void()> work) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(work));
  }
  ready_.notify_one();
}

EventLoop::EventLoop(const Clock& clock, BlockingExecutor& executor)
    : executor_(executor), timers_(clock) {}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  wake_.notify_one();
}

std::size_t EventLoop::run_posted() {
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(posted_);
  }
  for (auto& task : batch) task();
  return batch.size();
}

std::size_t EventLoop::run_until_idle() {
  std::size_t total = 0;
  for (;;) {
    std::size_t ran = run_posted() + timers_.fire_due();
    if (ran == 0) return total;
    total += ran;
  }
}

void EventLoop::run() {
  for (;;) {
    run_until_idle();
    std::unique_lock lock(mutex_);
    if (stop_requested_) {
      stop_requested_ = false;
      return;
    }
    if (!posted_.empty()) continue;
    auto next = timers_.next_deadline();
    auto ready = [this] { return stop_requested_ || !posted_.empty(); };
    if (!next) {
      wake_.wait(lock, ready);
    } else {
      auto delay = *next - clock().now();
      if (delay > Clock::Duration::zero()) wake_.wait_for(lock, delay, ready);
    }
  }
}

void EventLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  wake_.notify_one();
}

}  // namespace zlayer::agent
