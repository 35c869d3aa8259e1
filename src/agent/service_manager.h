// ServiceManager: runs one deployment on this node. It brings services up in dependency order,
// keeps each service's replicas alive (restart policy / on_panic, capped exponential backoff) and
// healthy (health checks, liveness restarts), scales, rolls out changed specs one replica at a
// time, and shuts everything down in reverse dependency order. Every state change goes through
// the Recorder (state.db + events). It lives on the EventLoop's thread: every public function
// must be called there (a control socket posts its requests with EventLoop::post). Blocking
// runtime calls and probes run on the loop's executor. Design: docs/design.md "Supervision".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/event_loop.h"
#include "agent/exit_watcher.h"
#include "agent/init_actions.h"
#include "agent/prober.h"
#include "agent/recorder.h"
#include "agent/supervision.h"
#include "runtime/runtime.h"
#include "spec/secret_store.h"
#include "spec/spec.h"

namespace zlayer::agent {

// The backend a service runs on.
struct RuntimeBinding {
  runtime::Runtime* runtime = nullptr;  // outlives the manager; called from executor threads
  std::string backend;                  // "linux", "wasm": shown in status and state.db
};
// Chooses the backend for a service from its image (a Linux image or a WASM artifact), so linux
// and wasm services mix in one deployment. Errors: the image's (not pulled, unknown kind).
using RuntimeResolver = std::function<Result<RuntimeBinding>(const spec::ServiceSpec& service)>;
// Builds the container config of replica `id` of `service` (spec → runtime::ContainerConfig,
// env resolved) after its image was pulled. Runs on an executor thread, so it must be
// thread-safe. Errors: the conversion's (bad env reference, …); a failure counts as a failed
// start (restart with backoff, per the policy). spec_config_builder() is the standard one.
using ConfigBuilder = std::function<Result<runtime::ContainerConfig>(
    const std::string& deployment, const std::string& service, const spec::ServiceSpec& spec,
    const ContainerId& id)>;

// The standard ConfigBuilder: resolves the service's env ($E: from the agent's environment, $S:
// from `secrets`, may be null) and converts with spec::to_container_config, the image config
// coming from `image_config(image reference)` (e.g. ImageService::inspect; it must be
// thread-safe). Network mode bridge/default is left for the caller's backend to wire (netns).
using ImageConfigLookup = std::function<Result<image::ImageConfig>(const std::string& image)>;
ConfigBuilder spec_config_builder(ImageConfigLookup image_config, const spec::SecretStore* secrets);

struct ServiceManagerOptions {
  SupervisionConfig supervision;
  RuntimeResolver resolve_runtime;
  ConfigBuilder build_config;
  Prober* prober = nullptr;  // required; outlives the manager
  // Optional; outlives the manager. With it, a running replica's end is noticed through the
  // backend's exit descriptor (Runtime::exit_fd) at no cost while it runs; without it, or when
  // the backend has none (kUnsupported), container_state is polled every
  // supervision.exit_poll_interval.
  ExitWatcher* exit_watcher = nullptr;
};

// A service as the manager sees it.
struct ServiceStatus {
  enum class Phase {
    kWaiting,   // for its dependencies
    kActive,    // its replicas are being kept at `desired`
    kUpdating,  // a rolling update is replacing its replicas
    kFailed,    // a dependency timed out (on_timeout: fail) or on_panic: shutdown
    kStopping,  // removal or shutdown in progress
  };
  std::string name;
  Phase phase = Phase::kWaiting;
  std::uint32_t desired_replicas = 0;
  std::uint32_t restart_count = 0;  // restarts of all its replicas
  std::string reason;
};
std::string_view service_phase_name(ServiceStatus::Phase phase);

class ServiceManager {
 public:
  // `loop` and `recorder` must outlive the manager.
  ServiceManager(EventLoop& loop, Recorder& recorder, ServiceManagerOptions options);
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // First call: registers every service of `spec` and starts each (by rtype: services get
  // scale.initial_replicas() replicas; job and cron services are listed and an event says once
  // per service that they are not run yet) as soon as its `depends` conditions hold. Later calls
  // (redeploy): services whose spec changed are rolled out one replica at a time (a replacement
  // with a new replica number must be healthy before the old replica stops); a change of `scale`
  // alone is a scale; a failed service starts afresh; new services start; services no longer in
  // the spec are removed.
  // `spec_text` is stored in state.db `deployments`. Returns once the work is scheduled; progress
  // arrives as events. Errors: kInvalidArgument (a different deployment name, a dependency on an
  // unknown service, a dependency cycle — naming it), kFailedPrecondition (shutting down).
  Status deploy(const spec::DeploymentSpec& spec, const std::string& spec_text = {});
  // Takes over a deployment whose owner died (docs/design.md §4b), before the first deploy():
  // registers the services of `previous` (the spec the old owner last applied, from `persisted`)
  // with the persisted desired replica and restart counts, and resumes each persisted replica
  // from what its backend reports:
  //   - still running: supervised again (exit watch; health checks start over at `starting`);
  //   - ended while no owner ran: handled by its restart policy with its real exit status
  //     (a counted restart, as if it had just crashed);
  //   - lost by its backend (a WASM module dies with its agent) or never started: created again,
  //     not counted as a restart;
  //   - a stop the old owner had decided (desired stopped): the stop is finished and removed.
  // Services with a resumed replica are active at once (their dependencies held when they
  // started); the others wait for their dependencies as usual. The deploy() that follows rolls
  // out whatever differs between `previous` and the new spec.
  // Errors: kFailedPrecondition (a deployment is already registered), kInvalidArgument (as
  // deploy: a dependency cycle, an unknown dependency).
  Status adopt(const spec::DeploymentSpec& previous, const PersistedDeployment& persisted);
  // Sets the replica count of `service`: new replicas take the lowest free numbers, removal
  // stops the highest-numbered replicas first, one at a time.
  // Errors: kNotFound (no such service), kFailedPrecondition (job/cron service, shutting down),
  // kInvalidArgument (more than spec::kMaxReplicasPerService).
  Status scale(const std::string& service, std::uint32_t replicas);
  // Stops and removes every replica of `service` (all at once), then forgets it.
  // Errors: kNotFound.
  Status remove_service(const std::string& service);
  // Stops every service in reverse dependency order (all replicas of a service at once, the stops
  // issued highest replica first; each stopped and removed; the next service once the previous
  // one is gone) and restarts nothing meanwhile; `done` runs once everything is gone.
  void shutdown(std::function<void()> done);

