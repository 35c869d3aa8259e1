// The value types of the Runtime interface that every backend implements (Linux containers through
// an OCI runtime, WASM modules in-process, Docker Engine): container state, exit status, log/exec
// options, stats. TODO(issue 3): the abstract `Runtime` class joins them with the first backend.
// Values only; thread-safe.
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

}  // namespace zlayer::runtime
