// The value types of the Runtime interface that every backend implements (Linux containers through
// an OCI runtime, WASM modules in-process, Docker Engine): container state, exit status, log/exec
// options, stats — and the abstract `Runtime` class that joins them. The value types are
// thread-safe; each backend documents which threads may call it.
// Source: the seed's `Runtime` trait (../shared/DESIGN.md §2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/container_id.h"
#include "core/error.h"
#include "core/fs.h"
#include "runtime/container_config.h"

namespace zlayer::runtime {

// How a process ended: its own exit code, or the signal that killed it (exit_code = 128 + n, as
// shells and Docker report it), and whether the kernel's OOM killer did it.
struct ExitStatus {
  int exit_code = 0;
  int signal = 0;  // 0 when the process exited normally
  bool oom_killed = false;
  Clock::WallTime finished_at{};

  static ExitStatus exited(int code) { return ExitStatus{code, 0, false, {}}; }
  static ExitStatus killed_by(int signal) { return ExitStatus{128 + signal, signal, false, {}}; }
  [[nodiscard]] bool success() const { return exit_code == 0 && signal == 0 && !oom_killed; }
  // "exit code 3", "killed by SIGKILL (exit code 137)", "OOM-killed (exit code 137)".
  [[nodiscard]] std::string describe() const;
  bool operator==(const ExitStatus&) const = default;
};

// "SIGTERM" for 15, "SIGRTMIN+n" for real-time signals, "SIG<n>" for numbers without a name.
std::string signal_name(int signal);
// Parses "SIGTERM", "TERM", "term", "15", "SIGRTMIN+3", "SIGRTMAX-1" (signal(7) names).
// Errors: kInvalidArgument quoting `text`.
Result<int> parse_signal(std::string_view text);

// What the runtime knows about one container. Service-level states (crash_loop_backoff, healthy)
// belong to the supervisor, not here.
struct ContainerState {
  enum class Phase {
    kPending,
    kCreated,
    kInitializing,
    kRunning,
    kPaused,
    kStopping,
    kExited,
    kFailed
  };
  Phase phase = Phase::kPending;
  std::optional<ExitStatus> exit;  // set for kExited
  std::string reason;              // set for kFailed ("agent exited", "trap: out of bounds", …)
  int restart_count = 0;           // restarts by the container's own restart policy so far

  [[nodiscard]] std::string_view phase_name() const;  // "running", "exited", …
  // Lifecycle rules as predicates (youki's style): what the state allows.
  [[nodiscard]] bool can_start() const { return phase == Phase::kCreated; }
  [[nodiscard]] bool can_stop() const {
    return phase == Phase::kRunning || phase == Phase::kPaused || phase == Phase::kInitializing;
  }
  [[nodiscard]] bool can_pause() const { return phase == Phase::kRunning; }
  [[nodiscard]] bool can_unpause() const { return phase == Phase::kPaused; }
  [[nodiscard]] bool is_finished() const {
    return phase == Phase::kExited || phase == Phase::kFailed;
  }
};

enum class LogStreams { kBoth, kStdout, kStderr };

struct LogOptions {
  std::int64_t tail = -1;                // last N lines; -1 = all
  std::optional<Clock::WallTime> since;  // only records at or after this time
  std::optional<Clock::WallTime> until;
  bool follow = false;      // keep reading until the container exits
  bool timestamps = false;  // prefix each line with its RFC 3339 time
  LogStreams streams = LogStreams::kBoth;
};

struct ExecOptions {
  std::vector<std::string> command;  // argv; argv[0] looked up in the container's PATH
  std::vector<std::string> env;      // "KEY=value", added to the container's environment
  std::string working_dir;           // empty = the container's
  std::string user;                  // empty = the container's; "name", "uid[:gid]"
  bool tty = false;
  // 0 = none. Otherwise the backend kills the exec'd process once it has run this long and the
  // call returns kDeadlineExceeded (health-check commands, Docker's HEALTHCHECK --timeout).
  std::chrono::milliseconds timeout{0};
};

// Buffered exec result. exit_code 126 = cannot invoke, 127 = not found (Docker's conventions).
struct ExecResult {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

struct ContainerStats {
  std::uint64_t cpu_ns = 0;                         // CPU time used, nanoseconds
  std::uint64_t memory_bytes = 0;                   // current usage (WASM: linear memory)
  std::optional<std::uint64_t> memory_limit_bytes;  // none = unlimited
  std::uint64_t pids = 0;
  std::uint64_t io_read_bytes = 0;
  std::uint64_t io_write_bytes = 0;
  std::uint64_t instructions = 0;  // WASM only: instructions executed
};

// One log line as a backend delivers it (docker logs semantics).
struct LogEntry {
  bool is_stderr = false;
  Clock::WallTime time{};
  std::string text;  // without the trailing newline; prefixed by the time with `timestamps`
};
// Receives each line in order; an error stops the read and is returned unchanged.
using LogCallback = std::function<Status(const LogEntry&)>;

// A container backend (../shared/DESIGN.md §2). Operations a backend cannot do return
// Errc::kUnsupported with a sentence saying why, never a silent stub. Non-copyable.
class Runtime {
 public:
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  virtual ~Runtime() = default;

