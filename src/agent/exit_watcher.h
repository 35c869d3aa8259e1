// ExitWatcher: one thread that waits (epoll) on the exit descriptors of many containers
// (Runtime::exit_fd: a monitor's pidfd) and runs a callback when one becomes readable. It is how
// the ServiceManager learns that a replica ended without polling the OCI runtime (`crun state`
// per replica per second cost ~7 % of a core with 100 replicas) or parking a thread per replica
// in wait_container. Thread-safe: watch() and cancel() may be called from any thread.
// Design: docs/design.md "Supervision" (exit detection).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/fs.h"

namespace zlayer::agent {

class ExitWatcher {
 public:
  using WatchId = std::uint64_t;  // never 0

  // Starts the watcher thread. Errors: epoll_create1/eventfd's (errno-mapped).
  static Result<std::unique_ptr<ExitWatcher>> open();
  // Stops and joins the thread; callbacks that have not run are dropped, descriptors closed.
  ~ExitWatcher();
  ExitWatcher(const ExitWatcher&) = delete;
  ExitWatcher& operator=(const ExitWatcher&) = delete;

  // Takes ownership of `fd` and calls `fired` once, on the watcher thread, when `fd` becomes
  // readable (POLLIN, or an error/hang-up on it), then closes `fd`. `fired` must be quick and
  // must not call back into the watcher (post to an event loop). Errors: kInvalidArgument (an
  // invalid fd), epoll_ctl's (errno-mapped); `fd` is closed on error.
  Result<WatchId> watch(UniqueFd fd, std::function<void()> fired);
  // Forgets watch `id` and closes its descriptor. Once cancel() returns, its callback is not
  // running and will not run. An unknown or already fired id is fine.
  void cancel(WatchId id);
  // Watches still waiting (for tests and leak checks).
  [[nodiscard]] std::size_t size() const;

 private:
  struct Watch {
    UniqueFd fd;
    std::function<void()> fired;
  };
  ExitWatcher(UniqueFd epoll, UniqueFd wake);
  void run();

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd, epoll data 0: stop
  mutable std::mutex mutex_;  // guards watches_ and next_id_; held while a callback runs
  std::map<WatchId, Watch> watches_;
  WatchId next_id_ = 1;
  std::thread thread_;
};

}  // namespace zlayer::agent
