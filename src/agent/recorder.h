// The one place every supervision state change goes through (systemd's set_state()): it writes the
// change to state.db (`replicas`, `services`, `deployments` tables, docs/design.md §4) and then
// emits an Event to every registered EventSink (the CLI's status table and event lines, later the
// control socket and the endpoint proxy). Loop thread only (it owns a StateDb connection).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/supervision.h"
#include "core/clock.h"
#include "core/container_id.h"
#include "runtime/runtime.h"
#include "state/state_db.h"

namespace zlayer::agent {

// The supervisor's view of one replica (not the runtime's: crash_loop_backoff and health live
// here). See docs/design.md "Supervision" for the transitions.
enum class ReplicaState {
  kPending,           // waiting for its dependencies
  kCreating,          // pull + create
  kInitializing,      // init actions
  kRunning,           // started; see Health
  kCrashLoopBackoff,  // waiting `delay` before the next restart
  kStopping,          // desired stopped, stop sent
  kStopped,           // ended on request or cleanly, not restarted
  kFailed,            // ended, and the policy gives up (or creation/init failed)
  kIsolated,          // errors.on_panic isolate: kept as it is, out of endpoints
};
// "pending", "creating", "initializing", "running", "crash_loop_backoff", "stopping", "stopped",
// "failed", "isolated".
std::string_view replica_state_name(ReplicaState state);

struct ReplicaStatus {
  std::string deployment;
  ContainerId id;               // service + 1-based replica
  std::string backend;          // the runtime's name ("linux", "wasm")
  bool desired_running = true;  // false once a stop/scale-down/removal was decided
  ReplicaState state = ReplicaState::kPending;
  Health health = Health::kUnknown;
  std::uint32_t restart_count = 0;               // restarts since the replica was created
  std::optional<runtime::ExitStatus> last_exit;  // of the previous container
  std::string reason;                            // why the last change happened
  std::string address;                           // its own IP, when it has one
  [[nodiscard]] bool serving() const {           // counted in endpoints and `healthy`
    return state == ReplicaState::kRunning && health == Health::kHealthy;
  }
};

struct Event {
  enum class Severity { kInfo, kWarning, kError };
  Severity severity = Severity::kInfo;
  Clock::WallTime time{};
  std::string deployment;
  std::string service;                   // empty for deployment-level events
  std::optional<ReplicaStatus> replica;  // set for replica state changes
  std::string message;                   // one line for humans
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called on the loop thread right after the change was recorded; must not block.
  virtual void on_event(const Event& event) = 0;
};

class Recorder {
 public:
  // `db` may be null (nothing persisted, events only); it must outlive the recorder.
  Recorder(state::StateDb* db, const Clock& clock) : db_(db), clock_(clock) {}
  void add_sink(EventSink* sink) { sinks_.push_back(sink); }
  void remove_sink(EventSink* sink);

  // Persists `status` (upsert of its `replicas` row; also tags its `containers` row with the
  // deployment) and emits a replica event with `message`. Errors: state.db's; the event is
  // emitted either way (a full disk must not blind the status display).
  Status replica(const ReplicaStatus& status, std::string message,
                 Event::Severity severity = Event::Severity::kInfo);
  // Deletes the replica's row (scale-down, removal) and emits an event.
  Status replica_removed(const std::string& deployment, const ContainerId& id, std::string message);
  // Upserts the `services` row (desired replicas, restarts of all its replicas so far).
  Status service(const std::string& deployment, const std::string& service,
                 std::uint32_t desired_replicas, std::uint32_t restart_count);
  Status service_removed(const std::string& deployment, const std::string& service);
  // Upserts the `deployments` row: `spec_text` as applied, desired "up"/"down", our pid.
  Status deployment(const std::string& name, const std::string& spec_text, bool up);
  // An event without a state change (warnings such as on_timeout: warn, jobs not run yet).
  void note(Event::Severity severity, const std::string& deployment, const std::string& service,
            std::string message);

 private:
  void emit(Event event);
  Status failed(const Error& error, const std::string& deployment, const std::string& what);

  state::StateDb* db_;
  const Clock& clock_;
  std::vector<EventSink*> sinks_;
};

// What state.db holds about a deployment: what its owner last applied and the replicas it was
// keeping, for a new owner taking over after the previous one died (docs/design.md §4b).
struct PersistedService {
  std::uint32_t desired_replicas = 0;
  std::uint32_t restart_count = 0;
};
struct PersistedDeployment {
  std::string spec_text;  // YAML as last applied
  bool up = true;         // desired state: false once a shutdown had begun
  std::map<std::string, PersistedService> services;
  // deployment, id, backend, desired_running, restart_count, last_exit, address; the state
  // and health columns are the old owner's view and are not read back.
  std::vector<ReplicaStatus> replicas;
};
// Reads deployment `name` from `db`. nullopt: state.db has no such deployment.
// Errors: state.db's.
Result<std::optional<PersistedDeployment>> load_deployment(state::StateDb& db,
                                                           const std::string& name);

}  // namespace zlayer::agent
