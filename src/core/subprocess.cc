#include "core/subprocess.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "core/fs.h"
#include "core/sigpipe.h"

extern char** environ;

namespace zlayer {
namespace {

// The argument and environment arrays execve wants, built before fork so the child only reads.
struct ExecArrays {
  std::vector<std::string> env_strings;
  std::vector<char*> args;
  std::vector<char*> env_ptrs;
  char** envp = environ;
};

ExecArrays make_exec_arrays(const std::vector<std::string>& argv,
                            const std::optional<std::map<std::string, std::string>>& env) {
  ExecArrays arrays;
  for (const auto& a : argv) arrays.args.push_back(const_cast<char*>(a.c_str()));
  arrays.args.push_back(nullptr);
  if (env) {
    for (const auto& [k, v] : *env) arrays.env_strings.push_back(k + "=" + v);
    for (auto& s : arrays.env_strings) arrays.env_ptrs.push_back(s.data());
    arrays.env_ptrs.push_back(nullptr);
    arrays.envp = arrays.env_ptrs.data();
  }
  return arrays;
}

// Puts `from` at descriptor `to` in the child; dup2 onto itself keeps O_CLOEXEC, so clear it.
int child_place_fd(int from, int to) {
  if (from == to) return ::fcntl(to, F_SETFD, 0) == 0 ? 0 : errno;
  return ::dup2(from, to) >= 0 ? 0 : errno;
}

// Everything between fork and exec: async-signal-safe calls only. Returns the failing errno.
int child_prepare(const int stdio[3], const SpawnOptions& options) {
  sigset_t none;
  sigemptyset(&none);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &default_action, nullptr);  // fails harmlessly for glibc's reserved ones
  }
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return errno;
  if (options.new_session && ::setsid() < 0) return errno;
  for (int target = 0; target < 3; ++target) {
    if (int err = child_place_fd(stdio[target], target); err != 0) return err;
  }
  // Descriptors some library opened without O_CLOEXEC must not leak into the child either.
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  for (int fd : options.inherit_fds) {
    if (::fcntl(fd, F_SETFD, 0) != 0) return errno;
  }
  if (options.child_setup != nullptr) {
    if (int err = options.child_setup(); err != 0) return err;
  }
  return 0;
}

Result<pid_t> fork_exec(const std::string& path, const std::vector<std::string>& argv,
                        const int stdio[3], const SpawnOptions& options) {
  ExecArrays arrays = make_exec_arrays(argv, options.env);
  ZLAYER_TRY(report, make_pipe());
  pid_t pid = ::fork();
  if (pid < 0) return sys_error(fmt::format("forking for {}", argv[0]), errno);
  if (pid == 0) {
    int err = child_prepare(stdio, options);
    if (err == 0) {
      ::execve(path.c_str(), arrays.args.data(), arrays.envp);
      err = errno;
    }
    [[maybe_unused]] ssize_t ignored = ::write(report.write.get(), &err, sizeof err);
    ::_exit(127);
  }
  report.write.reset();
  int child_errno = 0;
  ssize_t got;
  do {
    got = ::read(report.read.get(), &child_errno, sizeof child_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return sys_error(fmt::format("starting {}", argv[0]), child_errno);
  }
  return pid;
}

Result<pid_t> posix_spawn_exec(const std::string& path, const std::vector<std::string>& argv,
                               const int stdio[3], const SpawnOptions& options) {
  ExecArrays arrays = make_exec_arrays(argv, options.env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int target = 0; target < 3; ++target) {
    posix_spawn_file_actions_adddup2(&actions, stdio[target], target);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all_default;
  sigfillset(&all_default);
  posix_spawnattr_setsigdefault(&attr, &all_default);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_session) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, arrays.args.data(), arrays.envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return sys_error(fmt::format("starting {}", argv[0]), rc);
  return pid;
}

}  // namespace

Result<std::string> find_program(std::string_view program) {
  if (program.empty()) return make_error(Errc::kInvalidArgument, "empty program name");
  if (program.find('/') != std::string_view::npos) {
    if (::access(std::string(program).c_str(), F_OK) != 0) {
      return errorf(Errc::kNotFound, "program {} does not exist", program);
    }
    return std::string(program);
  }
  const char* path_env = std::getenv("PATH");
  std::string_view search = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    auto colon = search.find(':');
    std::string_view dir = search.substr(0, colon);
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, program);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    search.remove_prefix(colon + 1);
  }
  return errorf(Errc::kNotFound, "program {} not found in PATH", program);
}