  // Makes the image `ref` available locally (pulls it when missing). Errors: the pull's.
  virtual Status pull_image(std::string_view ref) = 0;
  // Creates the container (not started). Errors: kAlreadyExists, kInvalidArgument (bad config),
  // kNotFound (image not pulled), the backend's; nothing is left behind on failure.
  virtual Status create_container(const ContainerId& id, const ContainerConfig& config) = 0;
  // Errors: kNotFound, kFailedPrecondition (not created), the backend's.
  virtual Status start_container(const ContainerId& id) = 0;
  // Stop signal, then SIGKILL after `grace`. A container that is not running is success.
  virtual Status stop_container(const ContainerId& id, std::chrono::milliseconds grace) = 0;
  // One signal to the container's init. Errors: kNotFound, kFailedPrecondition (not running).
  virtual Status kill_container(const ContainerId& id, int signal) = 0;
  // Freezes / thaws every process of the container. Errors: kNotFound, kFailedPrecondition
  // (not running / not paused), kUnsupported when the backend cannot.
  virtual Status pause_container(const ContainerId& id) = 0;
  virtual Status unpause_container(const ContainerId& id) = 0;
  // Kills it if needed and removes everything it owns; removing a missing container is success.
  virtual Status remove_container(const ContainerId& id) = 0;
  // Errors: kNotFound.
  virtual Result<ContainerState> container_state(const ContainerId& id) = 0;
  // Blocks until the container has ended. Errors: kNotFound, the backend's.
  virtual Result<ExitStatus> wait_container(const ContainerId& id) = 0;
  // A file descriptor that becomes readable (POLLIN) once the running container's process has
  // ended, so one thread can watch many containers (epoll) instead of polling container_state
  // or parking a thread in wait_container per container. The caller owns it; after it fires,
  // wait_container returns without blocking. Follows pidfd_open(2) semantics: level-triggered,
  // one-shot per container start. Errors: kNotFound, kUnsupported (the backend has none; poll
  // container_state instead), the backend's.
  virtual Result<UniqueFd> exit_fd(const ContainerId& id) {
    return errorf(Errc::kUnsupported, "{}: this backend offers no exit descriptor", id.str());
  }
  // Errors: kNotFound, the callback's error.
  virtual Status container_logs(const ContainerId& id, const LogOptions& options,
                                const LogCallback& callback) = 0;
  // Errors: kNotFound, kFailedPrecondition (not running); a missing program is exit 127.
  virtual Result<ExecResult> exec(const ContainerId& id, const ExecOptions& options) = 0;
  // Errors: kNotFound (container or its counters gone).
  virtual Result<ContainerStats> container_stats(const ContainerId& id) = 0;
  // The container's init pid on the host. Errors: kNotFound, kFailedPrecondition (not running).
  virtual Result<int> container_pid(const ContainerId& id) = 0;
  // The container's IP address. Errors: kNotFound, kUnsupported (no network of its own).
  virtual Result<std::string> container_ip(const ContainerId& id) = 0;
  // Every container this backend knows.
  virtual Result<std::vector<ContainerId>> list_containers() = 0;
};

}  // namespace zlayer::runtime
