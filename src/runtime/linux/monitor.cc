#include "runtime/linux/monitor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "core/text.h"
#include "core/time_format.h"
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

// --- the monitor process -----------------------------------------------------------------------

struct MonitorArgs {
  std::string id;
  fs::path bundle;
  fs::path dir;
  fs::path log;
  std::uint64_t log_max_size = 0;
  int log_max_files = 3;
  std::string runtime_name;
  fs::path runtime_binary;
  fs::path runtime_root;
  CgroupMode layout = CgroupMode::kV1;
  int status_fd = -1;
};

Result<MonitorArgs> parse_monitor_args(int argc, char** argv) {
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i];
    if (key.substr(0, 2) != "--" || i + 1 >= argc) {
      return errorf(Errc::kInvalidArgument, "{}: unexpected argument \"{}\"", kMonitorName, key);
    }
    values[std::string(key.substr(2))] = argv[++i];
  }
  MonitorArgs args;
  for (const char* required : {"id", "bundle", "dir", "log", "runtime-name", "runtime-binary",
                               "runtime-root", "cgroup-layout", "status-fd"}) {
    if (!values.count(required)) {
      return errorf(Errc::kInvalidArgument, "{}: --{} is required", kMonitorName, required);
    }
  }
  args.id = values["id"];
  args.bundle = values["bundle"];
  args.dir = values["dir"];
  args.log = values["log"];
  args.runtime_name = values["runtime-name"];
  args.runtime_binary = values["runtime-binary"];
  args.runtime_root = values["runtime-root"];
  try {
    args.status_fd = std::stoi(values["status-fd"]);
    if (values.count("log-max-size")) args.log_max_size = std::stoull(values["log-max-size"]);
    if (values.count("log-max-files")) args.log_max_files = std::stoi(values["log-max-files"]);
  } catch (const std::exception&) {
    return errorf(Errc::kInvalidArgument, "{}: a numeric argument is not a number", kMonitorName);
  }
  const std::string& layout = values["cgroup-layout"];
  if (layout == "v1") {
    args.layout = CgroupMode::kV1;
  } else if (layout == "v2") {
    args.layout = CgroupMode::kV2;
  } else if (layout == "hybrid") {
    args.layout = CgroupMode::kHybrid;
  } else {
    return errorf(Errc::kInvalidArgument, "{}: --cgroup-layout \"{}\" is not v1|v2|hybrid",
                  kMonitorName, layout);
  }
  return args;
}

void diagnose(std::string_view id, std::string_view text) {
  auto line =
      fmt::format("{} {} [{}] {}\n", format_rfc3339_nano(SystemClock::instance().wall_now()),
                  kMonitorName, id, text);
  [[maybe_unused]] auto ignored = ::write(2, line.data(), line.size());
}

void report_status(int fd, const json& status) {
  if (fd < 0) return;
  std::string line = status.dump() + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t w = ::write(fd, rest.data(), rest.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // the agent is gone: nobody to tell
    rest.remove_prefix(static_cast<size_t>(w));
  }
  ::close(fd);
}

// Reads what is available without blocking; returns false at EOF (or a read error).
bool drain_available(int fd, std::string& into) {
  char buf[65536];
  while (true) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r > 0) {
      into.append(buf, static_cast<size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return r < 0 && errno == EAGAIN;
  }
}

Status copy_available(int fd, logs::Stream stream, logs::LogWriter& writer, bool& open) {
  std::string chunk;
  open = drain_available(fd, chunk);
  if (chunk.empty()) return {};
  return writer.write(stream, chunk);
}

