// `deploy [--dry-run] FILE`: load and validate a deployment spec; with --dry-run print the plan
// (or every problem) and stop. Without it, run the deployment in the foreground like
// `docker compose up`: pull the images, start the ServiceManager on this thread's event loop,
// show the status, and on SIGINT/SIGTERM stop and remove every replica in reverse dependency
// order before exiting.
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "agent/control_socket.h"
#include "agent/endpoint_publisher.h"
#include "agent/event_loop.h"
#include "agent/prober.h"
#include "agent/recorder.h"
#include "agent/service_manager.h"
#include "cli/commands.h"
#include "cli/deploy_status.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/paths.h"
#include "core/time_format.h"
#include "image/image_service.h"
#include "runtime/per_thread_runtime.h"
#include "spec/parse.h"
#include "spec/plan.h"
#include "spec/secret_store.h"
#include "state/state_db.h"
#include "wasm/backend_for_image.h"
#include "wasm/wasm_runtime.h"

namespace zlayer::cli {
namespace {

struct DeployArgs {
  std::string file;
  bool dry_run = false;
};

// Every problem, compiler style ("demo.yaml:12: services.api.resources.memory: …"), so editors
// can jump to them.
void print_diagnostics(const std::string& file, const std::vector<spec::Diagnostic>& list,
                       const char* kind) {
  for (const auto& d : list) {
    if (d.line > 0) {
      std::fprintf(stderr, "%s:%d: %s: %s\n", file.c_str(), d.line, kind, d.str().c_str());
    } else {
      std::fprintf(stderr, "%s: %s: %s\n", file.c_str(), kind, d.str().c_str());
    }
  }
}

std::string endpoints_text(const spec::ServiceSpec& service) {
  std::string out;
  for (const auto& e : service.endpoints) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} :{}", e.name, spec::to_string(e.protocol), e.port);
    if (e.effective_target_port() != e.port) out += fmt::format("->{}", e.effective_target_port());
    if (e.expose == spec::ExposeType::kPublic) out += " public";
  }
  return out.empty() ? "-" : out;
}

void print_plan(const spec::DeploymentPlan& plan) {
  std::printf("deployment %s: %zu service%s, start order:\n", plan.deployment.c_str(),
              plan.services.size(), plan.services.size() == 1 ? "" : "s");
  std::printf("  %-3s %-20s %-8s %-9s %-10s %s\n", "#", "SERVICE", "RTYPE", "REPLICAS", "BACKEND",
              "ENDPOINTS");
  int index = 0;
  for (const auto& s : plan.services) {
    std::string replicas = s.spec->rtype == spec::ResourceType::kService
                               ? std::to_string(s.replicas)
                               : std::string("-");
    std::printf("  %-3d %-20s %-8s %-9s %-10s %s\n", ++index, s.name.c_str(),
                std::string(spec::to_string(s.spec->rtype)).c_str(), replicas.c_str(),
                std::string(spec::to_string(s.backend)).c_str(), endpoints_text(*s.spec).c_str());
  }
  for (const auto& s : plan.services) {
    std::printf("  %s: backend %s (%s; the pulled image decides)\n", s.name.c_str(),
                std::string(spec::to_string(s.backend)).c_str(), s.backend_reason.c_str());
    if (s.spec->rtype == spec::ResourceType::kJob) {
      std::printf("  %s: job — validated; jobs are not run by deploy yet\n", s.name.c_str());
    } else if (s.spec->rtype == spec::ResourceType::kCron) {
      std::printf("  %s: cron \"%s\" — validated; cron jobs are not run by deploy yet\n",
                  s.name.c_str(), s.spec->schedule.value_or("").c_str());
    }
    for (const auto& d : s.spec->depends) {
      std::printf("  %s: waits for %s to be %s (timeout %s, then %s)\n", s.name.c_str(),
                  d.service.c_str(), std::string(spec::to_string(d.condition)).c_str(),
                  spec::format_duration(d.timeout).c_str(),
                  std::string(spec::to_string(d.on_timeout)).c_str());
    }
  }
}

// Loads FILE and reports every problem and warning; the spec only when it is valid.
std::optional<spec::DeploymentSpec> load_checked(const std::string& file) {
  auto text = read_file(file);
  if (!text) {
    fail(text.error());
    return std::nullopt;
  }
  spec::SpecReport report = spec::check_spec(*text);
  print_diagnostics(file, report.warnings, "warning");
  if (!report.ok()) {
    print_diagnostics(file, report.errors, "error");
    std::fprintf(stderr,
                 "zlayer-agent: %s: invalid deployment spec (%zu problem%s); nothing started\n",
                 file.c_str(), report.errors.size(), report.errors.size() == 1 ? "" : "s");
    return std::nullopt;
  }
  return std::move(report.spec);
}

