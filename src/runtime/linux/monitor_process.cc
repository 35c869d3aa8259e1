// The monitor process itself (`zlayer-monitor`, monitor.h): creates the container through the OCI
// runtime, holds its stdio (pipes, or the pty master with a terminal), copies output into the CRI
// log and to attached clients, forwards attached input, records the exit and applies the restart
// policy. The agent-side helpers are in monitor.cc.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/fs.h"
#include "core/text.h"
#include "core/time_format.h"
#include "runtime/linux/attach.h"
#include "runtime/linux/monitor.h"
#include "runtime/logs/log_store.h"
#include "runtime/restart_policy.h"
#include "runtime/runtime.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kMonitorName = "zlayer-monitor";

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
  bool terminal = false;
  bool open_stdin = false;
  fs::path attach_socket;  // empty = no attach server
  RestartPolicy restart;
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
  args.terminal = values["terminal"] == "1";
  args.open_stdin = values["stdin"] == "1";
  args.attach_socket = values["attach-socket"];
  if (values.count("restart")) {
    ZLAYER_TRY(policy, parse_restart_policy(values["restart"]));
    args.restart = policy;
  }
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

void report_status(int& fd, const json& status) {
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
  fd = -1;
}

// Reads what is available without blocking; returns false at EOF (or a read error — EIO is how a
// pty master reports that every slave descriptor is closed).
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

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

class Monitor {
 public:
  explicit Monitor(const MonitorArgs& args)
      : args_(args),
        runtime_(args.runtime_name, args.runtime_binary, args.runtime_root, args.layout),
        status_fd_(args.status_fd) {}

  int run();

 private:
  // Descriptors and facts of one container run (a restart makes a new one).
  struct Run {
    UniqueFd out;      // read end of the container's stdout pipe (the runtime's own output too)
    UniqueFd err;      // read end of stderr
    UniqueFd input;    // write end of the stdin pipe (-i without a terminal)
    UniqueFd console;  // pty master (terminal)
    pid_t init_pid = 0;
    std::optional<fs::path> cgroup;
    std::uint64_t oom_before = 0;
    std::chrono::steady_clock::time_point started;
  };
  struct Client {
    UniqueFd socket;
  };

  int fail(std::string text) {
    diagnose(args_.id, text);
    report_status(status_fd_, {{"status", "failed"}, {"error", text}});
    return 1;
  }
  Status create();
  int pump();
  ExitRecord make_record(int wait_status) const;
  bool stop_requested() const { return fs::exists(args_.dir / kStopRequestFile); }
  bool wait_backoff(std::chrono::milliseconds delay);
  void write_restart_file(bool restarting, const ExitRecord& last);
  void drain_signals();

  void copy_output(int fd, logs::Stream stream, bool& open);
  void broadcast(AttachFrame type, std::string_view data);
  void accept_clients();
  void read_client(std::size_t index);
  void flush_input();
  void close_input();
  [[nodiscard]] int input_fd() const {
    return run_.console.valid() ? run_.console.get() : run_.input.get();
  }

  const MonitorArgs& args_;
  OciRuntime runtime_;
  int status_fd_;
  UniqueFd signals_;
  std::optional<logs::LogWriter> writer_;
  UniqueFd listener_;
  std::vector<Client> clients_;
  std::string pending_input_;       // attached input the container has not taken yet
  bool stdin_eof_pending_ = false;  // close stdin once pending_input_ is written
  Run run_;
  int restarts_ = 0;
};

