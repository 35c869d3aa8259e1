#include "agent/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace zlayer::agent {
namespace {

using std::chrono::seconds;

TEST(TimerQueue, FiresDueTimersInDeadlineOrderAndSkipsCancelled) {
  ManualClock clock;
  TimerQueue timers(clock);
  std::vector<std::string> fired;
  timers.schedule_after(seconds(3), [&] { fired.push_back("c"); });
  TimerId b = timers.schedule_after(seconds(2), [&] { fired.push_back("b"); });
  timers.schedule_after(seconds(1), [&] { fired.push_back("a1"); });
  timers.schedule_after(seconds(1), [&] { fired.push_back("a2"); });
  EXPECT_EQ(timers.fire_due(), 0u);
  EXPECT_TRUE(timers.cancel(b));
  EXPECT_FALSE(timers.cancel(b));
  EXPECT_FALSE(timers.cancel(0));
  clock.advance(seconds(2));
  EXPECT_EQ(timers.fire_due(), 2u);
  EXPECT_EQ(fired, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(timers.next_deadline(), clock.now() + seconds(1));
  clock.advance(seconds(5));
  EXPECT_EQ(timers.fire_due(), 1u);
  EXPECT_EQ(fired.back(), "c");
  EXPECT_FALSE(timers.next_deadline().has_value());
}

TEST(TimerQueue, CallbacksMayScheduleAndCancel) {
  ManualClock clock;
  TimerQueue timers(clock);
  int count = 0;
  TimerId later = 0;
  timers.schedule_after(seconds(1), [&] {
    ++count;
    timers.schedule_after(seconds(0), [&] { ++count; });  // due now: same fire_due call
    timers.cancel(later);
  });
  later = timers.schedule_after(seconds(1), [&] { count += 100; });
  clock.advance(seconds(1));
  EXPECT_EQ(timers.fire_due(), 2u);
  EXPECT_EQ(count, 2);
  EXPECT_EQ(timers.size(), 0u);
}

TEST(EventLoop, RunUntilIdleCompletesBlockingChainsInline) {
  ManualClock clock;
  InlineExecutor executor;
  EventLoop loop(clock, executor);
  std::vector<int> order;
  loop.post([&] {
    order.push_back(1);
    loop.run_blocking<int>([] { return 41; },
                           [&](int v) {
                             order.push_back(v + 1);
                             loop.schedule_after(seconds(5), [&] { order.push_back(3); });
                           });
  });
  loop.run_until_idle();
  EXPECT_EQ(order, (std::vector<int>{1, 42}));
  clock.advance(seconds(5));
  loop.run_until_idle();
  EXPECT_EQ(order, (std::vector<int>{1, 42, 3}));
}

TEST(EventLoop, RunOnAThreadWithAPoolAndSystemClock) {
  ThreadPool pool(2);
  EventLoop loop(SystemClock::instance(), pool);
  std::atomic<int> result{0};
  std::thread runner([&] { loop.run(); });
  loop.post([&] {
    loop.run_blocking<int>([] { return 7; },
                           [&](int v) {
                             loop.schedule_after(std::chrono::milliseconds(1), [&, v] {
                               result = v;
                               loop.stop();
                             });
                           });
  });
  runner.join();
  EXPECT_EQ(result.load(), 7);
}

}  // namespace
}  // namespace zlayer::agent