// The supervision timings from the environment, so end-to-end tests (and impatient demos) run in
// seconds: each ZLAYER_SUPERVISION_<NAME> is a Go duration ("200ms", "1s").
// Errors: kInvalidArgument naming the variable and its value.
Result<agent::SupervisionConfig> supervision_config_from_env() {
  agent::SupervisionConfig config;
  const std::pair<const char*, Clock::Duration*> knobs[] = {
      {"ZLAYER_SUPERVISION_RESTART_BACKOFF", &config.restart_backoff_initial},
      {"ZLAYER_SUPERVISION_RESTART_BACKOFF_MAX", &config.restart_backoff_max},
      {"ZLAYER_SUPERVISION_BACKOFF_RESET_AFTER", &config.backoff_reset_after},
      {"ZLAYER_SUPERVISION_EXIT_POLL_INTERVAL", &config.exit_poll_interval},
      {"ZLAYER_SUPERVISION_HEALTH_INTERVAL", &config.health_interval},
      {"ZLAYER_SUPERVISION_HEALTH_TIMEOUT", &config.health_timeout},
      {"ZLAYER_SUPERVISION_INIT_BACKOFF", &config.init_backoff_initial},
      {"ZLAYER_SUPERVISION_INIT_BACKOFF_MAX", &config.init_backoff_max},
      {"ZLAYER_SUPERVISION_INIT_POLL_INTERVAL", &config.init_poll_interval},
      {"ZLAYER_SUPERVISION_STOP_GRACE", &config.stop_grace},
  };
  for (const auto& [name, field] : knobs) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    auto parsed = parse_duration(value);
    if (!parsed) {
      return errorf(Errc::kInvalidArgument, "{}=\"{}\": not a duration like 500ms or 2s", name,
                    value);
    }
    *field = *parsed;
  }
  return config;
}

// Pulls every image the spec names that is not in the store yet, before anything starts (as
// compose does): the backend of a service is chosen from its pulled image, and a missing image
// fails the deploy with nothing started. Errors: the pull's, naming the image.
Status pull_images(image::ImageService& images, const spec::DeploymentSpec& spec) {
  std::set<std::string> seen;
  for (const auto& [name, service] : spec.services) {
    const std::string& ref = service.image.name;
    if (!seen.insert(ref).second) continue;
    if (images.inspect(ref)) continue;
    std::fprintf(stderr, "pulling %s (service %s)\n", ref.c_str(), name.c_str());
    ZLAYER_TRY(parsed, image::Reference::parse(ref));
    auto pulled = images.pull(parsed);
    if (!pulled) return tl::unexpected(pulled.error().wrap(fmt::format("service {}", name)));
  }
  return {};
}

// Signals that end the foreground deploy. They are blocked in every thread (set before any
// thread starts) and taken by one sigwait() thread, which asks the loop to shut down.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

// The first host address of an IPv4 CIDR: the bridge's gateway (host-local IPAM with isGateway),
// where containers reach the agent's endpoint proxies. Errors: kInvalidArgument.
Result<std::string> bridge_gateway(const std::string& subnet) {
  const std::string base = subnet.substr(0, subnet.find('/'));
  in_addr addr{};
  if (::inet_pton(AF_INET, base.c_str(), &addr) != 1) {
    return errorf(Errc::kInvalidArgument, "bridge subnet \"{}\" is not an IPv4 CIDR", subnet);
  }
  addr.s_addr = htonl(ntohl(addr.s_addr) + 1);
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &addr, text, sizeof(text));
  return std::string(text);
}

// How long a control request may wait for the owner's loop.
constexpr std::chrono::seconds kControlTimeout{60};

std::filesystem::path deployment_lock(const Paths& paths, const std::string& name) {
  return paths.runtime_dir / "deployments" / (name + ".lock");
}
std::filesystem::path control_socket(const Paths& paths, const std::string& name) {
  return paths.runtime_dir / "deployments" / (name + ".sock");
}

