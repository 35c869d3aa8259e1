// `run`, `stop`, `rm`, `logs` and `exec`: a container of the linux backend in the foreground
// (Docker's `docker run`, with -i/-t attached through the container's monitor) or detached, and
// the verbs that act on one.
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>
#include <tuple>

#include "cli/cmd_run_wasm.h"
#include "cli/commands.h"
#include "cli/container_cli.h"
#include "cli/run_support.h"
#include "core/clock.h"
#include "core/paths.h"
#include "core/quantity.h"
#include "core/time_format.h"
#include "image/image_service.h"
#include "runtime/linux/attach.h"
#include "runtime/linux/linux_runtime.h"

namespace zlayer::cli {
namespace {

using runtime::linux::LinuxConfig;
using runtime::linux::LinuxRuntime;

// Docker's codes for a command the OCI runtime could not start: 127 when it does not exist, 126
// when it cannot be executed; anything else is the agent's failure (125). crun and runc only say
// which in their message ("executable file `x` not found in $PATH", "exec: \"x\": permission
// denied"), so — as Docker does with runc's — the text decides.
int fail_create(const Error& e) {
  std::fprintf(stderr, "zlayer-agent: %s\n", e.message.c_str());
  const std::string& text = e.message;
  const bool exec_failed = text.find("executable file") != std::string::npos ||
                           text.find("exec:") != std::string::npos ||
                           text.find("execvp") != std::string::npos ||
                           text.find("open executable") != std::string::npos;
  if (!exec_failed) return kAgentFailed;
  if (text.find("not found") != std::string::npos ||
      text.find("No such file or directory") != std::string::npos ||
      text.find("no such file or directory") != std::string::npos) {
    return 127;
  }
  if (text.find("ermission denied") != std::string::npos) return 126;
  return kAgentFailed;
}

// "0.5" → 0.5 (Docker's --cpus: a share of CPU cores). The upper bound (online CPUs) is the
// bundle's check. Errors: kInvalidArgument quoting the text.
Result<double> parse_cpus(const std::string& text) {
  auto cpus = parse_cpu_quantity(text);
  if (!cpus) return unexpected(cpus.error().wrap("--cpus"));
  return cpus;
}

// Docker's -v: "SRC:DST[:ro|rw]". An absolute SRC is a bind mount of that host path; otherwise
// SRC names a volume kept under $ZLAYER_ROOT_DIR/volumes/<name>. DST must be absolute.
// Errors: kInvalidArgument quoting the text and saying what was expected.
Result<runtime::StorageEntry> parse_volume(const std::string& text) {
  auto bad = [&](std::string_view why) {
    return errorf(Errc::kInvalidArgument,
                  "-v \"{}\": {} (expected SRC:DST[:ro], SRC an absolute "
                  "host path or a volume name)",
                  text, why);
  };
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return bad("wrong number of ':' parts");
  const std::string& source = parts[0];
  const std::string& target = parts[1];
  bool readonly = false;
  if (parts.size() == 3) {
    if (parts[2] == "ro") {
      readonly = true;
    } else if (parts[2] != "rw") {
      return bad(fmt::format("unknown mode \"{}\" (ro or rw)", parts[2]));
    }
  }
  if (source.empty()) return bad("the source is empty");
  if (target.empty() || target.front() != '/') return bad("the target must be an absolute path");
  if (source.front() == '/') return runtime::BindMount{source, target, readonly};
  return runtime::NamedVolume{source, target, readonly};
}

// Docker's -p forms: HOST:CONTAINER, IP:HOST:CONTAINER, [IPv6]:HOST:CONTAINER, each optionally
// with /tcp, /udp or /sctp (tcp when absent). A host port is required: portmap publishes fixed
// ports only. Errors: kInvalidArgument naming the value and the expected form.
Result<runtime::PortMapping> parse_publish(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return errorf(Errc::kInvalidArgument,
                  "-p \"{}\": {} (expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp])", text,
                  why);
  };
  runtime::PortMapping mapping;
  std::string_view rest = text;
  if (const auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    mapping.protocol = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (mapping.protocol != "tcp" && mapping.protocol != "udp" && mapping.protocol != "sctp") {
      return bad("the protocol must be tcp, udp or sctp");
    }
  }
  if (rest.starts_with('[')) {  // [IPv6]:HOST:CONTAINER
    const auto close = rest.find("]:");
    if (close == std::string_view::npos) return bad("an IPv6 address needs \"]:\" after it");
    mapping.host_ip = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 2);
  } else if (std::count(rest.begin(), rest.end(), ':') == 2) {
    const auto colon = rest.find(':');
    mapping.host_ip = std::string(rest.substr(0, colon));
    rest = rest.substr(colon + 1);
  }
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos || rest.find(':', colon + 1) != std::string_view::npos) {
    return bad("a host port and a container port are needed");
  }
  const auto port = [](std::string_view digits) -> std::uint16_t {
    if (digits.empty() || digits.size() > 5 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return 0;
    }
    const long value = std::stol(std::string(digits));
    return value <= 65535 ? static_cast<std::uint16_t>(value) : 0;
  };
  mapping.host_port = port(rest.substr(0, colon));
  mapping.container_port = port(rest.substr(colon + 1));
  if (mapping.host_port == 0 || mapping.container_port == 0) {
    return bad("ports must be numbers 1..65535 (ranges are not supported)");
  }
  if (!mapping.host_ip.empty()) {
    unsigned char buffer[sizeof(in6_addr)];
    if (::inet_pton(AF_INET, mapping.host_ip.c_str(), buffer) != 1 &&
        ::inet_pton(AF_INET6, mapping.host_ip.c_str(), buffer) != 1) {
      return bad("\"" + mapping.host_ip + "\" is not an IP address");
    }
  }
  return mapping;
}

