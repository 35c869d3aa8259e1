#include "agent/exit_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace zlayer::agent {

Result<std::unique_ptr<ExitWatcher>> ExitWatcher::open() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.valid()) return sys_error("epoll_create1 for the exit watcher", errno);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return sys_error("eventfd for the exit watcher", errno);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) {
    return sys_error("epoll_ctl(ADD) of the exit watcher's wake fd", errno);
  }
  return std::unique_ptr<ExitWatcher>(new ExitWatcher(std::move(epoll), std::move(wake)));
}

ExitWatcher::ExitWatcher(UniqueFd epoll, UniqueFd wake)
    : epoll_(std::move(epoll)), wake_(std::move(wake)) {
  thread_ = std::thread([this] { run(); });
}

ExitWatcher::~ExitWatcher() {
  const std::uint64_t one = 1;
  while (::write(wake_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread_.join();
}

Result<ExitWatcher::WatchId> ExitWatcher::watch(UniqueFd fd, std::function<void()> fired) {
  if (!fd.valid()) return errorf(Errc::kInvalidArgument, "exit watcher: invalid descriptor");
  std::lock_guard lock(mutex_);
  WatchId id = next_id_++;
  epoll_event event{};
  // One-shot: a pidfd stays readable after the process ended; it must fire once only.
  event.events = EPOLLIN | EPOLLONESHOT;
  event.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0) {
    return sys_error("epoll_ctl(ADD) of an exit descriptor", errno);
  }
  watches_.emplace(id, Watch{std::move(fd), std::move(fired)});
  return id;
}

void ExitWatcher::cancel(WatchId id) {
  std::lock_guard lock(mutex_);
  // Closing the last reference to the descriptor removes it from the epoll set.
  watches_.erase(id);
}

std::size_t ExitWatcher::size() const {
  std::lock_guard lock(mutex_);
  return watches_.size();
}

void ExitWatcher::run() {
  std::array<epoll_event, 64> events{};
  while (true) {
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EBADF/EINVAL cannot happen with our own descriptor
    }
    for (int i = 0; i < n; ++i) {
      WatchId id = events[static_cast<std::size_t>(i)].data.u64;
      if (id == 0) return;  // the destructor's wake-up
      std::lock_guard lock(mutex_);
      auto it = watches_.find(id);
      if (it == watches_.end()) continue;  // cancelled after the event was queued
      Watch watch = std::move(it->second);
      watches_.erase(it);
      // Under the lock, so cancel() returning means the callback is not running.
      watch.fired();
    }
  }
}

}  // namespace zlayer::agent
