#include "runtime/linux/monitor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "core/text.h"
#include "core/time_format.h"
#include "runtime/linux/cgroups.h"
#include "runtime/logs/log_store.h"
#include "runtime/runtime.h"

#ifndef ZLAYER_MONITOR_BUILD_PATH
#define ZLAYER_MONITOR_BUILD_PATH ""
#endif

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kMonitorName = "zlayer-monitor";

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Reaps `pid` if it is our child and has ended; anything else (not ours, still running) is fine.
void reap_if_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
}

// The last part of the monitor's diagnostics, for error messages.
std::string monitor_log_excerpt(const fs::path& container_dir) {
  auto text = read_file(container_dir / kMonitorLogFile);
  if (!text || text->empty()) return "(monitor log empty)";
  std::string_view view = *text;
  if (view.size() > 600) view = view.substr(view.size() - 600);
  return excerpt(view, 600);
}

}  // namespace

Result<fs::path> locate_monitor_binary() {
  std::vector<fs::path> tried;
  if (const char* override_path = std::getenv("ZLAYER_MONITOR_BIN");
      override_path != nullptr && *override_path != '\0') {
    if (::access(override_path, X_OK) == 0) return fs::path(override_path);
    return errorf(Errc::kNotFound, "$ZLAYER_MONITOR_BIN={} is not an executable file",
                  override_path);
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path beside = self.parent_path() / kMonitorName;
    if (::access(beside.c_str(), X_OK) == 0) return beside;
    tried.push_back(beside);
  }
  fs::path built = ZLAYER_MONITOR_BUILD_PATH;
  if (!built.empty()) {
    if (::access(built.c_str(), X_OK) == 0) return built;
    tried.push_back(built);
  }
  std::string places;
  for (const auto& p : tried) places += (places.empty() ? "" : ", ") + p.string();
  return errorf(Errc::kNotFound, "{} not found (set $ZLAYER_MONITOR_BIN; tried {})", kMonitorName,
                places);
}

