#include "agent/exit_watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace zlayer::agent {
namespace {

using namespace std::chrono_literals;

// Collects which watches fired, from the watcher thread.
struct Fired {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> tags;

  std::function<void()> callback(int tag) {
    return [this, tag] {
      std::lock_guard lock(mutex);
      tags.push_back(tag);
      changed.notify_all();
    };
  }
  // Waits (bounded, so a bug fails instead of hanging) until `count` callbacks ran.
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, [&] { return tags.size() >= count; });
  }
};

UniqueFd make_eventfd() { return UniqueFd(::eventfd(0, EFD_CLOEXEC)); }

void signal_eventfd(const UniqueFd& fd) {
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(fd.get(), &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
}

TEST(ExitWatcher, FiresOnceWhenTheDescriptorBecomesReadableAndForgetsIt) {
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher) << watcher.error().message;
  Fired fired;
  UniqueFd a = make_eventfd();
  UniqueFd b = make_eventfd();
  UniqueFd a_writer(::dup(a.get()));
  ASSERT_TRUE((*watcher)->watch(std::move(a), fired.callback(1)));
  ASSERT_TRUE((*watcher)->watch(std::move(b), fired.callback(2)));
  EXPECT_EQ((*watcher)->size(), 2U);
  signal_eventfd(a_writer);
  ASSERT_TRUE(fired.wait_for(1));
  // The eventfd stays readable, yet the callback ran once and the watch is gone.
  signal_eventfd(a_writer);
  EXPECT_EQ((*watcher)->size(), 1U);
  std::lock_guard lock(fired.mutex);
  EXPECT_EQ(fired.tags, std::vector<int>{1});
}

TEST(ExitWatcher, AReadableDescriptorFiresAtOnce) {
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher);
  Fired fired;
  ASSERT_TRUE((*watcher)->watch(UniqueFd(::eventfd(1, EFD_CLOEXEC)), fired.callback(7)));
  ASSERT_TRUE(fired.wait_for(1));
  EXPECT_EQ((*watcher)->size(), 0U);
}

TEST(ExitWatcher, CancelledWatchNeverFires) {
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher);
  Fired fired;
  UniqueFd a = make_eventfd();
  UniqueFd a_writer(::dup(a.get()));
  auto id = (*watcher)->watch(std::move(a), fired.callback(1));
  ASSERT_TRUE(id);
  (*watcher)->cancel(*id);
  (*watcher)->cancel(*id);  // twice is fine
  EXPECT_EQ((*watcher)->size(), 0U);
  signal_eventfd(a_writer);
  // A second watch that fires proves the thread ran past the cancelled one's event.
  ASSERT_TRUE((*watcher)->watch(UniqueFd(::eventfd(1, EFD_CLOEXEC)), fired.callback(2)));
  ASSERT_TRUE(fired.wait_for(1));
  std::lock_guard lock(fired.mutex);
  EXPECT_EQ(fired.tags, std::vector<int>{2});
}

TEST(ExitWatcher, APidfdFiresWhenTheProcessEnds) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  if (!pidfd.valid()) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    GTEST_SKIP() << "no pidfd_open on this kernel";
  }
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher);
  Fired fired;
  ASSERT_TRUE((*watcher)->watch(std::move(pidfd), fired.callback(3)));
  EXPECT_EQ((*watcher)->size(), 1U);
  ::kill(child, SIGKILL);
  ASSERT_TRUE(fired.wait_for(1));
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST(ExitWatcher, RejectsAnInvalidDescriptorAndStopsWithWatchesPending) {
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher);
  auto bad = (*watcher)->watch(UniqueFd(), [] {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  Fired fired;
  ASSERT_TRUE((*watcher)->watch(make_eventfd(), fired.callback(1)));
  watcher->reset();  // joins with one watch still waiting, which never fires
  std::lock_guard lock(fired.mutex);
  EXPECT_TRUE(fired.tags.empty());
}

}  // namespace
}  // namespace zlayer::agent