Status Monitor::create() {
  run_ = Run{};
  auto out = make_pipe();
  auto err = make_pipe();
  if (!out || !err)
    return make_error(Errc::kInternal, "creating the container's stdio pipes failed");
  std::optional<Pipe> in;
  if (args_.open_stdin && !args_.terminal) {
    ZLAYER_TRY(pipe, make_pipe());
    in = std::move(pipe);
  }
  // With a terminal the runtime sends the pty master over a socket of ours (--console-socket).
  // sun_path is short, and the runtime connects by path: use the container directory when the
  // path fits, else a private directory under /tmp.
  UniqueFd console_listener;
  fs::path console_path;
  std::optional<fs::path> console_tmp;
  if (args_.terminal) {
    console_path = args_.dir / "console.sock";
    if (console_path.string().size() > 100) {
      char tmpl[] = "/tmp/zlayer-console-XXXXXX";
      if (::mkdtemp(tmpl) == nullptr) return sys_error("mkdtemp /tmp/zlayer-console-*", errno);
      console_tmp = tmpl;
      console_path = *console_tmp / "console.sock";
    }
    ZLAYER_TRY(listener, listen_unix(console_path, SOCK_STREAM));
    console_listener = std::move(listener);
  }
  auto cleanup_console = [&] {
    std::error_code ignored;
    if (console_tmp) {
      fs::remove_all(*console_tmp, ignored);
    } else if (!console_path.empty()) {
      fs::remove(console_path, ignored);
    }
  };

  fs::path init_pid_file = args_.dir / kInitPidFile;
  std::error_code ignored;
  fs::remove(init_pid_file, ignored);
  std::vector<std::string> create_args = {"create", "--bundle", args_.bundle.string()};
  if (args_.terminal) {
    create_args.insert(create_args.end(), {"--console-socket", console_path.string()});
  }
  create_args.insert(create_args.end(), {"--pid-file", init_pid_file.string(), args_.id});
  // The container's init inherits create's stdio: our pipes' write ends. We keep the read ends.
  auto create_pid = runtime_.spawn(create_args, {.stdin_fd = in ? in->read.get() : -1,
                                                 .stdout_fd = out->write.get(),
                                                 .stderr_fd = err->write.get()});
  if (!create_pid) {
    cleanup_console();
    return unexpected(create_pid.error().wrap(fmt::format("{} create", runtime_.name())));
  }
  out->write.reset();
  err->write.reset();
  if (in) in->read.reset();
  set_nonblocking(out->read.get());
  set_nonblocking(err->read.get());

  // Until create exits, everything on the pipes is the runtime's own output (the init waits for
  // `start`); keep it for the error message, and drain it so a chatty runtime cannot block.
  std::string runtime_output;
  int create_status = 0;
  while (true) {
    pid_t done = ::waitpid(*create_pid, &create_status, WNOHANG);
    if (done == *create_pid) break;
    if (done < 0 && errno != EINTR) {
      cleanup_console();
      return sys_error("waitpid (create)", errno);
    }
    pollfd fds[4] = {{out->read.get(), POLLIN, 0},
                     {err->read.get(), POLLIN, 0},
                     {signals_.get(), POLLIN, 0},
                     {console_listener.get(), POLLIN, 0}};
    ::poll(fds, console_listener.valid() && !run_.console.valid() ? 4 : 3, 1000);
    drain_signals();
    drain_available(out->read.get(), runtime_output);
    drain_available(err->read.get(), runtime_output);
    if (console_listener.valid() && !run_.console.valid() && (fds[3].revents & POLLIN) != 0) {
      auto console = receive_console(console_listener.get());
      if (!console)
        diagnose(args_.id, console.error().message);
      else
        run_.console = std::move(*console);
    }
  }
  drain_available(out->read.get(), runtime_output);
  drain_available(err->read.get(), runtime_output);
  if (!WIFEXITED(create_status) || WEXITSTATUS(create_status) != 0) {
    cleanup_console();
    int code =
        WIFEXITED(create_status) ? WEXITSTATUS(create_status) : 128 + WTERMSIG(create_status);
    return errorf(Errc::kInternal, "{} create {}: exit {}: {}", runtime_.name(), args_.id, code,
                  excerpt(trim(runtime_output), 800));
  }
  if (!runtime_output.empty()) diagnose(args_.id, "runtime said: " + excerpt(runtime_output, 800));
  if (args_.terminal && !run_.console.valid()) {
    // create has exited, so a connection it made is already queued.
    pollfd p{console_listener.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      auto console = receive_console(console_listener.get());
      if (console) run_.console = std::move(*console);
    }
  }
  cleanup_console();
  if (args_.terminal && !run_.console.valid()) {
    (void)runtime_.remove(args_.id, /*force=*/true);
    return errorf(Errc::kInternal, "{} create {} sent no terminal on the console socket",
                  runtime_.name(), args_.id);
  }
  if (run_.console.valid()) set_nonblocking(run_.console.get());
  run_.out = std::move(out->read);
  run_.err = std::move(err->read);
  if (in) {
    run_.input = std::move(in->write);
    set_nonblocking(run_.input.get());
  }

  auto pid_text = read_file(init_pid_file);
  if (pid_text) run_.init_pid = static_cast<pid_t>(std::atol(trim(*pid_text).c_str()));
  if (run_.init_pid <= 0) {
    (void)runtime_.remove(args_.id, /*force=*/true);
    return errorf(Errc::kInternal, "{} create {} wrote no pid to {}", runtime_.name(), args_.id,
                  init_pid_file.string());
  }
  // The OOM counter is read from the init's memory cgroup once it has died, so find the cgroup
  // now, while the process is there to ask.
  auto cgroup = memory_cgroup_dir(run_.init_pid);
  if (cgroup) {
    run_.cgroup = *cgroup;
    if (auto count = read_oom_kill_count(*cgroup)) run_.oom_before = *count;
  } else {
    diagnose(args_.id, "no memory cgroup: OOM kills cannot be detected: " + cgroup.error().message);
  }
  run_.started = std::chrono::steady_clock::now();
  return {};
}

