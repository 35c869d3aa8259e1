#include "agent/service_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <ranges>
#include <set>

#include "spec/env.h"
#include "spec/to_container_config.h"

namespace zlayer::agent {
namespace {

std::string seconds_text(Clock::Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// What a health check of a service probes; none = healthy while running.
struct ProbePlan {
  enum class Kind { kTcp, kHttp, kCommand };
  Kind kind = Kind::kTcp;
  std::uint16_t port = 0;
  std::string url;
  std::uint16_t expect_status = 200;
  std::string command;
  Clock::Duration interval{};
  Clock::Duration timeout{};
};

std::optional<ProbePlan> probe_plan(const spec::ServiceSpec& service,
                                    const SupervisionConfig& config) {
  ProbePlan plan;
  plan.interval = service.health.interval.value_or(config.health_interval);
  plan.timeout = service.health.timeout.value_or(config.health_timeout);
  if (const auto* tcp = std::get_if<spec::TcpCheck>(&service.health.check)) {
    plan.kind = ProbePlan::Kind::kTcp;
    plan.port = tcp->port;
    // Port 0 means "the first endpoint" (upstream); with no endpoint there is nothing to probe,
    // and the replica is healthy while it runs (upstream would probe port 8080; we do not).
    if (plan.port == 0) {
      if (service.endpoints.empty()) return std::nullopt;
      plan.port = service.endpoints.front().effective_target_port();
    }
  } else if (const auto* http = std::get_if<spec::HttpCheck>(&service.health.check)) {
    plan.kind = ProbePlan::Kind::kHttp;
    plan.url = http->url;
    plan.expect_status = http->expect_status;
  } else if (const auto* command = std::get_if<spec::CommandCheck>(&service.health.check)) {
    plan.kind = ProbePlan::Kind::kCommand;
    plan.command = command->command;
  }
  return plan;
}

// The spec with `scale` neutralised: equal means only the replica count changed.
spec::ServiceSpec without_scale(spec::ServiceSpec service) {
  service.scale = spec::ScaleSpec{};
  return service;
}

bool is_not_found(const Status& status) {
  return !status && status.error().code == Errc::kNotFound;
}

}  // namespace

ConfigBuilder spec_config_builder(ImageConfigLookup image_config,
                                  const spec::SecretStore* secrets) {
  return [image_config = std::move(image_config), secrets](
             const std::string& deployment, const std::string& service,
             const spec::ServiceSpec& spec,
             const ContainerId& id) -> Result<runtime::ContainerConfig> {
    (void)id;
    spec::EnvResolver resolver{deployment, service, secrets, {}};
    ZLAYER_TRY(env, spec::resolve_env(spec::merged_env(spec, nullptr), resolver));
    ZLAYER_TRY(image, image_config(spec.image.name));
    spec::ContainerConfigInput input{deployment, service, &spec, nullptr, &env, std::move(image)};
    ZLAYER_TRY(config, spec::to_container_config(input));
    // Secrets stay in the container's env, but inspect must never show them (docs/spec.md).
    if (!env.secret_keys.empty()) {
      std::string keys;
      for (const auto& key : env.secret_keys) keys += (keys.empty() ? "" : ",") + key;
      config.annotations[runtime::kSecretEnvAnnotation] = keys;
    }
    return config;
  };
}

std::string_view service_phase_name(ServiceStatus::Phase phase) {
  switch (phase) {
    case ServiceStatus::Phase::kWaiting:
      return "waiting";
    case ServiceStatus::Phase::kActive:
      return "active";
    case ServiceStatus::Phase::kUpdating:
      return "updating";
    case ServiceStatus::Phase::kFailed:
      return "failed";
    case ServiceStatus::Phase::kStopping:
      return "stopping";
  }
  return "unknown";
}

struct ServiceManager::Replica {
  ReplicaStatus status;
  std::shared_ptr<const spec::ServiceSpec> spec;  // the version this replica runs
  // Bumped whenever the container is replaced or a stop begins: results of probes, polls and
  // runtime calls issued for an older incarnation are dropped.
  std::uint64_t incarnation = 0;
  bool busy = false;                // a create/start/stop/remove is in flight
  std::function<void()> when_idle;  // a stop waiting for that call to finish
  bool stop_remove = false;         // the stop in progress also removes the container
  std::vector<std::function<void()>> stop_waiters;
  std::uint32_t consecutive_restarts = 0;  // since the last long enough run
  std::uint32_t init_failures = 0;
  Clock::SteadyTime started_at{};
  std::optional<ProbePlan> probe;
  std::optional<HealthTracker> health;
  std::unique_ptr<InitRunner> init;
  TimerId poll_timer = 0;
  ExitWatcher::WatchId exit_watch = 0;
  TimerId probe_timer = 0;
  TimerId restart_timer = 0;
};

struct ServiceManager::Service {
  std::string name;
  std::shared_ptr<const spec::ServiceSpec> spec;
  RuntimeBinding runtime;
  ServiceStatus status;
  std::map<std::uint32_t, std::unique_ptr<Replica>> replicas;
  std::vector<bool> released;  // per `depends` entry: met, or timed out with warn/continue
  std::vector<TimerId> dependency_timers;
  bool scaling_down = false;
  std::vector<std::uint32_t> rollout_old;  // replicas still to replace, ascending
  std::optional<std::uint32_t> rollout_new;
  bool rollout_stopping = false;
  bool rollout_stall_noted = false;
};

ServiceManager::ServiceManager(EventLoop& loop, Recorder& recorder, ServiceManagerOptions options)
    : loop_(loop), recorder_(recorder), options_(std::move(options)) {}

ServiceManager::~ServiceManager() {
  *alive_ = false;
  for (auto& [name, service] : services_) {
    for (TimerId timer : service->dependency_timers) loop_.cancel(timer);
    for (auto& [number, replica] : service->replicas) cancel_timers(*replica);
  }
}

// ---------------------------------------------------------------------------------------------
// Dependency order

Result<std::vector<std::string>> dependency_order(const spec::DeploymentSpec& spec) {
  std::map<std::string, std::set<std::string>> pending;  // service → dependencies not placed yet
  for (const auto& [name, service] : spec.services) {
    auto& deps = pending[name];
    for (const auto& dep : service.depends) {
      if (spec.services.count(dep.service) == 0) {
        return errorf(Errc::kInvalidArgument,
                      "services.{}.depends: unknown service {:?} (services: {})", name, dep.service,
                      fmt::join(spec.services | std::views::keys, ", "));
      }
      deps.insert(dep.service);
    }
  }
  std::vector<std::string> order;
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(),
                              [](const auto& entry) { return entry.second.empty(); });
    if (ready == pending.end()) {
      // Every remaining service waits for another: walk the first dependencies to a repeat.
      std::vector<std::string> path{pending.begin()->first};
      while (std::find(path.begin(), path.end() - 1, path.back()) == path.end() - 1 ||
             path.size() == 1) {
        path.push_back(*pending.at(path.back()).begin());
      }
      auto start = std::find(path.begin(), path.end() - 1, path.back());
      return errorf(Errc::kInvalidArgument, "dependency cycle: {}",
                    fmt::join(start, path.end(), " -> "));
    }
    std::string name = ready->first;
    pending.erase(ready);
    for (auto& [other, deps] : pending) deps.erase(name);
    order.push_back(std::move(name));
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Queries

std::vector<ReplicaStatus> ServiceManager::replicas(const std::string& service) const {
  std::vector<ReplicaStatus> out;
  for (const auto& [name, entry] : services_) {
    if (!service.empty() && name != service) continue;
    for (const auto& [number, replica] : entry->replicas) out.push_back(replica->status);
  }
  return out;
}

std::optional<ReplicaStatus> ServiceManager::replica(const ContainerId& id) const {
  const Service* service = find_service(id.service);
  if (service == nullptr) return std::nullopt;
  auto it = service->replicas.find(id.replica);
  if (it == service->replicas.end()) return std::nullopt;
  return it->second->status;
}

std::optional<ServiceStatus> ServiceManager::service(const std::string& name) const {
  const Service* service = find_service(name);
  if (service == nullptr) return std::nullopt;
  return service->status;
}

std::vector<ServiceStatus> ServiceManager::services() const {
  std::vector<ServiceStatus> out;
  for (const auto& name : order_) {
    if (const Service* service = find_service(name)) out.push_back(service->status);
  }
  return out;
}

std::vector<ReplicaStatus> ServiceManager::serving_replicas(const std::string& service) const {
  std::vector<ReplicaStatus> out;
  for (auto& status : replicas(service)) {
    if (status.serving()) out.push_back(std::move(status));
  }
  return out;
}

ServiceManager::Service* ServiceManager::find_service(const std::string& name) {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.get();
}

const ServiceManager::Service* ServiceManager::find_service(const std::string& name) const {
  auto it = services_.find(name);
  return it == services_.end() ? nullptr : it->second.get();
}

std::uint32_t ServiceManager::lowest_free_number(const Service& service) const {
  std::uint32_t n = 1;
  while (service.replicas.count(n) != 0) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Deploy, scale, remove, shutdown

Status ServiceManager::deploy(const spec::DeploymentSpec& spec, const std::string& spec_text) {
  if (shutting_down_) {
    return errorf(Errc::kFailedPrecondition, "deployment {} is shutting down", deployment_);
  }
  if (!deployment_.empty() && spec.deployment != deployment_) {
    return errorf(Errc::kInvalidArgument, "this manager runs deployment {:?}; the spec is for {:?}",
                  deployment_, spec.deployment);
  }
  ZLAYER_TRY(order, dependency_order(spec));
  deployment_ = spec.deployment;
  spec_text_ = spec_text;
  (void)recorder_.deployment(deployment_, spec_text, true);

  std::vector<std::string> gone;
  for (const auto& [name, service] : services_) {
    if (spec.services.count(name) == 0) gone.push_back(name);
  }
  for (const auto& name : gone) (void)remove_service(name);

  order_.clear();
  for (const auto& name : order) {
    const spec::ServiceSpec& wanted = spec.services.at(name);
    if (wanted.rtype != spec::ResourceType::kService) {
      if (find_service(name) == nullptr && listed_.insert(name).second) {
        recorder_.note(Event::Severity::kWarning, deployment_, name,
                       fmt::format("service {} (rtype {}) is validated but not run: running jobs "
                                   "and cron services is not implemented yet",
                                   name, spec::to_string(wanted.rtype)));
      }
      continue;
    }
    order_.push_back(name);
    Service* existing = find_service(name);
    if (existing == nullptr) {
      add_service(name, wanted);
      continue;
    }
    if (*existing->spec == wanted) continue;
    auto next = std::make_shared<const spec::ServiceSpec>(wanted);
    bool scale_only = without_scale(*existing->spec) == without_scale(wanted);
    existing->spec = next;
    existing->status.desired_replicas = wanted.initial_replicas();
    if (existing->status.phase == ServiceStatus::Phase::kFailed) {
      // A failed service gets a fresh start with the new spec: old replicas go, then it waits
      // for its dependencies again.
      existing->status.reason = "redeployed";
      std::weak_ptr<bool> alive = alive_;
      stop_service(*existing, true, [this, alive, name] {
        if (alive.expired()) return;
        Service* again = find_service(name);
        if (again == nullptr || shutting_down_) return;
        wait_for_dependencies(*again);
        record_service(*again);
        evaluate_dependencies();
      });
      continue;
    }
    if (scale_only || existing->status.phase != ServiceStatus::Phase::kActive) {
      record_service(*existing);
      reconcile(*existing);
      continue;
    }
    existing->rollout_old.clear();
    for (const auto& [number, replica] : existing->replicas) {
      if (replica->status.desired_running) existing->rollout_old.push_back(number);
    }
    existing->rollout_stall_noted = false;
    existing->status.phase = ServiceStatus::Phase::kUpdating;
    existing->status.reason = "rolling update";
    record_service(*existing);
    recorder_.note(Event::Severity::kInfo, deployment_, name,
                   fmt::format("service {}: spec changed, replacing {} replica(s) one at a time",
                               name, existing->rollout_old.size()));
    continue_rollout(*existing);
  }
  evaluate_dependencies();
  return {};
}

Status ServiceManager::adopt(const spec::DeploymentSpec& previous,
                             const PersistedDeployment& persisted) {
  if (!deployment_.empty() || !services_.empty()) {
    return errorf(Errc::kFailedPrecondition,
                  "deployment {} is already registered; adopt() comes before the first deploy()",
                  deployment_);
  }
  ZLAYER_TRY(order, dependency_order(previous));
  deployment_ = previous.deployment;
  spec_text_ = persisted.spec_text;
  recorder_.note(Event::Severity::kInfo, deployment_, {},
                 fmt::format("deployment {}: taking over {} replica(s) from a previous owner "
                             "that is gone",
                             deployment_, persisted.replicas.size()));
  std::set<std::string> known;
  for (const auto& name : order) {
    const spec::ServiceSpec& wanted = previous.services.at(name);
    if (wanted.rtype != spec::ResourceType::kService) continue;
    known.insert(name);
    order_.push_back(name);
    add_service(name, wanted);
    Service* service = find_service(name);
    if (service == nullptr || service->status.phase == ServiceStatus::Phase::kFailed) continue;
    if (auto it = persisted.services.find(name); it != persisted.services.end()) {
      service->status.desired_replicas = it->second.desired_replicas;
      service->status.restart_count = it->second.restart_count;
    }
    bool resumed = false;
    for (const auto& row : persisted.replicas) {
      if (row.id.service != name) continue;
      resume(*service, row);
      resumed = true;
    }
    if (resumed) {
      for (TimerId timer : service->dependency_timers) loop_.cancel(timer);
      service->dependency_timers.clear();
      service->released.assign(service->spec->depends.size(), true);
      service->status.phase = ServiceStatus::Phase::kActive;
    }
    record_service(*service);
  }
  for (const auto& row : persisted.replicas) {
    if (known.count(row.id.service) == 0) {
      recorder_.note(Event::Severity::kWarning, deployment_, row.id.service,
                     fmt::format("{} is recorded but its service is not in the spec the previous "
                                 "owner applied; left as it is (remove it with `rm -f`)",
                                 row.id.str()));
    }
  }
  for (const auto& name : order_) {
    if (Service* service = find_service(name)) reconcile(*service);
  }
  return {};
}

void ServiceManager::resume(Service& service, const ReplicaStatus& row) {
  auto owned = std::make_unique<Replica>();
  owned->spec = service.spec;
  owned->status = row;
  owned->status.state = ReplicaState::kPending;
  owned->status.health = Health::kUnknown;
  Replica& replica = *owned;
  service.replicas[row.id.replica] = std::move(owned);
  set_state(service, replica, ReplicaState::kPending, "taking over from the previous owner");

  struct Found {
    Result<runtime::ContainerState> state;
    std::string address;
    std::optional<UniqueFd> exit_fd;
  };
  runtime::Runtime* rt = service.runtime.runtime;
  ContainerId id = row.id;
  const bool watch = options_.exit_watcher != nullptr;
  blocking<Found>(
      service, replica, true,
      [rt, id, watch]() -> Found {
        Found found{rt->container_state(id), {}, {}};
        if (found.state && found.state->phase == runtime::ContainerState::Phase::kRunning) {
          found.address = rt->container_ip(id).value_or(std::string());
          if (watch) {
            if (auto fd = rt->exit_fd(id)) found.exit_fd = std::move(*fd);
          }
        }
        return found;
      },
      [this](Service& svc, Replica& r, Found found) {
        using Phase = runtime::ContainerState::Phase;
        if (!r.status.desired_running) {
          stop_replica(svc, r, true, "finishing the stop the previous owner began", [] {});
          return;
        }
        if (!found.state) {
          if (found.state.error().code == Errc::kNotFound) {
            // Never created, or already removed: start it afresh.
            create(svc, r);
            return;
          }
          handle_failure(svc, r, Failure{std::nullopt, found.state.error().message});
          return;
        }
        const auto& state = *found.state;
        if (state.phase == Phase::kRunning || state.phase == Phase::kPaused) {
          started(svc, r, found.address, std::move(found.exit_fd));
          return;
        }
        if (state.is_finished() && state.exit) {
          // It ended while nobody supervised it: the same as a crash seen now.
          handle_failure(svc, r, Failure{state.exit, std::nullopt});
          return;
        }
        // Lost with the previous owner (a WASM module, "agent exited"), or caught between
        // create and start: not a failure of its own.
        recorder_.note(Event::Severity::kInfo, deployment_, svc.name,
                       fmt::format("{}: {}; recreating it", r.status.id.str(),
                                   state.reason.empty() ? "not running" : state.reason));
        recreate(svc, r, false);
      });
}

void ServiceManager::add_service(const std::string& name, const spec::ServiceSpec& spec) {
  auto service = std::make_unique<Service>();
  service->name = name;
  service->spec = std::make_shared<const spec::ServiceSpec>(spec);
  service->status =
      ServiceStatus{name, ServiceStatus::Phase::kWaiting, spec.initial_replicas(), 0, {}};
  Service& entry = *service;
  services_.emplace(name, std::move(service));
  auto binding = options_.resolve_runtime(spec);
  if (!binding) {
    service_failed(entry, binding.error().wrap(fmt::format("service {}", name)).message);
    return;
  }
  entry.runtime = *binding;
  record_service(entry);
  wait_for_dependencies(entry);
}

void ServiceManager::wait_for_dependencies(Service& service) {
  for (TimerId timer : service.dependency_timers) loop_.cancel(timer);
  service.dependency_timers.clear();
  service.released.assign(service.spec->depends.size(), false);
  service.status.phase = ServiceStatus::Phase::kWaiting;
  std::weak_ptr<bool> alive = alive_;
  std::string name = service.name;
  for (std::size_t i = 0; i < service.spec->depends.size(); ++i) {
    service.dependency_timers.push_back(
        loop_.schedule_after(service.spec->depends[i].timeout, [this, alive, name, i] {
          if (alive.expired()) return;
          dependency_timed_out(name, i);
        }));
  }
}

Status ServiceManager::scale(const std::string& name, std::uint32_t replicas) {
  if (shutting_down_) {
    return errorf(Errc::kFailedPrecondition, "deployment {} is shutting down", deployment_);
  }
  Service* service = find_service(name);
  if (service == nullptr) {
    if (listed_.count(name) != 0) {
      return errorf(Errc::kFailedPrecondition,
                    "service {} is a job or cron service; it has no "
                    "replicas to scale",
                    name);
    }
    return errorf(Errc::kNotFound, "deployment {} has no service {:?}", deployment_, name);
  }
  if (replicas > spec::kMaxReplicasPerService) {
    return errorf(Errc::kInvalidArgument,
                  "service {}: {} replicas is more than the {} one service may have on a node",
                  name, replicas, spec::kMaxReplicasPerService);
  }
  service->status.desired_replicas = replicas;
  record_service(*service);
  reconcile(*service);
  return {};
}

Status ServiceManager::remove_service(const std::string& name) {
  Service* service = find_service(name);
  if (service == nullptr) {
    return errorf(Errc::kNotFound, "deployment {} has no service {:?}", deployment_, name);
  }
  for (TimerId timer : service->dependency_timers) loop_.cancel(timer);
  service->dependency_timers.clear();
  service->status.phase = ServiceStatus::Phase::kStopping;
  service->status.desired_replicas = 0;
  record_service(*service);
  order_.erase(std::remove(order_.begin(), order_.end(), name), order_.end());
  stop_service(*service, true, [this, name] {
    services_.erase(name);
    (void)recorder_.service_removed(deployment_, name);
    recorder_.note(Event::Severity::kInfo, deployment_, name,
                   fmt::format("service {} removed", name));
  });
  return {};
}

void ServiceManager::shutdown(std::function<void()> done) {
  if (shutting_down_) {
    auto previous = std::move(shutdown_done_);
    shutdown_done_ = [previous = std::move(previous), done = std::move(done)] {
      if (previous) previous();
      if (done) done();
    };
    return;
  }
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  (void)recorder_.deployment(deployment_, spec_text_, false);
  shutdown_queue_.assign(order_.rbegin(), order_.rend());
  for (auto& [name, service] : services_) {
    for (TimerId timer : service->dependency_timers) loop_.cancel(timer);
    service->dependency_timers.clear();
    if (std::find(order_.begin(), order_.end(), name) == order_.end()) {
      shutdown_queue_.push_back(name);
    }
  }
  shutdown_next();
}

void ServiceManager::shutdown_next() {
  while (!shutdown_queue_.empty()) {
    std::string name = shutdown_queue_.front();
    shutdown_queue_.erase(shutdown_queue_.begin());
    Service* service = find_service(name);
    if (service == nullptr) continue;
    service->status.phase = ServiceStatus::Phase::kStopping;
    service->status.reason = "shutdown";
    record_service(*service);
    stop_service(*service, true, [this] { shutdown_next(); });
    return;
  }
  if (shutdown_done_) {
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }
}

void ServiceManager::stop_service(Service& service, bool remove, std::function<void()> done) {
  // Every replica at once, as `docker compose down` and the deletion of a Deployment's pods do:
  // one at a time, a service of N replicas that ignore the stop signal took N grace periods.
  // The stops are issued highest replica first, so the executor takes them in that order.
  std::vector<Replica*> targets;
  for (auto it = service.replicas.rbegin(); it != service.replicas.rend(); ++it) {
    Replica& replica = *it->second;
    const bool ended = replica.status.state == ReplicaState::kStopped ||
                       replica.status.state == ReplicaState::kFailed;
    if (!remove && ended) {
      if (replica.status.desired_running) {
        // Already ended: only marked as not wanted (nothing is restarted any more).
        replica.status.desired_running = false;
        cancel_timers(replica);
        set_state(service, replica, replica.status.state, "service stopped");
      }
      continue;
    }
    targets.push_back(&replica);
  }
  if (targets.empty()) {
    done();
    return;
  }
  auto pending = std::make_shared<std::size_t>(targets.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  std::weak_ptr<bool> alive = alive_;
  const std::string reason = shutting_down_ ? "deployment shutting down"
                                            : (remove ? "service removed" : "service stopped");
  // stop_replica's callbacks arrive through the loop, never from inside this walk.
  for (Replica* replica : targets) {
    stop_replica(service, *replica, remove, reason, [alive, pending, finish] {
      if (alive.expired()) return;
      if (--*pending == 0 && *finish) (*finish)();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Dependencies, reconciliation, rolling updates

bool ServiceManager::condition_met(const spec::DependsSpec& dep) const {
  const Service* target = find_service(dep.service);
  if (target == nullptr) return false;
  std::uint32_t running = 0;
  std::uint32_t serving = 0;
  for (const auto& [number, replica] : target->replicas) {
    if (!replica->status.desired_running) continue;
    if (replica->status.state == ReplicaState::kRunning) ++running;
    if (replica->status.serving()) ++serving;
  }
  switch (dep.condition) {
    case spec::DependencyCondition::kStarted:
      return running > 0;
    case spec::DependencyCondition::kHealthy:
      return serving > 0;
    case spec::DependencyCondition::kReady:
      return target->status.desired_replicas > 0 && serving >= target->status.desired_replicas;
  }
  return false;
}

void ServiceManager::schedule_evaluation() {
  if (evaluation_pending_) return;
  evaluation_pending_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive] {
    if (alive.expired()) return;
    evaluation_pending_ = false;
    evaluate_dependencies();
  });
}

void ServiceManager::evaluate_dependencies() {
  if (shutting_down_) return;
  for (const auto& name : std::vector<std::string>(order_)) {
    Service* service = find_service(name);
    if (service == nullptr) continue;
    if (service->status.phase == ServiceStatus::Phase::kUpdating) {
      continue_rollout(*service);
      continue;
    }
    if (service->status.phase != ServiceStatus::Phase::kWaiting) continue;
    bool all = true;
    for (std::size_t i = 0; i < service->spec->depends.size(); ++i) {
      if (service->released[i]) continue;
      if (condition_met(service->spec->depends[i])) {
        service->released[i] = true;
        if (i < service->dependency_timers.size()) loop_.cancel(service->dependency_timers[i]);
        const auto& dep = service->spec->depends[i];
        recorder_.note(Event::Severity::kInfo, deployment_, name,
                       fmt::format("service {}: dependency {} is {}", name, dep.service,
                                   spec::to_string(dep.condition)));
      } else {
        all = false;
      }
    }
    if (all) activate(*service);
  }
}

void ServiceManager::dependency_timed_out(const std::string& name, std::size_t index) {
  Service* service = find_service(name);
  if (service == nullptr || service->status.phase != ServiceStatus::Phase::kWaiting ||
      index >= service->released.size() || service->released[index]) {
    return;
  }
  const auto& dep = service->spec->depends[index];
  std::string what = fmt::format("service {}: dependency {} was not {} within {} (on_timeout: {})",
                                 name, dep.service, spec::to_string(dep.condition),
                                 seconds_text(dep.timeout), spec::to_string(dep.on_timeout));
  switch (dep.on_timeout) {
    case spec::TimeoutAction::kFail:
      service_failed(*service, what);
      return;
    case spec::TimeoutAction::kWarn:
      recorder_.note(Event::Severity::kWarning, deployment_, name, what + "; starting anyway");
      break;
    case spec::TimeoutAction::kContinue:
      recorder_.note(Event::Severity::kInfo, deployment_, name, what + "; starting anyway");
      break;
  }
  service->released[index] = true;
  evaluate_dependencies();
}

void ServiceManager::activate(Service& service) {
  service.status.phase = ServiceStatus::Phase::kActive;
  service.status.reason.clear();
  record_service(service);
  reconcile(service);
}

void ServiceManager::reconcile(Service& service) {
  if (shutting_down_ || service.status.phase != ServiceStatus::Phase::kActive) return;
  std::uint32_t wanted = 0;
  for (const auto& [number, replica] : service.replicas) {
    if (replica->status.desired_running) ++wanted;
  }
  while (wanted < service.status.desired_replicas) {
    launch(service, lowest_free_number(service), service.spec);
    ++wanted;
  }
  if (wanted > service.status.desired_replicas && !service.scaling_down) {
    for (auto it = service.replicas.rbegin(); it != service.replicas.rend(); ++it) {
      if (!it->second->status.desired_running) continue;
      service.scaling_down = true;
      std::string name = service.name;
      std::weak_ptr<bool> alive = alive_;
      stop_replica(service, *it->second, true,
                   fmt::format("scaled down to {}", service.status.desired_replicas),
                   [this, alive, name] {
                     if (alive.expired()) return;
                     Service* again = find_service(name);
                     if (again == nullptr) return;
                     again->scaling_down = false;
                     reconcile(*again);
                   });
      break;
    }
  }
}

void ServiceManager::continue_rollout(Service& service) {
  if (shutting_down_ || service.status.phase != ServiceStatus::Phase::kUpdating ||
      service.rollout_stopping) {
    return;
  }
  if (service.rollout_new) {
    auto it = service.replicas.find(*service.rollout_new);
    if (it != service.replicas.end() && !it->second->status.serving()) {
      const auto state = it->second->status.state;
      if ((state == ReplicaState::kFailed || state == ReplicaState::kCrashLoopBackoff ||
           state == ReplicaState::kIsolated) &&
          !service.rollout_stall_noted) {
        service.rollout_stall_noted = true;
        recorder_.note(
            Event::Severity::kWarning, deployment_, service.name,
            fmt::format("service {}: rolling update waits: replacement {} is {}; the "
                        "old replicas keep serving",
                        service.name, it->second->status.id.str(), replica_state_name(state)));
      }
      return;
    }
    service.rollout_new.reset();
    service.rollout_stall_noted = false;
    if (!service.rollout_old.empty()) {
      std::uint32_t old = service.rollout_old.front();
      service.rollout_old.erase(service.rollout_old.begin());
      auto old_it = service.replicas.find(old);
      if (old_it != service.replicas.end() && it != service.replicas.end()) {
        service.rollout_stopping = true;
        std::string name = service.name;
        std::weak_ptr<bool> alive = alive_;
        stop_replica(service, *old_it->second, true,
                     fmt::format("replaced by {} (rolling update)", it->second->status.id.str()),
                     [this, alive, name] {
                       if (alive.expired()) return;
                       Service* again = find_service(name);
                       if (again == nullptr) return;
                       again->rollout_stopping = false;
                       continue_rollout(*again);
                     });
        return;
      }
    }
  }
  if (service.rollout_old.empty()) {
    service.status.phase = ServiceStatus::Phase::kActive;
    service.status.reason.clear();
    record_service(service);
    recorder_.note(Event::Severity::kInfo, deployment_, service.name,
                   fmt::format("service {}: rolling update done", service.name));
    reconcile(service);
    return;
  }
  std::uint32_t number = service.replicas.empty() ? 1 : service.replicas.rbegin()->first + 1;
  service.rollout_new = number;
  launch(service, number, service.spec);
}

void ServiceManager::service_failed(Service& service, std::string reason) {
  service.status.phase = ServiceStatus::Phase::kFailed;
  service.status.reason = reason;
  record_service(service);
  recorder_.note(Event::Severity::kError, deployment_, service.name, std::move(reason));
}

void ServiceManager::record_service(Service& service) {
  (void)recorder_.service(deployment_, service.name, service.status.desired_replicas,
                          service.status.restart_count);
}

// ---------------------------------------------------------------------------------------------
// One replica

ServiceManager::ReplicaRef ServiceManager::ref_to(const Service& service,
                                                  const Replica& replica) const {
  return ReplicaRef{alive_, service.name, replica.status.id.replica, replica.incarnation};
}

std::pair<ServiceManager::Service*, ServiceManager::Replica*> ServiceManager::resolve(
    const ReplicaRef& ref) {
  if (ref.alive.expired()) return {nullptr, nullptr};
  Service* svc = find_service(ref.service);
  if (svc == nullptr) return {nullptr, nullptr};
  auto it = svc->replicas.find(ref.number);
  if (it == svc->replicas.end() || it->second->incarnation != ref.incarnation) {
    return {nullptr, nullptr};
  }
  return {svc, it->second.get()};
}

template <typename T>
void ServiceManager::blocking(Service& service, Replica& replica, bool exclusive,
                              std::function<T()> work,
                              std::function<void(Service&, Replica&, T)> done) {
  if (exclusive) replica.busy = true;
  std::weak_ptr<bool> alive = alive_;
  std::string name = service.name;
  std::uint32_t number = replica.status.id.replica;
  std::uint64_t incarnation = replica.incarnation;
  loop_.run_blocking<T>(std::move(work), [this, alive, name, number, incarnation, exclusive,
                                          done = std::move(done)](T result) {
    if (alive.expired()) return;
    Service* svc = find_service(name);
    if (svc == nullptr) return;
    auto it = svc->replicas.find(number);
    if (it == svc->replicas.end()) return;
    Replica& r = *it->second;
    if (exclusive) {
      r.busy = false;
      if (r.when_idle) {
        auto next = std::move(r.when_idle);
        r.when_idle = nullptr;
        next();
        return;
      }
    }
    if (r.incarnation != incarnation) return;
    done(*svc, r, std::move(result));
  });
}

void ServiceManager::set_state(Service& service, Replica& replica, ReplicaState state,
                               std::string reason, Event::Severity severity) {
  replica.status.state = state;
  replica.status.reason = reason;
  std::string message = fmt::format("{} {}", replica.status.id.str(), replica_state_name(state));
  if (state == ReplicaState::kRunning) {
    message += fmt::format(" ({})", health_name(replica.status.health));
  }
  if (!reason.empty()) message += ": " + reason;
  (void)recorder_.replica(replica.status, std::move(message), severity);
  (void)service;
  schedule_evaluation();
}

void ServiceManager::cancel_timers(Replica& replica) {
  for (TimerId* timer : {&replica.poll_timer, &replica.probe_timer, &replica.restart_timer}) {
    if (*timer != 0) loop_.cancel(*timer);
    *timer = 0;
  }
  if (replica.exit_watch != 0) options_.exit_watcher->cancel(replica.exit_watch);
  replica.exit_watch = 0;
}

ServiceManager::Replica& ServiceManager::launch(Service& service, std::uint32_t number,
                                                std::shared_ptr<const spec::ServiceSpec> spec) {
  auto replica = std::make_unique<Replica>();
  replica->spec = std::move(spec);
  replica->status.deployment = deployment_;
  replica->status.id = ContainerId{service.name, number};
  replica->status.backend = service.runtime.backend;
  Replica& entry = *replica;
  service.replicas[number] = std::move(replica);
  create(service, entry);
  return entry;
}

void ServiceManager::create(Service& service, Replica& replica) {
  replica.status.health = Health::kUnknown;
  replica.status.address.clear();
  set_state(service, replica, ReplicaState::kCreating,
            replica.status.restart_count == 0 ? "creating" : "recreating");
  runtime::Runtime* rt = service.runtime.runtime;
  ContainerId id = replica.status.id;
  std::shared_ptr<const spec::ServiceSpec> spec = replica.spec;
  ConfigBuilder build = options_.build_config;
  std::string deployment = deployment_;
  // Pull, then the config (it needs the pulled image's config), then create: all blocking.
  blocking<Status>(
      service, replica, true,
      [rt, id, spec, build, deployment]() -> Status {
        ZLAYER_CHECK(rt->pull_image(spec->image.name));
        ZLAYER_TRY(config, build(deployment, id.service, *spec, id));
        return rt->create_container(id, config);
      },
      [this](Service& svc, Replica& r, Status created) {
        if (!created) {
          handle_failure(svc, r, Failure{std::nullopt, created.error().message});
          return;
        }
        if (r.spec->init.steps.empty()) {
          start(svc, r);
        } else {
          run_init(svc, r);
        }
      });
}

void ServiceManager::run_init(Service& service, Replica& replica) {
  set_state(service, replica, ReplicaState::kInitializing,
            fmt::format("running {} init step(s)", replica.spec->init.steps.size()));
  std::string name = service.name;
  auto lookup = [this, ref = ref_to(service, replica)] { return resolve(ref); };
  replica.init = std::make_unique<InitRunner>(
      loop_, *options_.prober, options_.supervision, replica.spec->init.steps,
      [this, name](Event::Severity severity, std::string message) {
        recorder_.note(severity, deployment_, name, std::move(message));
      },
      [this, lookup](Status result) {
        // The runner is destroyed outside its own callback.
        loop_.post([this, lookup, result = std::move(result)] {
          auto [svc, r] = lookup();
          if (r == nullptr) return;
          r->init.reset();
          if (result) {
            r->init_failures = 0;
            start(*svc, *r);
          } else {
            init_failed(*svc, *r, result.error());
          }
        });
      });
  replica.init->start();
}

void ServiceManager::init_failed(Service& service, Replica& replica, const Error& error) {
  std::string why = "init failed: " + error.message;
  if (!replica.status.desired_running || shutting_down_) return;
  ++replica.init_failures;
  switch (replica.spec->errors.on_init_failure) {
    case spec::InitFailureAction::kFail:
      set_state(service, replica, ReplicaState::kFailed, why + " (on_init_failure: fail)",
                Event::Severity::kError);
      return;
    case spec::InitFailureAction::kRestart:
      if (replica.init_failures > options_.supervision.init_restart_attempts) {
        set_state(service, replica, ReplicaState::kFailed,
                  fmt::format("{} (on_init_failure: restart, gave up after {} attempts)", why,
                              replica.init_failures),
                  Event::Severity::kError);
        return;
      }
      restart_after(service, replica, Clock::Duration::zero(), why + " (on_init_failure: restart)");
      return;
    case spec::InitFailureAction::kBackoff:
      restart_after(service, replica,
                    backoff_delay(options_.supervision.init_backoff_initial,
                                  options_.supervision.init_backoff_max, replica.init_failures),
                    why + " (on_init_failure: backoff)");
      return;
  }
}

void ServiceManager::start(Service& service, Replica& replica) {
  struct Launched {
    std::string address;
    std::optional<UniqueFd> exit_fd;
  };
  runtime::Runtime* rt = service.runtime.runtime;
  ContainerId id = replica.status.id;
  const bool watch = options_.exit_watcher != nullptr;
  blocking<Result<Launched>>(
      service, replica, true,
      [rt, id, watch]() -> Result<Launched> {
        ZLAYER_CHECK(rt->start_container(id));
        Launched launched;
        // No address of its own (host or none network, WASM): probes go to 127.0.0.1.
        launched.address = rt->container_ip(id).value_or(std::string());
        if (watch) {
          // Any error (kUnsupported, no descriptors left) falls back to polling.
          if (auto fd = rt->exit_fd(id)) launched.exit_fd = std::move(*fd);
        }
        return launched;
      },
      [this](Service& svc, Replica& r, Result<Launched> launched) {
        if (!launched) {
          handle_failure(svc, r, Failure{std::nullopt, launched.error().message});
          return;
        }
        started(svc, r, launched->address, std::move(launched->exit_fd));
      });
}

void ServiceManager::started(Service& service, Replica& replica, const std::string& address,
                             std::optional<UniqueFd> exit_fd) {
  auto now = loop_.clock().now();
  replica.status.address = address;
  replica.started_at = now;
  replica.probe = probe_plan(*replica.spec, options_.supervision);
  if (replica.probe) {
    replica.status.health = Health::kStarting;
    replica.health.emplace(replica.spec->health.retries,
                           replica.spec->health.start_grace.value_or(Clock::Duration::zero()), now);
  } else {
    replica.status.health = Health::kHealthy;
    replica.health.reset();
  }
  set_state(service, replica, ReplicaState::kRunning,
            replica.probe ? "started" : "started (no health check: healthy while running)");
  if (exit_fd) {
    watch_exit(service, replica, std::move(*exit_fd));
  } else {
    schedule_poll(service, replica);
  }
  if (replica.probe) schedule_probe(service, replica, Clock::Duration::zero());
}

void ServiceManager::watch_exit(Service& service, Replica& replica, UniqueFd exit_fd) {
  // Runs on the watcher's thread; the manager's destructor cancels every watch first, so `this`
  // and the loop are alive whenever it runs.
  auto fired = [this, ref = ref_to(service, replica)] {
    loop_.post([this, ref] {
      auto [svc, found] = resolve(ref);
      if (found == nullptr) return;
      Replica& r = *found;
      r.exit_watch = 0;
      runtime::Runtime* rt = svc->runtime.runtime;
      ContainerId id = r.status.id;
      // The descriptor fired, so this returns at once (and reaps the monitor).
      blocking<Result<runtime::ExitStatus>>(
          *svc, r, false, [rt, id] { return rt->wait_container(id); },
          [this](Service& s, Replica& rep, Result<runtime::ExitStatus> exit) {
            if (!exit) {
              ended(s, rep, Failure{std::nullopt, exit.error().message});
              return;
            }
            ended(s, rep, Failure{*exit, std::nullopt});
          });
    });
  };
  auto watched = options_.exit_watcher->watch(std::move(exit_fd), std::move(fired));
  if (!watched) {
    schedule_poll(service, replica);
    return;
  }
  replica.exit_watch = *watched;
}

void ServiceManager::ended(Service& service, Replica& replica, Failure failure) {
  // A stop in flight (busy) or already done expects the end; it is not a crash.
  if (replica.status.state != ReplicaState::kRunning || replica.busy) return;
  handle_failure(service, replica, failure);
}

void ServiceManager::schedule_poll(Service& service, Replica& replica) {
  replica.poll_timer = loop_.schedule_after(
      options_.supervision.exit_poll_interval, [this, ref = ref_to(service, replica)] {
        auto [svc, found] = resolve(ref);
        if (found == nullptr) return;
        Replica& r = *found;
        r.poll_timer = 0;
        runtime::Runtime* rt = svc->runtime.runtime;
        ContainerId id = r.status.id;
        blocking<Result<runtime::ContainerState>>(
            *svc, r, false, [rt, id] { return rt->container_state(id); },
            [this](Service& s, Replica& rep, Result<runtime::ContainerState> state) {
              if (rep.status.state != ReplicaState::kRunning || rep.busy) return;
              if (!state) {
                if (state.error().code == Errc::kNotFound) {
                  ended(s, rep, Failure{std::nullopt, "the container disappeared from the runtime"});
                  return;
                }
                schedule_poll(s, rep);  // a transient runtime error: look again later
                return;
              }
              if (!state->is_finished()) {
                schedule_poll(s, rep);
                return;
              }
              Failure failure;
              if (state->exit) {
                failure.exit = state->exit;
              } else {
                failure.error = state->reason.empty() ? "failed" : state->reason;
              }
              ended(s, rep, failure);
            });
      });
}

void ServiceManager::schedule_probe(Service& service, Replica& replica, Clock::Duration delay) {
  replica.probe_timer = loop_.schedule_after(delay, [this, ref = ref_to(service, replica)] {
    auto [svc, found] = resolve(ref);
    if (found == nullptr) return;
    Replica& r = *found;
    r.probe_timer = 0;
    if (!r.probe) return;
    ProbePlan plan = *r.probe;
    Prober* prober = options_.prober;
    runtime::Runtime* rt = svc->runtime.runtime;
    ContainerId id = r.status.id;
    std::string host = r.status.address.empty() ? "127.0.0.1" : r.status.address;
    std::string address = r.status.address;
    blocking<ProbeOutcome>(
        *svc, r, false,
        [plan, prober, rt, id, host, address]() -> ProbeOutcome {
          switch (plan.kind) {
            case ProbePlan::Kind::kTcp:
              return prober->tcp(host, plan.port, plan.timeout);
            case ProbePlan::Kind::kHttp:
              return prober->http(rewrite_probe_url(plan.url, address), plan.expect_status,
                                  plan.timeout);
            case ProbePlan::Kind::kCommand:
              return prober->exec(*rt, id, plan.command, plan.timeout);
          }
          return {false, "unknown probe"};
        },
        [this](Service& s, Replica& rep, ProbeOutcome outcome) {
          probe_result(s, rep, std::move(outcome));
        });
  });
}

void ServiceManager::probe_result(Service& service, Replica& replica, ProbeOutcome outcome) {
  if (replica.status.state != ReplicaState::kRunning || !replica.health || !replica.probe) return;
  auto now = loop_.clock().now();
  bool changed = replica.health->record(outcome.success, now);
  Health health = replica.health->health();
  if (changed) {
    replica.status.health = health;
    std::string reason;
    if (health == Health::kHealthy) {
      reason = "health check passed";
    } else {
      reason = fmt::format("{} consecutive health check failures: {}",
                           replica.health->consecutive_failures(), outcome.detail);
    }
    set_state(service, replica, ReplicaState::kRunning, reason,
              health == Health::kUnhealthy ? Event::Severity::kWarning : Event::Severity::kInfo);
  }
  if (health == Health::kUnhealthy) {
    handle_failure(service, replica, Failure{});
    return;
  }
  schedule_probe(service, replica, replica.probe->interval);
}

void ServiceManager::handle_failure(Service& service, Replica& replica, const Failure& failure) {
  bool was_running = replica.status.state == ReplicaState::kRunning;
  if (!failure.is_unhealthy()) {
    cancel_timers(replica);
    ++replica.incarnation;  // drop the old container's probe and poll results
  }
  if (failure.exit) replica.status.last_exit = failure.exit;
  if (!replica.status.desired_running || shutting_down_) {
    if (!failure.is_unhealthy()) {
      set_state(service, replica, ReplicaState::kStopped, failure.describe());
    }
    return;
  }
  auto now = loop_.clock().now();
  if (was_running && now - replica.started_at >= options_.supervision.backoff_reset_after) {
    replica.consecutive_restarts = 0;
  }
  RestartDecision decision =
      decide_restart(*replica.spec, failure, replica.consecutive_restarts, options_.supervision);
  using Action = RestartDecision::Action;
  switch (decision.action) {
    case Action::kRestart:
      if (failure.is_unhealthy()) {
        cancel_timers(replica);
        ++replica.incarnation;
      }
      restart_after(service, replica, decision.delay, decision.reason);
      return;
    case Action::kGiveUp:
      if (failure.is_unhealthy()) {
        // Nothing to restart it: it keeps running, out of endpoints, and is probed on so it
        // can recover.
        recorder_.note(Event::Severity::kWarning, deployment_, service.name,
                       fmt::format("{}: {}", replica.status.id.str(), decision.reason));
        schedule_probe(service, replica, replica.probe->interval);
        return;
      }
      replica.status.health = Health::kUnknown;
      set_state(service, replica,
                failure.is_success_exit() ? ReplicaState::kStopped : ReplicaState::kFailed,
                decision.reason,
                failure.is_success_exit() ? Event::Severity::kInfo : Event::Severity::kError);
      return;
    case Action::kIsolate:
      cancel_timers(replica);
      ++replica.incarnation;
      set_state(service, replica, ReplicaState::kIsolated, decision.reason,
                Event::Severity::kWarning);
      return;
    case Action::kShutdownService:
      cancel_timers(replica);
      ++replica.incarnation;
      if (!failure.is_unhealthy()) replica.status.health = Health::kUnknown;
      set_state(service, replica,
                failure.is_unhealthy() ? ReplicaState::kRunning : ReplicaState::kFailed,
                decision.reason, Event::Severity::kError);
      service_failed(service, fmt::format("service {}: {}", service.name, decision.reason));
      stop_service(service, false, [] {});
      return;
  }
}

void ServiceManager::restart_after(Service& service, Replica& replica, Clock::Duration delay,
                                   std::string reason) {
  ++replica.consecutive_restarts;
  if (delay > Clock::Duration::zero()) {
    set_state(service, replica, ReplicaState::kCrashLoopBackoff,
              fmt::format("{}; next restart in {}", reason, seconds_text(delay)),
              Event::Severity::kWarning);
    replica.restart_timer = loop_.schedule_after(delay, [this, ref = ref_to(service, replica)] {
      auto [svc, found] = resolve(ref);
      if (found == nullptr) return;
      found->restart_timer = 0;
      recreate(*svc, *found);
    });
    return;
  }
  recorder_.note(Event::Severity::kWarning, deployment_, service.name,
                 fmt::format("{}: {}", replica.status.id.str(), reason));
  recreate(service, replica);
}

void ServiceManager::recreate(Service& service, Replica& replica, bool count_restart) {
  if (count_restart) {
    ++replica.status.restart_count;
    ++service.status.restart_count;
    record_service(service);
  }
  ++replica.incarnation;
  runtime::Runtime* rt = service.runtime.runtime;
  ContainerId id = replica.status.id;
  std::chrono::milliseconds grace = std::chrono::duration_cast<std::chrono::milliseconds>(
      replica.spec->stop_grace_period.value_or(options_.supervision.stop_grace));
  // An OCI runtime cannot start a container that has exited: the container is removed and
  // created again under the same id (a liveness restart stops it first).
  blocking<Status>(
      service, replica, true,
      [rt, id, grace]() -> Status {
        auto stopped = rt->stop_container(id, grace);
        if (!stopped && !is_not_found(stopped)) return stopped;
        return rt->remove_container(id);
      },
      [this](Service& svc, Replica& r, Status removed) {
        if (!removed) {
          handle_failure(svc, r, Failure{std::nullopt, removed.error().message});
          return;
        }
        create(svc, r);
      });
}

void ServiceManager::stop_replica(Service& service, Replica& replica, bool remove,
                                  std::string reason, std::function<void()> done) {
  replica.stop_waiters.push_back(std::move(done));
  replica.stop_remove = replica.stop_remove || remove;
  if (replica.status.state == ReplicaState::kStopping) return;  // joins the stop in progress
  replica.status.desired_running = false;
  cancel_timers(replica);
  replica.init.reset();
  ++replica.incarnation;
  // Desired state is recorded before any signal, so the exit is never taken for a crash.
  set_state(service, replica, ReplicaState::kStopping, std::move(reason));
  std::string name = service.name;
  std::uint32_t number = replica.status.id.replica;
  auto stop_now = [this, name, number] {
    Service* svc = find_service(name);
    if (svc == nullptr) return;
    auto it = svc->replicas.find(number);
    if (it == svc->replicas.end()) return;
    Replica& r = *it->second;
    runtime::Runtime* rt = svc->runtime.runtime;
    ContainerId id = r.status.id;
    bool remove_it = r.stop_remove;
    std::chrono::milliseconds grace = std::chrono::duration_cast<std::chrono::milliseconds>(
        r.spec->stop_grace_period.value_or(options_.supervision.stop_grace));
    blocking<Status>(
        *svc, r, true,
        [rt, id, grace, remove_it]() -> Status {
          auto stopped = rt->stop_container(id, grace);
          if (!stopped && !is_not_found(stopped)) return stopped;
          if (remove_it) return rt->remove_container(id);
          return {};
        },
        [this](Service& s, Replica& rep, Status result) {
          auto waiters = std::move(rep.stop_waiters);
          rep.stop_waiters.clear();
          if (!result) {
            rep.status.health = Health::kUnknown;
            set_state(s, rep, ReplicaState::kFailed, result.error().wrap("stopping").message,
                      Event::Severity::kError);
          } else if (rep.stop_remove) {
            ContainerId gone = rep.status.id;
            s.replicas.erase(gone.replica);  // `rep` is gone from here on
            (void)recorder_.replica_removed(deployment_, gone,
                                            fmt::format("{} stopped and removed", gone.str()));
            schedule_evaluation();
          } else {
            rep.status.health = Health::kUnknown;
            set_state(s, rep, ReplicaState::kStopped, "stopped");
          }
          for (auto& waiter : waiters) {
            if (waiter) waiter();
          }
        });
  };
  if (replica.busy) {
    replica.when_idle = std::move(stop_now);
  } else {
    stop_now();
  }
}

}  // namespace zlayer::agent