// What a control request acts on; every member lives on the loop thread except `hosts`.
struct ControlTarget {
  agent::ServiceManager& manager;
  agent::EventLoop& loop;
  agent::EndpointPublisher& endpoints;
  agent::ServiceHosts& hosts;  // read by the ConfigBuilder on executor threads
  std::string gateway;         // where the service names point inside containers
};

// A redeploy: the endpoints' new listeners open first, so a port in use refuses the spec with
// nothing changed; the service names of the new spec are in place before the manager creates a
// container of it; on any error both go back.
Status redeploy(ControlTarget& target, const spec::DeploymentSpec& spec, const std::string& text) {
  auto change = target.endpoints.prepare(spec);
  if (!change) return unexpected(change.error().wrap("redeploy refused; nothing changed"));
  std::vector<std::string> previous_hosts = target.hosts.entries();
  target.hosts.set(agent::service_host_entries(spec, target.gateway));
  if (auto deployed = target.manager.deploy(spec, text); !deployed) {
    target.hosts.set(std::move(previous_hosts));
    return deployed;  // `change` closes the listeners it opened
  }
  target.endpoints.apply(std::move(*change));
  return {};
}

// A control request, carried out on the loop thread: "down", "scale", "deploy" (docs/cli.md).
nlohmann::json handle_control(const nlohmann::json& request, ControlTarget& target) {
  agent::ServiceManager& manager = target.manager;
  agent::EventLoop& loop = target.loop;
  const auto fail = [](const std::string& message) {
    return nlohmann::json{{"ok", false}, {"error", message}};
  };
  const std::string op = request.value("op", std::string());
  if (op == "down") {
    manager.shutdown([&loop] { loop.stop(); });
    return {{"ok", true}};
  }
  if (op == "scale") {
    const std::string service = request.value("service", std::string());
    const auto replicas = request.value("replicas", std::int64_t{-1});
    if (replicas < 0) return fail("scale needs replicas >= 0");
    auto scaled = manager.scale(service, static_cast<std::uint32_t>(replicas));
    if (!scaled) return fail(scaled.error().message);
    return {{"ok", true}};
  }
  if (op == "deploy") {
    const std::string text = request.value("spec", std::string());
    spec::SpecReport report = spec::check_spec(text);
    if (!report.ok()) {
      std::string message = "invalid deployment spec; nothing changed:";
      for (const auto& d : report.errors) message += "\n  " + d.str();
      return fail(message);
    }
    auto deployed = redeploy(target, *report.spec, text);
    if (!deployed) return fail(deployed.error().message);
    return {{"ok", true}};
  }
  return fail(fmt::format("unknown control request \"{}\"", op));
}

// What the signal thread may touch: the loop, while it exists.
struct SignalTarget {
  std::mutex mutex;
  agent::EventLoop* loop = nullptr;
  std::function<void(int)> on_signal;  // runs on the loop thread
};

// What the owner does once it holds the deployment.
enum class OwnerMode {
  kDeploy,    // bring `spec` up (taking over what a dead owner left) and supervise it
  kTakeDown,  // `down` of a deployment whose owner died: take over what it left, then stop it
};

// The spec a dead owner last applied, for adopt(); `fallback` (the spec being deployed) when the
// stored text no longer parses (written by another version).
spec::DeploymentSpec previous_spec(const agent::PersistedDeployment& persisted,
                                   const spec::DeploymentSpec& fallback) {
  spec::SpecReport report = spec::check_spec(persisted.spec_text);
  if (report.ok()) return std::move(*report.spec);
  std::fprintf(stderr,
               "zlayer-agent: warning: the spec stored for deployment %s does not parse any more; "
               "taking its replicas over with the new spec\n",
               fallback.deployment.c_str());
  return fallback;
}

