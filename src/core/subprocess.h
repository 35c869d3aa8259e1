// Runs a child process to completion with posix_spawn, feeding it stdin and capturing stdout and
// stderr (used for credential helpers, OCI runtimes and test tools). Blocking; callable from any
// thread. Descriptors other than 0-2 are not inherited (O_CLOEXEC everywhere).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace zlayer {

struct SubprocessResult {
  int exit_code = -1;  // the child's exit code, or 128+signal when a signal ended it
  int signal = 0;      // terminating signal, 0 when it exited normally
  std::string out;     // everything written to stdout
  std::string err;     // everything written to stderr
};

struct SubprocessOptions {
  std::string input;  // written to the child's stdin, then closed
  std::optional<std::map<std::string, std::string>> env;  // replaces the environment when set
  std::chrono::milliseconds timeout{0};  // 0 = none; on expiry SIGKILL + kDeadlineExceeded
};

// argv[0] is looked up in PATH. Errors: kNotFound when the program does not exist,
// kDeadlineExceeded on timeout, errno-mapped others. A non-zero exit is not an error: check
// exit_code.
Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const SubprocessOptions& options = {});

}  // namespace zlayer