void Monitor::drain_signals() {
  signalfd_siginfo info;
  while (::read(signals_.get(), &info, sizeof info) > 0) {
  }
}

void Monitor::broadcast(AttachFrame type, std::string_view data) {
  for (std::size_t i = 0; i < clients_.size();) {
    if (!send_frame(clients_[i].socket.get(), type, data)) {
      clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));  // the client left
    } else {
      ++i;
    }
  }
}

void Monitor::copy_output(int fd, logs::Stream stream, bool& open) {
  std::string chunk;
  open = drain_available(fd, chunk);
  if (chunk.empty()) return;
  if (auto written = writer_->write(stream, chunk); !written) {
    diagnose(args_.id, written.error().message);
  }
  broadcast(stream == logs::Stream::kStderr ? AttachFrame::kStderr : AttachFrame::kStdout, chunk);
}

void Monitor::accept_clients() {
  while (true) {
    UniqueFd socket(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!socket.valid()) return;  // EAGAIN: no more waiting
    clients_.push_back({std::move(socket)});
  }
}

void Monitor::close_input() {
  pending_input_.clear();
  run_.input.reset();  // the container reads end of file; a terminal has no such thing
}

void Monitor::read_client(std::size_t index) {
  int fd = clients_[index].socket.get();
  auto frame = read_frame(fd);
  if (!frame || !*frame) {
    clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
    return;
  }
  switch ((*frame)->type) {
    case AttachFrame::kStdin:
      if (input_fd() >= 0) pending_input_ += (*frame)->payload;
      break;
    case AttachFrame::kStdinEof:
      if (run_.input.valid()) {
        flush_input();
        if (pending_input_.empty())
          run_.input.reset();
        else
          stdin_eof_pending_ = true;
      }
      break;
    case AttachFrame::kResize:
      if (auto size = parse_resize((*frame)->payload); size && run_.console.valid()) {
        winsize w{};
        w.ws_row = size->first;
        w.ws_col = size->second;
        ::ioctl(run_.console.get(), TIOCSWINSZ, &w);
      }
      break;
    default:
      break;
  }
}