// Runs the owner of deployment `spec.deployment` in the foreground until it is taken down (a
// signal, `down`) or fails to start. In kTakeDown mode `spec` is the one state.db holds.
Result<int> run_foreground(const spec::DeploymentSpec& spec, const std::string& spec_text,
                           OwnerMode mode = OwnerMode::kDeploy) {
  ZLAYER_TRY(supervision, supervision_config_from_env());
  runtime::linux::LinuxConfig linux = linux_config();
  const Paths paths = linux.paths;

  // One owner per deployment (docs/design.md §5): a second foreground deploy of the same name
  // would fight over the same replicas.
  auto owner_lock = FileLock::try_acquire(deployment_lock(paths, spec.deployment));
  if (!owner_lock) {
    if (owner_lock.error().code != Errc::kUnavailable) {
      return tl::unexpected(owner_lock.error());
    }
    if (mode == OwnerMode::kTakeDown) {
      return errorf(Errc::kUnavailable,
                    "deployment {} got an owner meanwhile; run `zlayer-agent down {}` again",
                    spec.deployment, spec.deployment);
    }
    // Someone owns it: a redeploy goes to the owner, which rolls out what changed.
    ZLAYER_CHECK(agent::control_request(control_socket(paths, spec.deployment),
                                        {{"op", "deploy"}, {"spec", spec_text}}, kControlTimeout));
    std::printf("deployment %s: handed to its running owner (rolling update of what changed)\n",
                spec.deployment.c_str());
    return 0;
  }

  ZLAYER_TRY(images, image::ImageService::open(paths, image::RegistryOptions::default_options()));
  // Taking a deployment down needs no image; an offline node must still be able to.
  if (mode == OwnerMode::kDeploy) ZLAYER_CHECK(pull_images(*images, spec));

  // LinuxRuntime is one per thread; the manager's workers each get their own.
  image::ImageService& image_store = *images;
  runtime::PerThreadRuntime linux_runtime(
      [linux, &image_store]() -> Result<std::unique_ptr<runtime::Runtime>> {
        ZLAYER_TRY(rt, runtime::linux::LinuxRuntime::open(linux, image_store));
        return std::unique_ptr<runtime::Runtime>(std::move(rt));
      });
  // Fail before starting anything when the backend cannot run here (no OCI runtime, …).
  ZLAYER_CHECK(linux_runtime.list_containers());

  agent::ServiceManagerOptions options;
  options.supervision = supervision;
  // WASM modules run in this process on the wasm backend (thread-safe, one for all workers).
  ZLAYER_TRY(wasm_runtime,
             wasm::WasmRuntime::open(runtime::WasmConfig{.paths = paths}, &image_store));
  options.resolve_runtime = [&image_store, &linux_runtime, &wasm_runtime](
                                const spec::ServiceSpec& service) -> Result<agent::RuntimeBinding> {
    ZLAYER_TRY(backend, wasm::backend_for_image(image_store, service.image.name));
    if (backend == wasm::ImageBackend::kWasm) {
      return agent::RuntimeBinding{wasm_runtime.get(), "wasm"};
    }
    return agent::RuntimeBinding{&linux_runtime, "linux"};
  };
  spec::SecretStore secrets(paths.root_dir);
  auto spec_builder = agent::spec_config_builder(
      [&image_store](const std::string& ref) -> Result<image::ImageConfig> {
        ZLAYER_TRY(details, image_store.inspect(ref));
        return details.config;
      },
      &secrets);
  // Inside containers on the bridge, `web` and `web.service` name the gateway, where the
  // endpoint proxies listen too (docs/design.md "Endpoints").
  ZLAYER_TRY(gateway, bridge_gateway(linux.network.subnet));
  // A redeploy replaces the entries (handle_control), so they are shared and locked.
  auto service_hosts = std::make_shared<agent::ServiceHosts>();
  service_hosts->set(agent::service_host_entries(spec, gateway));
  options.build_config = [spec_builder, service_hosts](
                             const std::string& deployment, const std::string& service,
                             const spec::ServiceSpec& service_spec,
                             const ContainerId& id) -> Result<runtime::ContainerConfig> {
    ZLAYER_TRY(config, spec_builder(deployment, service, service_spec, id));
    if (config.network.mode == runtime::NetworkMode::kBridge) {
      const std::vector<std::string> hosts = service_hosts->entries();
      config.extra_hosts.insert(config.extra_hosts.end(), hosts.begin(), hosts.end());
    }
    return config;
  };
  agent::NetworkProber prober;
  options.prober = &prober;

  ZLAYER_TRY(db, state::StateDb::open(paths.state_db()));
  // Replicas recorded for this deployment while nobody owns it were left by an owner that died
  // (a clean owner removes them all): take them over instead of starting beside them.
  ZLAYER_TRY(persisted, agent::load_deployment(db, spec.deployment));
  std::optional<spec::DeploymentSpec> previous;
  if (persisted && !persisted->replicas.empty()) previous = previous_spec(*persisted, spec);
  SystemClock clock;
  agent::Recorder recorder(&db, clock);

  // Signals are blocked before the first thread starts, so only the signal thread takes them.
  const sigset_t signals = stop_signals();
  if (int err = pthread_sigmask(SIG_BLOCK, &signals, nullptr); err != 0) {
    return sys_error("blocking SIGINT/SIGTERM for the deploy", err);
  }
  // Its thread starts with the signals blocked. Declared before the loop and the manager, so it
  // outlives both (the manager cancels its watches when it goes).
  ZLAYER_TRY(exit_watcher, agent::ExitWatcher::open());
  options.exit_watcher = exit_watcher.get();
  int exit_code = 0;
  {
    // Most blocking calls wait rather than compute (a stop waits up to its grace period for the
    // container, a probe for its answer), so the pool is wider than the CPU count: 16 stops of
    // containers that ignore SIGTERM take one grace period, not 16.
    auto pool = std::make_unique<agent::ThreadPool>(
        std::max(16U, 2 * std::thread::hardware_concurrency()));
    agent::EventLoop loop(clock, *pool);
    agent::ServiceManager manager(loop, recorder, options);
    // Endpoints listen on every host address (the bridge gateway included) before anything
    // starts, so a port in use fails the deploy with nothing started.
    const char* bind = std::getenv("ZLAYER_ENDPOINT_ADDRESS");
    // Taking down publishes nothing (a port taken meanwhile must not stop a `down`).
    spec::DeploymentSpec published = spec;
    if (mode == OwnerMode::kTakeDown) {
      for (auto& [name, service] : published.services) service.endpoints.clear();
    }
    ZLAYER_TRY(endpoints, agent::EndpointPublisher::open(
                              published, manager, bind != nullptr && *bind ? bind : "0.0.0.0"));
    recorder.add_sink(endpoints.get());
    DeployStatus status(loop, manager, stdout, ::isatty(STDOUT_FILENO) == 1);
    recorder.add_sink(&status);

    auto target = std::make_shared<SignalTarget>();
    target->loop = &loop;
    target->on_signal = [&](int sig) {
      if (manager.shutting_down()) {
        std::fprintf(stderr, "zlayer-agent: %s again; still stopping deployment %s\n",
                     strsignal(sig), spec.deployment.c_str());
        return;
      }
      std::fprintf(stderr, "zlayer-agent: %s: stopping deployment %s\n", strsignal(sig),
                   spec.deployment.c_str());
      manager.shutdown([&loop] { loop.stop(); });
    };
    // Detached: it may sit in sigwait() until the process exits; it reaches the loop only
    // through `target`, which is cleared before the loop goes away.
    std::thread([target, signals] {
      int sig = 0;
      while (sigwait(&signals, &sig) == 0) {
        std::lock_guard lock(target->mutex);
        if (target->loop == nullptr) return;
        target->loop->post([target, sig] { target->on_signal(sig); });
      }
    }).detach();

    // The control socket: requests run on the loop; the server thread waits for the answer.
    ControlTarget control_target{manager, loop, *endpoints, *service_hosts, gateway};
    ZLAYER_TRY(control,
               agent::ControlServer::open(
                   control_socket(paths, spec.deployment),
                   [&loop, &control_target](const nlohmann::json& request) -> nlohmann::json {
                     auto answer = std::make_shared<std::promise<nlohmann::json>>();
                     auto future = answer->get_future();
                     loop.post([&, request, answer] {
                       answer->set_value(handle_control(request, control_target));
                     });
                     if (future.wait_for(kControlTimeout) != std::future_status::ready) {
                       return {{"ok", false}, {"error", "the deployment is stopping"}};
                     }
                     return future.get();
                   }));

    loop.post([&] {
      Status started;
      if (previous) started = manager.adopt(*previous, *persisted);
      if (started && mode == OwnerMode::kDeploy) started = manager.deploy(spec, spec_text);
      if (!started) {
        std::fprintf(stderr, "zlayer-agent: %s\n", started.error().message.c_str());
        exit_code = 1;
      }
      if (!started || mode == OwnerMode::kTakeDown) manager.shutdown([&loop] { loop.stop(); });
    });
    loop.run();
    control.reset();
    // Work still in flight (a probe) finishes and posts into the loop, which no longer runs;
    // the pool goes first so nothing posts into a destroyed loop.
    pool.reset();
    status.redraw();
    recorder.remove_sink(&status);
    recorder.remove_sink(endpoints.get());
    {
      std::lock_guard lock(target->mutex);
      target->loop = nullptr;
    }
  }
  std::fprintf(stderr, "deployment %s stopped; every replica removed\n", spec.deployment.c_str());
  return exit_code;
}

