// The per-container monitor (like Podman's conmon) and the agent's side of it. The monitor is a
// separate executable (`zlayer-monitor`, monitor_main.cc): a session leader and child subreaper
// that runs `<oci runtime> create` itself, holds the container's stdio (stdout/stderr pipes, a
// stdin pipe with -i, the pty master with -t), writes the output to the CRI log and to attached
// clients (attach.h), waitpid()s the container's init, reads the OOM-kill counter, applies the
// restart policy and writes the exit file — so a container, its logs and its exit status survive
// the agent (docs/design.md §5a). The process side is monitor_process.cc.
// The agent-side functions are blocking and may be called from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/error.h"
#include "core/fs.h"
#include "runtime/linux/oci_runtime.h"
#include "runtime/restart_policy.h"

namespace zlayer::runtime::linux {

// Protocol (agent ↔ monitor):
//  1. The agent spawns `zlayer-monitor --id … --bundle … --dir … --log … --runtime-* …
//     --cgroup-layout … --status-fd N` in a new session, stderr → <dir>/monitor.log, with the
//     write end of a status pipe as fd N.
//  2. The monitor becomes a child subreaper, writes <dir>/monitor.pid, opens the CRI log, makes
//     the stdout/stderr pipes and runs `<runtime> create --bundle B --pid-file <dir>/init.pid id`
//     with them as stdio (the init inherits them; the monitor keeps the read ends).
//  3. It writes one JSON line to the status fd and closes it: {"status":"created","pid":N} or
//     {"status":"failed","error":"<runtime's text>"} (then it exits 1).
//  4. The agent calls `start`. The monitor copies output into the log (and to attached clients)
//     until the init has been reaped and the pipes reach EOF, reads the OOM counter, applies the
//     restart policy (MonitorConfig::restart), and when the container stays stopped writes
//     <dir>/exit.json atomically and exits 0. It never deletes the container: the agent removes it, after wait_for_exit, so
//     the OOM counter is read before `delete` takes the cgroup away.

// Files the monitor keeps in a container's directory.
inline constexpr std::string_view kMonitorPidFile = "monitor.pid";  // the monitor's pid, decimal
inline constexpr std::string_view kInitPidFile = "init.pid";        // container init (--pid-file)
inline constexpr std::string_view kExitFile = "exit.json";          // ExitRecord, see below
inline constexpr std::string_view kMonitorLogFile = "monitor.log";  // the monitor's diagnostics
inline constexpr std::string_view kRestartFile = "restart.json";    // RestartRecord, see below
// Written by the agent before it signals the container for stop/kill/rm: the exit that follows
// was asked for, so the restart policy does not apply (Docker's "manually stopped").
inline constexpr std::string_view kStopRequestFile = "stop-requested";

// Where start_monitor finds the executable: $ZLAYER_MONITOR_BIN, else `zlayer-monitor` beside
// the running executable (/proc/self/exe), else the path CMake built it at.
// Errors: kNotFound listing the places tried.
[[nodiscard]] Result<std::filesystem::path> locate_monitor_binary();

struct MonitorConfig {
  std::string container_id;              // the OCI runtime's id for the container
  std::filesystem::path bundle;          // directory with config.json
  std::filesystem::path container_dir;   // monitor files go here (must exist)
  std::filesystem::path log_path;        // CRI log file (its directory must exist)
  std::uint64_t log_max_size_bytes = 0;  // rotation size; 0 = never rotate
  int log_max_files = 3;                 // rotated files kept
  // The runtime the monitor drives: name, binary, --root and cgroup layout are passed on.
  const OciRuntime* runtime = nullptr;
  std::filesystem::path monitor_binary;  // empty = locate_monitor_binary()
  // Longest wait for `create` to finish; on expiry the monitor is killed and kDeadlineExceeded.
  std::chrono::milliseconds create_timeout{std::chrono::seconds(60)};
  // A terminal (process.terminal in config.json must agree): the runtime gets --console-socket,
  // the monitor keeps the pty master, logs its output as stdout and forwards attached input.
  bool terminal = false;
  // Without a terminal: the container's stdin is a pipe fed by attached clients (else /dev/null).
  bool open_stdin = false;
  // Where the monitor listens for attach clients (attach.h) from before "created" until it
  // exits; empty = none. Its directory must exist.
  std::filesystem::path attach_socket;
  // Applied by the monitor after each exit not asked for through request_stop(): `delete`, then
  // `create` and `start` from the same bundle, after RestartBackoff's delay. exit.json is written
  // only when the container stays stopped; restart.json counts the restarts.
  RestartPolicy restart;
};

struct MonitorHandle {
  pid_t monitor_pid = 0;    // a child of the caller: reap it (wait_for_exit does)
  pid_t container_pid = 0;  // the container's init on the host, in the "created" state
};

// Starts the monitor for a bundle and waits until `create` has finished. On success the container
// is "created" (call OciRuntime::start). The monitor calls setsid(), so signals for the caller's
// terminal never reach it, and it outlives the caller.
// Errors: kInvalidArgument (missing runtime/ids), kNotFound (monitor binary), the create error
// as the runtime reported it (kInternal, its text in the message; the monitor has exited and
// nothing is left behind), kDeadlineExceeded (create hung; the monitor is killed).
[[nodiscard]] Result<MonitorHandle> start_monitor(const MonitorConfig& config);

// What the monitor writes when the container's init has ended (exit.json):
//   {"exit_code": 137, "signal": 9, "signal_name": "SIGKILL", "oom_killed": true,
//    "finished_at": "2026-11-30T02:18:25.123456789Z", "pid": 4242}
// exit_code is the code, or 128+signal when a signal ended it (signal 0 / signal_name "" then).
struct ExitRecord {
  int exit_code = 0;
  int signal = 0;
  std::string signal_name;
  bool oom_killed = false;
  Clock::WallTime finished_at;
  pid_t pid = 0;  // the init that ended
};

[[nodiscard]] std::string exit_record_json(const ExitRecord& record);

// restart.json, written atomically by the monitor before each restart (restarting = true, while it
// waits out the delay and re-creates the container), after it (false) and at the end:
//   {"policy": "on-failure:2", "restart_count": 2, "restarting": false, "last_exit": {ExitRecord}}
struct RestartRecord {
  std::string policy;
  int restart_count = 0;
  bool restarting = false;
  ExitRecord last_exit;  // the exit that caused the latest restart
};
[[nodiscard]] std::string restart_record_json(const RestartRecord& record);
// Errors: kNotFound (never restarted), kInternal naming the file.
[[nodiscard]] Result<RestartRecord> read_restart_file(const std::filesystem::path& path);

// Records that the user asked the container to stop (`verb`: "stop", "kill", "rm") in
// <container_dir>/stop-requested — durably, before the caller signals the container — and wakes
// the monitor (SIGUSR1) so one waiting to restart gives up. Errors: the file write's.
[[nodiscard]] Status request_stop(const std::filesystem::path& container_dir, pid_t monitor_pid,
                                  std::string_view verb);

// Errors: kNotFound (no exit file yet), kInternal naming the file and the field that is wrong.
[[nodiscard]] Result<ExitRecord> read_exit_file(const std::filesystem::path& path);

// A file descriptor that becomes readable (POLLIN) once the monitor `monitor_pid` of the
// container in `container_dir` has ended: a pidfd (pidfd_open(2), Linux >= 5.3), or an eventfd
// that is readable already when the monitor has ended before the call (the pid is gone, or it now
// belongs to another process: a monitor names its container directory in its argv). Lets one
// thread watch many containers with epoll. The caller owns the descriptor; once it fires,
// wait_for_exit() returns at once (and reaps the monitor when it is our child).
// Errors: kUnsupported (no pidfds: kernel < 5.3 or seccomp), errno-mapped (eventfd).
[[nodiscard]] Result<UniqueFd> open_exit_fd(const std::filesystem::path& container_dir,
                                            pid_t monitor_pid);

// Waits until the monitor `monitor_pid` of the container in `container_dir` has finished, then
// returns its exit file. Watches the monitor through pidfd_open + poll (reaping it when it is our
// child); falls back to polling the exit file every 50 ms when pidfds are unavailable.
// timeout: nullopt = wait forever.
// Errors: kDeadlineExceeded; kInternal when the monitor ended without writing an exit file (it
// was killed; its log is quoted).
[[nodiscard]] Result<ExitRecord> wait_for_exit(
    const std::filesystem::path& container_dir, pid_t monitor_pid,
    std::optional<std::chrono::milliseconds> timeout = std::nullopt);

// The memory cgroup directory of a process on the host, from /proc/<pid>/cgroup and the
// mount table (v1 "memory" hierarchy, else the cgroup2 mount). Errors: kNotFound (process gone
// or no memory cgroup), errno-mapped.
[[nodiscard]] Result<std::filesystem::path> memory_cgroup_dir(pid_t pid);

// The oom_kill counter in a memory cgroup directory: v1 memory.oom_control `oom_kill N`, v2
// memory.events `oom_kill N`. Errors: kNotFound (neither file), kInternal (no oom_kill field).
[[nodiscard]] Result<std::uint64_t> read_oom_kill_count(const std::filesystem::path& cgroup_dir);

// The monitor's main program (monitor_main.cc calls it with argc/argv). Returns the exit code.
int monitor_main(int argc, char** argv);

}  // namespace zlayer::runtime::linux