Result<MonitorHandle> start_monitor(const MonitorConfig& config) {
  if (config.runtime == nullptr || config.container_id.empty()) {
    return make_error(Errc::kInvalidArgument,
                      "start_monitor: runtime and container id are required");
  }
  fs::path binary = config.monitor_binary;
  if (binary.empty()) {
    ZLAYER_TRY(found, locate_monitor_binary());
    binary = found;
  }
  const OciRuntime& runtime = *config.runtime;
  std::error_code ignored;
  for (auto name : {kExitFile, kRestartFile, kStopRequestFile}) {
    fs::remove(config.container_dir / name, ignored);
  }
  ZLAYER_TRY(status, make_pipe());
  fs::path monitor_log = config.container_dir / kMonitorLogFile;
  UniqueFd log_fd(::open(monitor_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!log_fd.valid()) return sys_error(fmt::format("opening {}", monitor_log.string()), errno);

  std::vector<std::string> argv = {binary.string(),
                                   "--id",
                                   config.container_id,
                                   "--bundle",
                                   config.bundle.string(),
                                   "--dir",
                                   config.container_dir.string(),
                                   "--log",
                                   config.log_path.string(),
                                   "--log-max-size",
                                   std::to_string(config.log_max_size_bytes),
                                   "--log-max-files",
                                   std::to_string(config.log_max_files),
                                   "--runtime-name",
                                   runtime.name(),
                                   "--runtime-binary",
                                   runtime.binary().string(),
                                   "--runtime-root",
                                   runtime.state_root().string(),
                                   "--cgroup-layout",
                                   std::string(cgroup_mode_name(runtime.cgroup_layout())),
                                   "--status-fd",
                                   std::to_string(status.write.get()),
                                   "--restart",
                                   format_restart_policy(config.restart)};
  if (config.terminal) argv.insert(argv.end(), {"--terminal", "1"});
  if (config.open_stdin) argv.insert(argv.end(), {"--stdin", "1"});
  if (!config.attach_socket.empty()) {
    argv.insert(argv.end(), {"--attach-socket", config.attach_socket.string()});
  }
  auto pid = spawn_process(
      argv, {.stderr_fd = log_fd.get(), .inherit_fds = {status.write.get()}, .new_session = true});
  if (!pid) return unexpected(pid.error().wrap(fmt::format("starting {}", kMonitorName)));
  status.write.reset();

  // One JSON line, then EOF: {"status":"created","pid":N} or {"status":"failed","error":"…"}.
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + config.create_timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(*pid, SIGKILL);
      (void)wait_process(*pid);
      return errorf(Errc::kDeadlineExceeded, "{} create {} did not finish within {} ms",
                    runtime.name(), config.container_id, config.create_timeout.count());
    }
    pollfd fd = {status.read.get(), POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return sys_error("waiting for the monitor", errno);
    if (ready <= 0) continue;
    char buf[4096];
    ssize_t r = ::read(status.read.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    reply.append(buf, static_cast<size_t>(r));
  }
  json message = json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (message.is_object() && message.value("status", "") == "created") {
    return MonitorHandle{*pid, message.value("pid", 0)};
  }
  // The monitor has failed and exits: reap it so no zombie is left behind.
  auto waited = wait_process(*pid);
  if (message.is_object() && message.contains("error")) {
    return errorf(Errc::kInternal, "{}", message.value("error", std::string()));
  }
  return errorf(Errc::kInternal, "{} for {} exited (code {}) before reporting: {}", kMonitorName,
                config.container_id, waited ? waited->exit_code : -1,
                monitor_log_excerpt(config.container_dir));
}

std::string exit_record_json(const ExitRecord& record) {
  json object = {{"exit_code", record.exit_code},
                 {"signal", record.signal},
                 {"signal_name", record.signal_name},
                 {"oom_killed", record.oom_killed},
                 {"finished_at", format_rfc3339_nano(record.finished_at)},
                 {"pid", record.pid}};
  return object.dump() + "\n";
}

std::string restart_record_json(const RestartRecord& record) {
  json object = {{"policy", record.policy},
                 {"restart_count", record.restart_count},
                 {"restarting", record.restarting},
                 {"last_exit", json::parse(exit_record_json(record.last_exit))}};
  return object.dump() + "\n";
}

Result<RestartRecord> read_restart_file(const fs::path& path) {
  ZLAYER_TRY(text, read_file(path));
  json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object() || !object.value("restart_count", json()).is_number_integer()) {
    return errorf(Errc::kInternal, "restart file {}: no integer \"restart_count\"", path.string());
  }
  RestartRecord record;
  record.policy = object.value("policy", std::string());
  record.restart_count = object.value("restart_count", 0);
  record.restarting = object.value("restarting", false);
  const json& last = object.value("last_exit", json::object());
  record.last_exit.exit_code = last.value("exit_code", 0);
  record.last_exit.signal = last.value("signal", 0);
  record.last_exit.signal_name = last.value("signal_name", std::string());
  record.last_exit.oom_killed = last.value("oom_killed", false);
  record.last_exit.pid = last.value("pid", 0);
  if (auto finished = parse_rfc3339(last.value("finished_at", std::string()))) {
    record.last_exit.finished_at = *finished;
  }
  return record;
}

Status request_stop(const fs::path& container_dir, pid_t monitor_pid, std::string_view verb) {
  ZLAYER_CHECK(atomic_write_file(container_dir / kStopRequestFile, std::string(verb) + "\n",
                                 0644, Durability::kUntilReboot));
  // Wakes a monitor waiting out a restart delay; a monitor that is gone needs no wake-up.
  if (monitor_pid > 0) ::kill(monitor_pid, SIGUSR1);
  return {};
}

Result<ExitRecord> read_exit_file(const fs::path& path) {
  ZLAYER_TRY(text, read_file(path));
  json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](std::string_view what) {
    return errorf(Errc::kInternal, "exit file {}: {}", path.string(), what);
  };
  if (!object.is_object()) return bad("not a JSON object");
  ExitRecord record;
  auto code = object.find("exit_code");
  if (code == object.end() || !code->is_number_integer()) return bad("no integer \"exit_code\"");
  record.exit_code = code->get<int>();
  record.signal = object.value("signal", 0);
  record.signal_name = object.value("signal_name", std::string());
  record.oom_killed = object.value("oom_killed", false);
  record.pid = object.value("pid", 0);
  auto finished = parse_rfc3339(object.value("finished_at", std::string()));
  if (!finished) return bad("\"finished_at\": " + finished.error().message);
  record.finished_at = *finished;
  return record;
}