// `down` of a deployment without a live owner: nullopt when there is an owner after all or
// state.db knows nothing of it; otherwise the exit code of taking it down.
std::optional<int> take_down_orphaned(const Paths& paths, const std::string& name) {
  {
    auto lock = FileLock::try_acquire(deployment_lock(paths, name));
    if (!lock) return std::nullopt;  // owned (its socket did not answer) or unreadable
  }
  auto db = state::StateDb::open(paths.state_db());
  if (!db) return std::nullopt;
  auto persisted = agent::load_deployment(*db, name);
  if (!persisted || !*persisted || (*persisted)->replicas.empty()) return std::nullopt;
  spec::SpecReport report = spec::check_spec((*persisted)->spec_text);
  if (!report.ok()) {
    std::fprintf(stderr,
                 "zlayer-agent: deployment %s: the stored spec does not parse; remove its "
                 "containers with `zlayer-agent rm -f`\n",
                 name.c_str());
    return 1;
  }
  std::fprintf(stderr, "deployment %s has no running owner; taking it down\n", name.c_str());
  auto code = run_foreground(*report.spec, (*persisted)->spec_text, OwnerMode::kTakeDown);
  if (!code) return fail(code.error());
  if (*code == 0) std::printf("deployment %s down\n", name.c_str());
  return *code;
}

