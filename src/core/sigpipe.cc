#include "core/sigpipe.h"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace zlayer {
namespace {

sigset_t sigpipe_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}

}  // namespace

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigset_t pending;
  sigemptyset(&pending);
  if (::sigpending(&pending) == 0) was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  sigset_t set = sigpipe_set();
  pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (!was_pending_ && sigismember(&old_mask_, SIGPIPE) != 1) {
    // A SIGPIPE raised by a write in this thread is pending for this thread: take it.
    sigset_t set = sigpipe_set();
    timespec zero{0, 0};
    int saved_errno = errno;
    for (;;) {
      int sig = ::sigtimedwait(&set, nullptr, &zero);
      if (sig == SIGPIPE || (sig < 0 && errno == EINTR)) continue;
      break;  // EAGAIN: nothing (more) pending
    }
    errno = saved_errno;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace zlayer