Result<ExitRecord> wait_for_exit(const fs::path& container_dir, pid_t monitor_pid,
                                 std::optional<std::chrono::milliseconds> timeout) {
  fs::path exit_file = container_dir / kExitFile;
  auto finished = [&]() -> Result<ExitRecord> {
    reap_if_child(monitor_pid);
    auto record = read_exit_file(exit_file);
    if (!record && record.error().code == Errc::kNotFound) {
      return errorf(Errc::kInternal, "{} {} ended without writing {}: {}", kMonitorName,
                    monitor_pid, exit_file.string(), monitor_log_excerpt(container_dir));
    }
    return record;
  };
  if (fs::exists(exit_file)) return finished();
  auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                          : std::chrono::steady_clock::time_point::max();
  auto time_left_ms = [&]() -> int {
    if (!timeout) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  auto deadline_error = [&] {
    return errorf(Errc::kDeadlineExceeded, "container in {} still running after {} ms",
                  container_dir.string(), timeout ? timeout->count() : 0);
  };

  auto exit_fd = open_exit_fd(container_dir, monitor_pid);
  if (!exit_fd && exit_fd.error().code != Errc::kUnsupported) return unexpected(exit_fd.error());
  if (!exit_fd) {
    // No pidfds (kernel < 5.3 or seccomp): poll the exit file and the pid.
    while (!fs::exists(exit_file)) {
      if (::kill(monitor_pid, 0) != 0 && errno == ESRCH) return finished();
      reap_if_child(monitor_pid);
      if (timeout && time_left_ms() == 0) return deadline_error();
      std::this_thread::sleep_for(50ms);
    }
    return finished();
  }
  while (true) {
    pollfd fd = {exit_fd->get(), POLLIN, 0};
    int ready = ::poll(&fd, 1, time_left_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return sys_error("poll on the monitor's pidfd", errno);
    if (ready > 0) return finished();
    return deadline_error();
  }
}

Result<UniqueFd> open_exit_fd(const fs::path& container_dir, pid_t monitor_pid) {
  const auto ended = []() -> Result<UniqueFd> {
    UniqueFd fd(::eventfd(1, EFD_CLOEXEC));
    if (!fd.valid()) return sys_error("eventfd for an ended monitor", errno);
    return fd;
  };
  UniqueFd pidfd(pidfd_open(monitor_pid));
  if (!pidfd.valid()) {
    if (errno == ESRCH) return ended();
    return errorf(Errc::kUnsupported, "pidfd_open({}): {}", monitor_pid, std::strerror(errno));
  }
  // After an agent restart the recorded pid may belong to another process by now (the monitor
  // was killed and the pid reused): a monitor names its container directory in its argv.
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", monitor_pid));
  if (!cmdline || cmdline->find(container_dir.string()) == std::string::npos) return ended();
  return pidfd;
}

Result<fs::path> memory_cgroup_dir(pid_t pid) {
  ZLAYER_TRY(membership, read_file(fmt::format("/proc/{}/cgroup", pid)));
  ZLAYER_TRY(layout, detect_cgroup_layout());
  return process_cgroup_dir(layout, membership, "memory")
      .map_error([&](Error e) { return e.wrap(fmt::format("process {}", pid)); });
}

Result<std::uint64_t> read_oom_kill_count(const fs::path& cgroup_dir) {
  for (const char* name : {"memory.oom_control", "memory.events"}) {
    auto text = read_file(cgroup_dir / name);
    if (!text) {
      if (text.error().code == Errc::kNotFound) continue;
      return unexpected(text.error());
    }
    std::istringstream lines(*text);
    std::string key;
    std::uint64_t value = 0;
    while (lines >> key >> value) {
      if (key == "oom_kill") return value;
    }
    return errorf(Errc::kInternal, "{} has no oom_kill field", (cgroup_dir / name).string());
  }
  return errorf(Errc::kNotFound, "no memory.oom_control or memory.events in {}",
                cgroup_dir.string());
}

}  // namespace zlayer::runtime::linux