int run_deploy(const DeployArgs& args) {
  auto spec = load_checked(args.file);
  if (!spec) return 1;
  auto plan = spec::plan_deployment(*spec);
  if (!plan) return fail(plan.error());
  if (args.dry_run) {
    print_plan(*plan);
    return 0;
  }
  auto text = read_file(args.file);
  if (!text) return fail(text.error());
  auto code = run_foreground(*spec, *text);
  if (!code) return fail(code.error());
  return *code;
}

// `down NAME`: asks the owner to stop and remove everything, then waits until it has let go of
// the deployment's lock (its replicas are gone by then).
// With no owner (it died), `down` takes over what it left and removes it.
int run_down(const std::string& name) {
  const Paths paths = Paths::from_env();
  auto sent =
      agent::control_request(control_socket(paths, name), {{"op", "down"}}, kControlTimeout);
  if (!sent) {
    auto orphaned = take_down_orphaned(paths, name);
    if (!orphaned) return fail(sent.error().wrap(fmt::format("deployment {}", name)));
    return *orphaned;
  }
  auto released = FileLock::acquire(deployment_lock(paths, name));
  if (!released) return fail(released.error());
  std::printf("deployment %s down\n", name.c_str());
  return 0;
}

int run_scale(const std::string& name, const std::string& service, std::uint32_t replicas) {
  const Paths paths = Paths::from_env();
  auto sent = agent::control_request(
      control_socket(paths, name), {{"op", "scale"}, {"service", service}, {"replicas", replicas}},
      kControlTimeout);
  if (!sent) return fail(sent.error().wrap(fmt::format("deployment {}", name)));
  std::printf("deployment %s: %s scaling to %u\n", name.c_str(), service.c_str(), replicas);
  return 0;
}

}  // namespace

void register_deploy_commands(CLI::App& app, Commands& commands) {
  {
    auto* down = app.add_subcommand("down", "Stop and remove a deployment run by `deploy`");
    auto name = std::make_shared<std::string>();
    down->add_option("NAME", *name, "deployment name")->required();
    down->callback([=, &commands] { commands.selected = [=] { return run_down(*name); }; });
  }
  {
    auto* scale = app.add_subcommand("scale", "Set the replica count of a service of a deployment");
    auto name = std::make_shared<std::string>();
    auto service = std::make_shared<std::string>();
    auto replicas = std::make_shared<std::uint32_t>(0);
    scale->add_option("NAME", *name, "deployment name")->required();
    scale->add_option("SERVICE", *service, "service name")->required();
    scale->add_option("N", *replicas, "replicas")->required();
    scale->callback([=, &commands] {
      commands.selected = [=] { return run_scale(*name, *service, *replicas); };
    });
  }
  auto* cmd =
      app.add_subcommand("deploy", "Deploy a spec file (--dry-run: validate and print the plan)");
  auto args = std::make_shared<DeployArgs>();
  cmd->add_flag("--dry-run", args->dry_run, "validate and print the plan; start nothing");
  cmd->add_option("FILE", args->file, "deployment spec (YAML)")->required();
  cmd->callback([=, &commands] { commands.selected = [=] { return run_deploy(*args); }; });
}

}  // namespace zlayer::cli
