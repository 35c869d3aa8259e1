// Keeps SIGPIPE from killing the process while the calling thread writes to a pipe or socket
// whose reader may be gone (a credential helper that exits without reading stdin; OpenSSL writing
// to a socket the server closed — libcurl does not ignore SIGPIPE when CURLOPT_NOSIGNAL is set).
// Thread-local: blocks SIGPIPE in this thread only, so the write fails with EPIPE instead, and
// discards the SIGPIPE it raised when the scope ends. Any thread; not for async-signal context.
#pragma once

#include <signal.h>

namespace zlayer {

class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;  // a SIGPIPE pending before us is not ours to discard
};

}  // namespace zlayer