  // ---- queries ----
  [[nodiscard]] const std::string& deployment() const { return deployment_; }
  [[nodiscard]] bool shutting_down() const { return shutting_down_; }
  // Every replica (or those of `service`), by service then replica number.
  [[nodiscard]] std::vector<ReplicaStatus> replicas(const std::string& service = {}) const;
  [[nodiscard]] std::optional<ReplicaStatus> replica(const ContainerId& id) const;
  [[nodiscard]] std::optional<ServiceStatus> service(const std::string& name) const;
  [[nodiscard]] std::vector<ServiceStatus> services() const;
  // The replicas that may receive traffic (running and healthy), for the endpoint proxy.
  [[nodiscard]] std::vector<ReplicaStatus> serving_replicas(const std::string& service) const;
  // Services in start order (dependencies first); shutdown uses the reverse.
  [[nodiscard]] const std::vector<std::string>& start_order() const { return order_; }

 private:
  struct Replica;
  struct Service;

  // Service level.
  void add_service(const std::string& name, const spec::ServiceSpec& spec);
  // (Re)arms the `depends` timeouts and puts the service in kWaiting.
  void wait_for_dependencies(Service& service);
  void evaluate_dependencies();
  bool condition_met(const spec::DependsSpec& dep) const;
  void dependency_timed_out(const std::string& service, std::size_t dep_index);
  void activate(Service& service);
  void reconcile(Service& service);
  void continue_rollout(Service& service);
  void service_failed(Service& service, std::string reason);
  void stop_service(Service& service, bool remove, std::function<void()> done);
  void shutdown_next();
  Service* find_service(const std::string& name);
  const Service* find_service(const std::string& name) const;
  std::uint32_t lowest_free_number(const Service& service) const;