// Docker's sig-proxy: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to `run` go to the container's
// init instead (its own handlers decide; the exit code then comes from the container). A
// detached thread takes them with sigwait(); children reset their mask (spawn_process).
void forward_signals(const runtime::linux::OciRuntime& oci, std::string container) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  std::thread([oci, container = std::move(container), set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) (void)oci.kill(container, sig);
  }).detach();
}

// The user's terminal in raw mode (no echo, no line editing, no signals from ^C: the keys go to
// the container's terminal), restored when this goes out of scope.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd_, TCSADRAIN, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

// Relays the user's stdin (with -i), the container's output and (with -t) the terminal's size
// through the monitor's attach socket until the monitor finishes. `attached` was connected before
// `start`, so no output is missed.
Status relay(UniqueFd attached, bool interactive, bool tty) {
  runtime::linux::AttachStreams streams{.in_fd = interactive ? 0 : -1, .out_fd = 1, .err_fd = 2};
  UniqueFd winch;
  std::optional<RawTerminal> raw;
  if (tty && ::isatty(0)) {
    // SIGWINCH is blocked in every thread (see run_container) and read here.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    winch.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    streams.tty_fd = 0;
    streams.winch_fd = winch.get();
    if (interactive) raw.emplace(0);
  }
  return runtime::linux::relay_attach(attached.get(), streams);
}

struct RunArgs {
  bool remove = false;
  bool detach = false;
  bool interactive = false;
  bool tty = false;
  std::string restart = "no";
  std::string name;
  std::vector<std::string> env;
  std::string memory;
  std::string cpus;
  std::string user;
  std::vector<std::string> volumes;
  std::string network = "bridge";
  std::vector<std::string> publish;  // -p values
  std::vector<std::string> rest;     // IMAGE CMD...
};