int run_monitor(const MonitorArgs& args) {
  const std::string& id = args.id;
  // Session leader: a Ctrl-C or hangup on the agent's terminal never reaches us or the container.
  if (::getsid(0) != ::getpid()) ::setsid();
  // Orphans (the container's init once `create` exits) are re-parented to us, so we can waitpid.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    report_status(args.status_fd,
                  {{"status", "failed"}, {"error", "PR_SET_CHILD_SUBREAPER failed"}});
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  sigset_t child_signals;
  sigemptyset(&child_signals);
  sigaddset(&child_signals, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &child_signals, nullptr);
  UniqueFd child_events(::signalfd(-1, &child_signals, SFD_CLOEXEC | SFD_NONBLOCK));

  auto fail = [&](std::string text) {
    diagnose(id, text);
    report_status(args.status_fd, {{"status", "failed"}, {"error", text}});
    return 1;
  };
  if (!child_events.valid()) return fail(fmt::format("signalfd: {}", ::strerror(errno)));
  if (auto written = atomic_write_file(args.dir / kMonitorPidFile, std::to_string(::getpid()));
      !written) {
    return fail(written.error().message);
  }
  auto writer = logs::LogWriter::open(
      args.log, {.max_size_bytes = args.log_max_size, .max_files = args.log_max_files},
      SystemClock::instance());
  if (!writer) return fail(writer.error().wrap("opening the container log").message);

  auto out = make_pipe();
  auto err = make_pipe();
  if (!out || !err) return fail("creating the container's stdio pipes failed");
  OciRuntime runtime(args.runtime_name, args.runtime_binary, args.runtime_root, args.layout);
  fs::path init_pid_file = args.dir / kInitPidFile;
  std::error_code ignored;
  fs::remove(init_pid_file, ignored);
  // The container's init inherits create's stdio: our pipes' write ends. We keep the read ends.
  auto create_pid = runtime.spawn(
      {"create", "--bundle", args.bundle.string(), "--pid-file", init_pid_file.string(), id},
      {.stdout_fd = out->write.get(), .stderr_fd = err->write.get()});
  if (!create_pid)
    return fail(create_pid.error().wrap(fmt::format("{} create", runtime.name())).message);
  out->write.reset();
  err->write.reset();
  ::fcntl(out->read.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(err->read.get(), F_SETFL, O_NONBLOCK);

  // Until create exits, everything on the pipes is the runtime's own output (the init waits for
  // `start`); keep it for the error message, and drain it so a chatty runtime cannot block.
  std::string runtime_output;
  int create_status = 0;
  while (true) {
    pid_t done = ::waitpid(*create_pid, &create_status, WNOHANG);
    if (done == *create_pid) break;
    if (done < 0 && errno != EINTR) return fail(fmt::format("waitpid: {}", ::strerror(errno)));
    pollfd fds[3] = {{out->read.get(), POLLIN, 0},
                     {err->read.get(), POLLIN, 0},
                     {child_events.get(), POLLIN, 0}};
    ::poll(fds, 3, 1000);
    signalfd_siginfo info;
    while (::read(child_events.get(), &info, sizeof info) > 0) {
    }
    drain_available(out->read.get(), runtime_output);
    drain_available(err->read.get(), runtime_output);
  }
  drain_available(out->read.get(), runtime_output);
  drain_available(err->read.get(), runtime_output);
  if (!WIFEXITED(create_status) || WEXITSTATUS(create_status) != 0) {
    int code =
        WIFEXITED(create_status) ? WEXITSTATUS(create_status) : 128 + WTERMSIG(create_status);
    return fail(fmt::format("{} create {}: exit {}: {}", runtime.name(), id, code,
                            excerpt(trim(runtime_output), 800)));
  }
  if (!runtime_output.empty()) diagnose(id, "runtime said: " + excerpt(runtime_output, 800));

  auto pid_text = read_file(init_pid_file);
  pid_t init_pid = 0;
  if (pid_text) init_pid = static_cast<pid_t>(std::atol(trim(*pid_text).c_str()));
  if (init_pid <= 0) {
    return fail(
        fmt::format("{} create {} wrote no pid to {}", runtime.name(), id, init_pid_file.string()));
  }
  // The OOM counter is read from the init's memory cgroup once it has died, so find the cgroup
  // now, while the process is there to ask.
  auto cgroup = memory_cgroup_dir(init_pid);
  std::uint64_t oom_before = 0;
  if (cgroup) {
    if (auto count = read_oom_kill_count(*cgroup)) oom_before = *count;
  } else {
    diagnose(id, "no memory cgroup: OOM kills cannot be detected: " + cgroup.error().message);
  }
  report_status(args.status_fd, {{"status", "created"}, {"pid", init_pid}});

  bool out_open = true;
  bool err_open = true;
  bool exited = false;
  int init_status = 0;
  auto reap = [&] {
    while (true) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) {
        if (pid < 0 && errno == EINTR) continue;
        break;
      }
      if (pid == init_pid) {
        exited = true;
        init_status = status;
      }
    }
  };
  reap();
  while (!exited || out_open || err_open) {
    pollfd fds[3];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out->read.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err->read.get(), POLLIN, 0};
    if (!exited) fds[n++] = {child_events.get(), POLLIN, 0};
    // Once the init is gone the pid namespace is torn down and the pipes reach EOF; a process
    // outside it (a container sharing the host's pids) may hold them longer: stop after 250 ms
    // of silence rather than wait for it.
    int ready = ::poll(fds, n, exited ? 250 : -1);
    if (ready < 0 && errno != EINTR) break;
    if (ready == 0 && exited) break;
    if (!exited) {
      signalfd_siginfo info;
      while (::read(child_events.get(), &info, sizeof info) > 0) {
      }
      reap();
    }
    // Drain both pipes whichever woke us: stdout and stderr lines keep their relative order as
    // well as two pipes allow.
    if (out_open) {
      if (auto s = copy_available(out->read.get(), logs::Stream::kStdout, *writer, out_open); !s)
        diagnose(id, s.error().message);
    }
    if (err_open) {
      if (auto s = copy_available(err->read.get(), logs::Stream::kStderr, *writer, err_open); !s)
        diagnose(id, s.error().message);
    }
  }

  ExitRecord record;
  record.pid = init_pid;
  record.finished_at = SystemClock::instance().wall_now();
  if (WIFSIGNALED(init_status)) {
    record.signal = WTERMSIG(init_status);
    record.signal_name = runtime::signal_name(record.signal);
    record.exit_code = 128 + record.signal;
  } else {
    record.exit_code = WEXITSTATUS(init_status);
  }
  if (cgroup) {
    auto count = read_oom_kill_count(*cgroup);
    if (count) {
      record.oom_killed = *count > oom_before;
    } else {
      diagnose(id, "reading the OOM counter: " + count.error().message);
    }
  }
  if (auto closed = writer->close(); !closed) diagnose(id, closed.error().message);
  if (auto written = atomic_write_file(args.dir / kExitFile, exit_record_json(record)); !written) {
    diagnose(id, written.error().wrap("writing the exit file").message);
    return 1;
  }
  return 0;
}

}  // namespace

int monitor_main(int argc, char** argv) {
  auto args = parse_monitor_args(argc, argv);
  if (!args) {
    fmt::print(stderr, "{}\n", args.error().message);
    return 2;
  }
  return run_monitor(*args);
}

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
  fs::remove(config.container_dir / kExitFile, ignored);
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
                                   std::to_string(status.write.get())};
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

  UniqueFd pidfd(pidfd_open(monitor_pid));
  // After an agent restart the recorded pid may belong to another process by now (the monitor
  // was killed and the pid reused): a monitor names its container directory in its argv.
  if (pidfd.valid()) {
    auto cmdline = read_file(fmt::format("/proc/{}/cmdline", monitor_pid));
    if (!cmdline || cmdline->find(container_dir.string()) == std::string::npos) return finished();
  }
  if (!pidfd.valid()) {
    if (errno == ESRCH) return finished();
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
    pollfd fd = {pidfd.get(), POLLIN, 0};
    int ready = ::poll(&fd, 1, time_left_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return sys_error("poll on the monitor's pidfd", errno);
    if (ready > 0) return finished();
    return deadline_error();
  }
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