  // Replica level.
  // How a callback that may run after its replica was replaced or removed finds it again.
  struct ReplicaRef {
    std::weak_ptr<bool> alive;  // the manager's
    std::string service;
    std::uint32_t number = 0;
    std::uint64_t incarnation = 0;
  };
  ReplicaRef ref_to(const Service& service, const Replica& replica) const;
  // The service and replica `ref` names when the manager, the replica and the same container
  // (incarnation) are all still there; else {nullptr, nullptr}.
  std::pair<Service*, Replica*> resolve(const ReplicaRef& ref);
  Replica& launch(Service& service, std::uint32_t number,
                  std::shared_ptr<const spec::ServiceSpec> spec);
  void create(Service& service, Replica& replica);
  void run_init(Service& service, Replica& replica);
  void start(Service& service, Replica& replica);
  // `exit_fd`: the backend's exit descriptor when there is an exit watcher and the backend has
  // one; otherwise the replica's state is polled.
  void started(Service& service, Replica& replica, const std::string& address,
               std::optional<UniqueFd> exit_fd);
  void watch_exit(Service& service, Replica& replica, UniqueFd exit_fd);
  void schedule_poll(Service& service, Replica& replica);
  // The running replica's container ended (or vanished) while no stop was in flight.
  void ended(Service& service, Replica& replica, Failure failure);
  void schedule_probe(Service& service, Replica& replica, Clock::Duration delay);
  void probe_result(Service& service, Replica& replica, ProbeOutcome outcome);
  void handle_failure(Service& service, Replica& replica, const Failure& failure);
  void init_failed(Service& service, Replica& replica, const Error& error);
  // Counts the restart and recreates the container after `delay` (crash_loop_backoff while
  // waiting).
  void restart_after(Service& service, Replica& replica, Clock::Duration delay, std::string reason);
  // `count_restart`: false when the container is recreated for a reason other than a failure
  // of its own (it was lost with a previous owner).
  void recreate(Service& service, Replica& replica, bool count_restart = true);
  // adopt(): looks at persisted replica `row`'s container and carries on from there.
  void resume(Service& service, const ReplicaStatus& row);
  void stop_replica(Service& service, Replica& replica, bool remove, std::string reason,
                    std::function<void()> done);
  void cancel_timers(Replica& replica);
  void set_state(Service& service, Replica& replica, ReplicaState state, std::string reason,
                 Event::Severity severity = Event::Severity::kInfo);
  void record_service(Service& service);
  // Runs `work` on the executor; `done` runs on the loop only if the replica still exists with
  // the same incarnation (its container was not replaced meanwhile).
  // `exclusive` marks the replica busy (create/start/stop/remove), so a stop issued meanwhile
  // waits for the call to return instead of racing it.
  template <typename T>
  void blocking(Service& service, Replica& replica, bool exclusive, std::function<T()> work,
                std::function<void(Service&, Replica&, T)> done);
  // Re-evaluates dependency waits and rollouts once, after the current task.
  void schedule_evaluation();

  EventLoop& loop_;
  Recorder& recorder_;
  ServiceManagerOptions options_;
  std::string deployment_;
  std::map<std::string, std::unique_ptr<Service>> services_;
  std::vector<std::string> order_;
  std::string spec_text_;
  std::set<std::string> listed_;  // job/cron services already reported as not run
  bool shutting_down_ = false;
  bool evaluation_pending_ = false;
  std::vector<std::string> shutdown_queue_;
  std::function<void()> shutdown_done_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Start order of `spec`'s services (dependencies first, ties by name), Kahn's algorithm.
// Errors: kInvalidArgument for a dependency on an unknown service or a cycle ("a -> b -> a").
Result<std::vector<std::string>> dependency_order(const spec::DeploymentSpec& spec);

}  // namespace zlayer::agent