int run_container(const RunArgs& args) {
  if (args.rest.empty()) {
    std::fprintf(stderr, "zlayer-agent: run needs an IMAGE\n");
    return 2;
  }
  // WebAssembly modules and artifacts go to the wasm backend (cmd_run_wasm.cc).
  std::vector<std::string> container_flags;
  const std::pair<bool, const char*> flags[] = {{args.interactive, "-i"},
                                                {args.tty, "-t"},
                                                {args.restart != "no", "--restart"},
                                                {!args.cpus.empty(), "--cpus"},
                                                {!args.user.empty(), "-u"},
                                                {!args.volumes.empty(), "-v"},
                                                {args.network != "bridge", "--network"},
                                                {!args.publish.empty(), "-p"}};
  for (const auto& [given, flag] : flags) {
    if (given) container_flags.emplace_back(flag);
  }
  if (auto code = run_wasm_if_wasm({args.remove, args.detach, args.name, args.env, args.memory,
                                    args.rest, container_flags})) {
    return *code;
  }
  auto restart = runtime::parse_restart_policy(args.restart);
  if (!restart) {
    std::fprintf(stderr, "zlayer-agent: --restart: %s\n", restart.error().message.c_str());
    return 2;
  }
  if (args.remove && restart->kind != runtime::RestartPolicy::Kind::kNo) {
    std::fprintf(stderr, "zlayer-agent: --restart and --rm cannot be combined\n");
    return 2;
  }
  if (args.interactive && args.tty && !args.detach && !::isatty(0)) {
    std::fprintf(stderr, "zlayer-agent: the input device is not a TTY (-it needs a terminal)\n");
    return 1;
  }
  if (args.detach && args.remove) {
    std::fprintf(stderr,
                 "zlayer-agent: -d with --rm is not supported yet (nothing would be left "
                 "to remove the container when it exits)\n");
    return 2;
  }
  runtime::ContainerConfig config;
  config.restart = *restart;
  config.tty = args.tty;
  // Detached: nobody would attach (there is no `attach` verb yet), so stdin stays /dev/null.
  config.open_stdin = args.interactive && !args.detach;
  const bool attach = !args.detach && (args.interactive || args.tty);
  if (attach) {
    // Blocked before any thread starts, so every thread has it blocked and relay() reads it.
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &winch, nullptr);
  }
  if (args.network == "bridge") {
    config.network.mode = runtime::NetworkMode::kBridge;
  } else if (args.network == "none") {
    config.network.mode = runtime::NetworkMode::kNone;
  } else if (args.network == "host") {
    config.network.mode = runtime::NetworkMode::kHost;
  } else {
    std::fprintf(stderr, "zlayer-agent: --network must be bridge, host or none, not \"%s\"\n",
                 args.network.c_str());
    return 2;
  }
  for (const auto& text : args.publish) {
    auto mapping = parse_publish(text);
    if (!mapping) return fail_run(mapping.error());
    config.network.port_mappings.push_back(std::move(*mapping));
  }
  if (!config.network.port_mappings.empty() && args.network != "bridge") {
    std::fprintf(stderr, "zlayer-agent: -p needs the bridge network, not --network %s\n",
                 args.network.c_str());
    return kAgentFailed;
  }
  if (!args.memory.empty()) {
    auto bytes = parse_byte_quantity(args.memory);
    if (!bytes) return fail_run(bytes.error().wrap("--memory"));
    config.resources.memory_bytes = *bytes;
  }
  if (!args.cpus.empty()) {
    auto cpus = parse_cpus(args.cpus);
    if (!cpus) return fail_run(cpus.error());
    config.resources.cpus = *cpus;
  }
  for (const auto& volume : args.volumes) {
    auto entry = parse_volume(volume);
    if (!entry) return fail_run(entry.error());
    config.storage.push_back(std::move(*entry));
  }
  for (const auto& kv : args.env) {
    if (kv.find('=') == std::string::npos || kv.front() == '=') {
      std::fprintf(stderr, "zlayer-agent: -e expects KEY=VALUE, not \"%s\"\n", kv.c_str());
      return 2;
    }
  }
  config.env = args.env;
  if (!args.user.empty()) config.user = args.user;
  if (args.rest.size() > 1) {
    config.args = std::vector<std::string>(args.rest.begin() + 1, args.rest.end());
  }
  auto id = container_id_for(args.name);
  if (!id) return fail_run(id.error());

  LinuxConfig linux = linux_config();
  auto images = image::ImageService::open(linux.paths, image::RegistryOptions::default_options());
  if (!images) return fail_run(images.error());
  const std::string& image_text = args.rest.front();
  auto details = (*images)->inspect(image_text);
  if (!details && details.error().code == Errc::kNotFound) {
    auto ref = image::Reference::parse(image_text);
    if (!ref) return fail_run(ref.error());
    auto pulled = (*images)->pull(*ref);
    if (!pulled) return fail_run(pulled.error());
    details = pulled->image;
  }
  if (!details) return fail_run(details.error());
  config.image_ref = details->record.name;
  config.image = details->config;

  auto backend = LinuxRuntime::open(std::move(linux), **images);
  if (!backend) return fail_run(backend.error());
  LinuxRuntime& rt = **backend;
  if (auto created = rt.create_container(*id, config); !created) {
    return fail_create(created.error());
  }
  auto cleanup = [&] {
    if (!args.remove) return;
    if (auto removed = rt.remove_container(*id); !removed) {
      std::fprintf(stderr, "zlayer-agent: %s\n", removed.error().message.c_str());
    }
  };
  UniqueFd attached;
  if (attach) {
    auto connected = runtime::linux::connect_unix(rt.attach_socket_path(*id), SOCK_SEQPACKET);
    if (!connected) {
      (void)rt.kill_container(*id, SIGKILL);
      if (!args.remove) (void)rt.wait_container(*id);
      cleanup();
      return fail_run(connected.error().wrap("attaching"));
    }
    attached = std::move(*connected);
  }
  if (auto started = rt.start_container(*id); !started) {
    cleanup();
    return fail_run(started.error());
  }
  if (args.detach) {
    std::printf("%s\n", id->str().c_str());
    return 0;
  }
  forward_signals(rt.oci(), id->str());
  if (attach) {
    if (auto relayed = relay(std::move(attached), args.interactive, args.tty); !relayed) {
      std::fprintf(stderr, "zlayer-agent: %s\n", relayed.error().message.c_str());
    }
    auto exit = rt.wait_container(*id);
    cleanup();
    if (!exit) return fail_run(exit.error());
    return exit->exit_code;
  }
  runtime::LogOptions follow;
  follow.follow = true;
  auto streamed = rt.container_logs(*id, follow, [](const runtime::LogEntry& e) -> Status {
    std::FILE* out = e.is_stderr ? stderr : stdout;
    std::fwrite(e.text.data(), 1, e.text.size(), out);
    std::fputc('\n', out);
    std::fflush(out);
    return {};
  });
  if (!streamed) std::fprintf(stderr, "zlayer-agent: %s\n", streamed.error().message.c_str());
  auto exit = rt.wait_container(*id);
  cleanup();
  if (!exit) return fail_run(exit.error());
  return exit->exit_code;
}