void Monitor::flush_input() {
  while (!pending_input_.empty() && input_fd() >= 0) {
    ssize_t w = ::write(input_fd(), pending_input_.data(), pending_input_.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;  // the container is not reading yet: keep the rest
    if (w < 0) {                           // EPIPE: it closed its stdin
      close_input();
      return;
    }
    pending_input_.erase(0, static_cast<std::size_t>(w));
  }
  if (pending_input_.empty() && stdin_eof_pending_) {
    stdin_eof_pending_ = false;
    run_.input.reset();
  }
}

// Copies output and input until the init has been reaped and its output has ended; returns the
// init's wait status.
int Monitor::pump() {
  bool out_open = run_.out.valid();
  bool err_open = run_.err.valid();
  bool console_open = run_.console.valid();
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
      if (pid == run_.init_pid) {
        exited = true;
        init_status = status;
      }
    }
  };
  reap();
  while (!exited || out_open || err_open || console_open) {
    std::vector<pollfd> fds;
    auto watch = [&](int fd, short events) {
      fds.push_back({fd, events, 0});
      return fds.size() - 1;
    };
    const std::size_t none = SIZE_MAX;
    std::size_t out_slot = out_open ? watch(run_.out.get(), POLLIN) : none;
    std::size_t err_slot = err_open ? watch(run_.err.get(), POLLIN) : none;
    std::size_t console_slot = console_open ? watch(run_.console.get(), POLLIN) : none;
    std::size_t signal_slot = watch(signals_.get(), POLLIN);
    std::size_t listener_slot = listener_.valid() ? watch(listener_.get(), POLLIN) : none;
    // Input waits until the container takes what is pending (back-pressure on the clients).
    std::size_t input_slot = none;
    std::size_t first_client = fds.size();
    if (!pending_input_.empty() && input_fd() >= 0) {
      input_slot = watch(input_fd(), POLLOUT);
      first_client = fds.size();
    } else {
      for (const auto& client : clients_) watch(client.socket.get(), POLLIN);
    }
    // Once the init is gone the pid namespace is torn down and the pipes reach EOF; a process
    // outside it (a container sharing the host's pids) may hold them longer: stop after 250 ms
    // of silence rather than wait for it.
    int ready = ::poll(fds.data(), fds.size(), exited ? 250 : -1);
    if (ready < 0 && errno != EINTR) break;
    if (ready == 0 && exited) break;
    if (ready <= 0) continue;
    if (fds[signal_slot].revents != 0) {
      drain_signals();
      if (!exited) reap();
    }
    if (listener_slot != none && fds[listener_slot].revents != 0) accept_clients();
    if (input_slot != none && fds[input_slot].revents != 0) {
      if ((fds[input_slot].revents & (POLLERR | POLLHUP)) != 0 && !console_open) {
        close_input();
      } else {
        flush_input();
      }
    }
    // Clients are read in reverse so that a client leaving does not shift the ones still to read.
    for (std::size_t i = fds.size(); i > first_client; --i) {
      if (input_slot == none && fds[i - 1].revents != 0) read_client(i - 1 - first_client);
    }
    if (!pending_input_.empty()) flush_input();
    // Drain both pipes whichever woke us: stdout and stderr lines keep their relative order as
    // well as two pipes allow.
    if (out_slot != none) copy_output(run_.out.get(), logs::Stream::kStdout, out_open);
    if (err_slot != none) copy_output(run_.err.get(), logs::Stream::kStderr, err_open);
    if (console_slot != none) copy_output(run_.console.get(), logs::Stream::kStdout, console_open);
  }
  run_.out.reset();
  run_.err.reset();
  run_.console.reset();
  run_.input.reset();
  pending_input_.clear();
  stdin_eof_pending_ = false;
  return init_status;
}

ExitRecord Monitor::make_record(int wait_status) const {
  ExitRecord record;
  record.pid = run_.init_pid;
  record.finished_at = SystemClock::instance().wall_now();
  if (WIFSIGNALED(wait_status)) {
    record.signal = WTERMSIG(wait_status);
    record.signal_name = runtime::signal_name(record.signal);
    record.exit_code = 128 + record.signal;
  } else {
    record.exit_code = WEXITSTATUS(wait_status);
  }
  if (run_.cgroup) {
    auto count = read_oom_kill_count(*run_.cgroup);
    if (count) {
      record.oom_killed = *count > run_.oom_before;
    } else {
      diagnose(args_.id, "reading the OOM counter: " + count.error().message);
    }
  }
  return record;
}

