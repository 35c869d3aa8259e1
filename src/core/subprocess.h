// Starting child processes: run_subprocess runs one to completion, feeding it stdin and capturing
// (or streaming) stdout and stderr (credential helpers, OCI runtimes, test tools); spawn_process
// starts one with given descriptors and returns its pid (the container monitor, `crun create`).
// Both are callable from any thread. Descriptors other than 0-2 are not inherited unless asked
// for (O_CLOEXEC everywhere).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
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

// Runs in the child between fork and exec, after its descriptors are in place (e.g. entering a
// private mount namespace before exec'ing crun). The process that forked may be multithreaded, so
// it must make async-signal-safe calls only (raw system calls; no malloc, no locks, no logging).
// Returns 0, or an errno value that makes the spawn fail with that errno (the child exits 127).
using ChildSetup = int (*)();

// Receives output as it arrives, in arbitrary chunks.
using OutputCallback = std::function<void(std::string_view)>;

struct SubprocessOptions {
  std::string input;  // written to the child's stdin, then closed
  std::optional<std::map<std::string, std::string>> env;  // replaces the environment when set
  std::chrono::milliseconds timeout{0};  // 0 = none; on expiry SIGKILL + kDeadlineExceeded
  ChildSetup child_setup = nullptr;      // see ChildSetup; forces fork+exec
  // When set, stdout/stderr bytes go to the callback (on the calling thread) instead of
  // SubprocessResult::out/err.
  OutputCallback on_stdout;
  OutputCallback on_stderr;
};

// argv[0] is looked up in PATH. Errors: kNotFound when the program does not exist,
// kDeadlineExceeded on timeout, errno-mapped others. A non-zero exit is not an error: check
// exit_code.
Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const SubprocessOptions& options = {});

struct SpawnOptions {
  // Descriptors that become the child's 0, 1, 2; -1 = /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Further descriptors the child inherits under the same numbers (their O_CLOEXEC is cleared in
  // the child only). Numbers must be > 2.
  std::vector<int> inherit_fds;
  std::optional<std::map<std::string, std::string>> env;  // replaces the environment when set
  bool new_session = false;          // setsid() in the child: no controlling terminal, own group
  ChildSetup child_setup = nullptr;  // see ChildSetup
};

// Starts argv[0] (looked up in PATH unless it contains '/') and returns its pid; the caller must
// reap it (waitpid). Signal mask and dispositions are reset to defaults in the child. posix_spawn
// is used unless child_setup is set (then fork + exec).
// Errors: kNotFound when the program does not exist, kInvalidArgument (empty argv, an inherited
// descriptor ≤ 2), the errno of a failed exec or child_setup (errno-mapped, naming the program).
Result<pid_t> spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options);

// The path execve would run for `program`: itself when it contains '/', else the first
// executable regular file named `program` in $PATH. Errors: kNotFound naming the program.
Result<std::string> find_program(std::string_view program);

// waitpid(pid) until it ends (retrying EINTR); returns {exit_code or 128+signal, signal}.
// Errors: errno-mapped (ECHILD when `pid` is not our child).
Result<SubprocessResult> wait_process(pid_t pid);

// When process `pid` started, in clock ticks after boot (/proc/<pid>/stat field 22). A pid plus
// its start time names one process for good: a recycled pid has a later start time, so records
// that outlive their owner (state.db rows) store both. Errors: kNotFound when no such process
// exists, kInternal when the stat line cannot be parsed.
Result<std::uint64_t> process_start_time(pid_t pid);

}  // namespace zlayer