// Runs `body` on the container named `text` (name, full id or unique prefix): a WASM instance
// through the wasm backend, anything else through the linux backend; exit 1 on its error.
int with_any_container(const std::string& text,
                       const std::function<Status(runtime::Runtime&, const ContainerId&)>& body) {
  if (is_wasm_container(text)) {
    auto id = container_id_for(text);
    if (!id) return fail(id.error());
    auto wasm = open_wasm_runtime();
    if (!wasm) return fail(wasm.error());
    auto done = body(**wasm, *id);
    if (!done) return fail(done.error());
    return 0;
  }
  return with_container(text,
                        [&](LinuxRuntime& rt, const ContainerId& id) { return body(rt, id); });
}

}  // namespace

void register_run_commands(CLI::App& app, Commands& commands) {
  {
    auto* cmd = app.add_subcommand("run", "Run a command in a new container (foreground)");
    auto args = std::make_shared<RunArgs>();
    cmd->add_flag("--rm", args->remove, "remove the container when it exits");
    cmd->add_flag("-d,--detach", args->detach, "start it and print its name");
    cmd->add_flag("-i,--interactive", args->interactive, "keep stdin open and forward it");
    cmd->add_flag("-t,--tty", args->tty, "give the container a terminal");
    cmd->add_option("--restart", args->restart,
                    "restart policy: no, always, on-failure[:N], unless-stopped");
    cmd->add_option("--name", args->name, "container name (a service name, or NAME-rep-N)");
    cmd->add_option("-e,--env", args->env, "environment variable KEY=VALUE (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("-m,--memory", args->memory, "memory limit: bytes, or 64m, 1g …");
    cmd->add_option("-u,--user", args->user, "user in the image: name, uid, name:group, uid:gid");
    cmd->add_option("--cpus", args->cpus, "CPU limit as a share of cores: 0.5, 2");
    cmd->add_option("-v,--volume", args->volumes,
                    "SRC:DST[:ro] bind mount (absolute SRC) or named volume (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--network", args->network, "bridge (default), host or none");
    cmd->add_option("-p,--publish", args->publish,
                    "publish a port: [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] (repeatable)")
        ->allow_extra_args(false);
    // IMAGE and everything after it go to the container, flags such as `-c` included.
    cmd->prefix_command();
    cmd->callback([=, &commands] {
      args->rest = cmd->remaining();
      commands.selected = [=] { return run_container(*args); };
    });
  }
  {
    auto* cmd = app.add_subcommand("stop", "Stop containers: stop signal, then SIGKILL");
    auto names = std::make_shared<std::vector<std::string>>();
    auto seconds = std::make_shared<int>(10);
    cmd->add_option("-t,--time", *seconds, "seconds to wait before SIGKILL (default 10)");
    cmd->add_option("CONTAINER", *names, "container names, ids or unique id prefixes")->required();
    cmd->callback([=, &commands] {
      commands.selected = [=] {
        return for_each_container(*names, [&](const std::string& name) {
          return with_any_container(name, [&](runtime::Runtime& rt, const ContainerId& id) {
            return rt.stop_container(id, std::chrono::seconds(*seconds));
          });
        });
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("rm", "Remove containers");
    auto names = std::make_shared<std::vector<std::string>>();
    auto force = std::make_shared<bool>(false);
    cmd->add_flag("-f,--force", *force, "kill it first when it is running");
    cmd->add_option("CONTAINER", *names, "container names, ids or unique id prefixes")->required();
    cmd->callback([=, &commands] {
      commands.selected = [=] {
        return for_each_container(*names, [&](const std::string& name) {
          return with_any_container(
              name, [&](runtime::Runtime& rt, const ContainerId& id) -> Status {
                ZLAYER_TRY(state, rt.container_state(id));
                if (!*force && !state.is_finished() &&
                    state.phase != runtime::ContainerState::Phase::kCreated) {
                  return errorf(Errc::kFailedPrecondition,
                                "container {} is {}; stop it first or use rm -f", id.str(),
                                state.phase_name());
                }
                // -f: SIGKILL first (remove also does, but a kill that fails should say so).
                if (*force && state.can_stop()) {
                  if (auto killed = rt.kill_container(id, SIGKILL);
                      !killed && killed.error().code != Errc::kFailedPrecondition &&
                      killed.error().code != Errc::kNotFound) {
                    return killed;
                  }
                }
                return rt.remove_container(id);
              });
        });
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("logs", "Print a container's output");
    auto name = std::make_shared<std::string>();
    auto options = std::make_shared<runtime::LogOptions>();
    cmd->add_flag("-f,--follow", options->follow, "keep printing until the container exits");
    cmd->add_option("--tail", options->tail, "only the last N lines");
    cmd->add_flag("-t,--timestamps", options->timestamps, "prefix each line with its time");
    auto since = std::make_shared<std::string>();
    auto until = std::make_shared<std::string>();
    cmd->add_option("--since", *since,
                    "only lines at or after T: RFC 3339, Unix seconds or a duration (10m = ago)");
    cmd->add_option("--until", *until, "only lines before T (same forms as --since)");
    cmd->add_option("CONTAINER", *name, "container name, id or unique id prefix")->required();
    cmd->callback([=, &commands] {
      commands.selected = [=]() -> int {
        const auto now = SystemClock::instance().wall_now();
        for (const auto& [flag, text, field] : {std::tuple{"--since", since, &options->since},
                                                std::tuple{"--until", until, &options->until}}) {
          if (text->empty()) continue;
          auto parsed = parse_time_or_duration(*text, now);
          if (!parsed) {
            std::fprintf(stderr, "zlayer-agent: %s: %s\n", flag, parsed.error().message.c_str());
            return 2;
          }
          *field = *parsed;
        }
        return with_any_container(*name, [&](runtime::Runtime& rt, const ContainerId& id) {
          return rt.container_logs(id, *options, [](const runtime::LogEntry& e) -> Status {
            std::FILE* out = e.is_stderr ? stderr : stdout;
            std::fwrite(e.text.data(), 1, e.text.size(), out);
            std::fputc('\n', out);
            std::fflush(out);
            return {};
          });
        });
      };
    });
  }
  {
    auto* cmd = app.add_subcommand("exec", "Run a command in a running container");
    auto name = std::make_shared<std::string>();
    auto rest = std::make_shared<std::vector<std::string>>();
    cmd->prefix_command();
    cmd->callback([=, &commands] {
      *rest = cmd->remaining();
      commands.selected = [=]() -> int {
        if (rest->size() < 2) {
          std::fprintf(stderr, "zlayer-agent: exec needs CONTAINER and a command\n");
          return 2;
        }
        int code = 0;
        int status = with_any_container(
            rest->front(), [&](runtime::Runtime& rt, const ContainerId& id) -> Status {
              runtime::ExecOptions options;
              options.command.assign(rest->begin() + 1, rest->end());
              ZLAYER_TRY(result, rt.exec(id, options));
              std::fwrite(result.stdout_text.data(), 1, result.stdout_text.size(), stdout);
              std::fwrite(result.stderr_text.data(), 1, result.stderr_text.size(), stderr);
              code = result.exit_code;
              return {};
            });
        return status != 0 ? status : code;
      };
    });
  }
}

}  // namespace zlayer::cli