Result<pid_t> spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return make_error(Errc::kInvalidArgument, "spawn_process: empty argv");
  for (int fd : options.inherit_fds) {
    if (fd <= 2) return errorf(Errc::kInvalidArgument, "spawn_process: cannot inherit fd {}", fd);
  }
  ZLAYER_TRY(path, find_program(argv[0]));
  UniqueFd dev_null;
  int stdio[3] = {options.stdin_fd, options.stdout_fd, options.stderr_fd};
  for (int& fd : stdio) {
    if (fd >= 0) continue;
    if (!dev_null.valid()) {
      dev_null.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
      if (!dev_null.valid()) return sys_error("opening /dev/null", errno);
    }
    fd = dev_null.get();
  }
  if (options.child_setup != nullptr || !options.inherit_fds.empty()) {
    return fork_exec(path, argv, stdio, options);
  }
  return posix_spawn_exec(path, argv, stdio, options);
}

Result<SubprocessResult> wait_process(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys_error(fmt::format("waiting for process {}", pid), errno);
  }
  SubprocessResult result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + result.signal;
  }
  return result;
}

Result<SubprocessResult> run_subprocess(const std::vector<std::string>& argv,
                                        const SubprocessOptions& options) {
  if (argv.empty()) return make_error(Errc::kInvalidArgument, "run_subprocess: empty argv");
  ZLAYER_TRY(in, make_pipe());
  ZLAYER_TRY(out, make_pipe());
  ZLAYER_TRY(err, make_pipe());
  ZLAYER_TRY(pid, spawn_process(argv, {.stdin_fd = in.read.get(),
                                       .stdout_fd = out.write.get(),
                                       .stderr_fd = err.write.get(),
                                       .env = options.env,
                                       .child_setup = options.child_setup}));
  in.read.reset();
  out.write.reset();
  err.write.reset();

  // A child that exits without reading all of its input must cost us EPIPE, not the process.
  ScopedSigpipeBlock no_sigpipe;
  SubprocessResult result;
  std::string_view pending = options.input;
  if (pending.empty()) in.write.reset();
  ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  while (out.read.valid() || err.read.valid() || in.write.valid()) {
    pollfd fds[3];
    nfds_t n = 0;
    if (in.write.valid()) fds[n++] = {in.write.get(), POLLOUT, 0};
    if (out.read.valid()) fds[n++] = {out.read.get(), POLLIN, 0};
    if (err.read.valid()) fds[n++] = {err.read.get(), POLLIN, 0};
    int wait_ms = -1;
    if (options.timeout.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left.count());
    }
    int ready = ::poll(fds, n, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.write.get()) {
        ssize_t w = ::write(in.write.get(), pending.data(), pending.size());
        if (w > 0) pending.remove_prefix(static_cast<size_t>(w));
        if (w < 0 && errno != EAGAIN && errno != EINTR) pending = {};
        if (pending.empty()) in.write.reset();
        continue;
      }
      bool is_out = fds[i].fd == out.read.get();
      UniqueFd& src = is_out ? out.read : err.read;
      std::string& dst = is_out ? result.out : result.err;
      const OutputCallback& callback = is_out ? options.on_stdout : options.on_stderr;
      char buf[16384];
      ssize_t r = ::read(src.get(), buf, sizeof buf);
      if (r > 0) {
        if (callback) {
          callback(std::string_view(buf, static_cast<size_t>(r)));
        } else {
          dst.append(buf, static_cast<size_t>(r));
        }
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        src.reset();
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  auto waited = wait_process(pid);
  if (!waited) return unexpected(waited.error().wrap(argv[0]));
  if (timed_out) {
    return errorf(Errc::kDeadlineExceeded, "{} did not finish within {} ms", argv[0],
                  options.timeout.count());
  }
  result.exit_code = waited->exit_code;
  result.signal = waited->signal;
  return result;
}

Result<std::uint64_t> process_start_time(pid_t pid) {
  auto stat = read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return unexpected(stat.error());
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  std::size_t close = stat->rfind(')');
  if (close == std::string::npos) {
    return errorf(Errc::kInternal, "/proc/{}/stat: no command name in \"{}\"", pid, *stat);
  }
  std::size_t pos = close + 1;
  for (int field = 3; field <= 22; ++field) {
    pos = stat->find_first_not_of(' ', pos);
    std::size_t end = pos == std::string::npos ? pos : stat->find(' ', pos);
    if (pos == std::string::npos) break;
    if (field == 22) return std::strtoull(stat->substr(pos, end - pos).c_str(), nullptr, 10);
    pos = end;
  }
  return errorf(Errc::kInternal, "/proc/{}/stat has fewer than 22 fields", pid);
}

}  // namespace zlayer