// Sleeps `delay` unless a stop request arrives first (the agent writes the request file, then
// sends SIGUSR1). Returns false when the container is to stay stopped.
bool Monitor::wait_backoff(std::chrono::milliseconds delay) {
  auto deadline = std::chrono::steady_clock::now() + delay;
  while (!stop_requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    pollfd p{signals_.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
    drain_signals();
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {  // orphans re-parented to us meanwhile
    }
  }
  return false;
}

void Monitor::write_restart_file(bool restarting, const ExitRecord& last) {
  RestartRecord record{format_restart_policy(args_.restart), restarts_, restarting, last};
  if (auto written = atomic_write_file(args_.dir / kRestartFile, restart_record_json(record), 0644,
                                       Durability::kUntilReboot);
      !written) {
    diagnose(args_.id, written.error().wrap("writing the restart file").message);
  }
}

int Monitor::run() {
  const std::string& id = args_.id;
  // Session leader: a Ctrl-C or hangup on the agent's terminal never reaches us or the container.
  if (::getsid(0) != ::getpid()) ::setsid();
  // Orphans (the container's init once `create` exits) are re-parented to us, so we can waitpid.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return fail("PR_SET_CHILD_SUBREAPER failed");
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  // SIGCHLD: the init ended. SIGUSR1: the agent wrote a stop request (see wait_backoff).
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &handled, nullptr);
  signals_.reset(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals_.valid()) return fail(fmt::format("signalfd: {}", ::strerror(errno)));
  if (auto written = atomic_write_file(args_.dir / kMonitorPidFile, std::to_string(::getpid()),
                                       0644, Durability::kUntilReboot);
      !written) {
    return fail(written.error().message);
  }
  auto writer = logs::LogWriter::open(
      args_.log, {.max_size_bytes = args_.log_max_size, .max_files = args_.log_max_files},
      SystemClock::instance());
  if (!writer) return fail(writer.error().wrap("opening the container log").message);
  writer_.emplace(std::move(*writer));
  // The attach socket exists before the agent hears "created", so a client can connect before
  // `start` and miss no output.
  if (!args_.attach_socket.empty()) {
    auto listener = listen_unix(args_.attach_socket, SOCK_SEQPACKET);
    if (!listener) return fail(listener.error().wrap("the attach socket").message);
    listener_ = std::move(*listener);
    set_nonblocking(listener_.get());
  }
  auto remove_socket = [&] {
    std::error_code ignored;
    if (!args_.attach_socket.empty()) fs::remove(args_.attach_socket, ignored);
  };
  if (auto created = create(); !created) {
    remove_socket();
    return fail(created.error().message);
  }
  report_status(status_fd_, {{"status", "created"}, {"pid", run_.init_pid}});

  RestartBackoff backoff;
  ExitRecord record;
  while (true) {
    int status = pump();
    record = make_record(status);
    auto ran_for = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - run_.started);
    if (!should_restart(args_.restart, record.exit_code, restarts_, stop_requested())) break;
    ++restarts_;
    write_restart_file(/*restarting=*/true, record);
    auto delay = backoff.next(ran_for);
    diagnose(id, fmt::format("exited with code {}; restart {} ({}) in {} ms", record.exit_code,
                             restarts_, format_restart_policy(args_.restart), delay.count()));
    if (!wait_backoff(delay)) break;
    // delete removes the old cgroup and state; the bundle (config.json, rootfs) is unchanged.
    if (auto removed = runtime_.remove(id, /*force=*/true); !removed) {
      diagnose(id, removed.error().wrap("restart: delete").message);
      break;
    }
    if (auto created = create(); !created) {
      diagnose(id, created.error().wrap("restart").message);
      break;
    }
    // A stop request that came while we were creating: the new init never runs.
    if (stop_requested()) {
      (void)runtime_.remove(id, /*force=*/true);
      (void)pump();
      break;
    }
    if (auto started = runtime_.start(id); !started) {
      diagnose(id, started.error().wrap("restart: start").message);
      (void)runtime_.remove(id, /*force=*/true);
      (void)pump();
      break;
    }
    run_.started = std::chrono::steady_clock::now();
    write_restart_file(/*restarting=*/false, record);
  }
  if (restarts_ > 0) write_restart_file(/*restarting=*/false, record);
  if (auto closed = writer_->close(); !closed) diagnose(id, closed.error().message);
  remove_socket();
  if (auto written = atomic_write_file(args_.dir / kExitFile, exit_record_json(record), 0644,
                                       Durability::kUntilReboot);
      !written) {
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
  Monitor monitor(*args);
  return monitor.run();
}

}  // namespace zlayer::runtime::linux
