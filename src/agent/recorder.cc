#include "agent/recorder.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "core/log.h"

namespace zlayer::agent {
namespace {

std::int64_t unix_seconds(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

state::Value optional_int(const std::optional<std::int64_t>& v) {
  if (!v) return nullptr;
  return *v;
}

}  // namespace

std::string_view replica_state_name(ReplicaState state) {
  switch (state) {
    case ReplicaState::kPending:
      return "pending";
    case ReplicaState::kCreating:
      return "creating";
    case ReplicaState::kInitializing:
      return "initializing";
    case ReplicaState::kRunning:
      return "running";
    case ReplicaState::kCrashLoopBackoff:
      return "crash_loop_backoff";
    case ReplicaState::kStopping:
      return "stopping";
    case ReplicaState::kStopped:
      return "stopped";
    case ReplicaState::kFailed:
      return "failed";
    case ReplicaState::kIsolated:
      return "isolated";
  }
  return "unknown";
}

void Recorder::remove_sink(EventSink* sink) {
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
}

void Recorder::emit(Event event) {
  event.time = clock_.wall_now();
  for (EventSink* sink : sinks_) sink->on_event(event);
}

Status Recorder::failed(const Error& error, const std::string& deployment,
                        const std::string& what) {
  Error wrapped = error.wrap(fmt::format("recording {} in state.db", what));
  note(Event::Severity::kError, deployment, {}, wrapped.message);
  return tl::unexpected(std::move(wrapped));
}

Status Recorder::replica(const ReplicaStatus& status, std::string message,
                         Event::Severity severity) {
  Status stored;
  if (db_ != nullptr) {
    std::optional<std::int64_t> code, signal, oom;
    if (status.last_exit) {
      code = status.last_exit->exit_code;
      signal = status.last_exit->signal;
      oom = status.last_exit->oom_killed ? 1 : 0;
    }
    stored = db_->transaction([&]() -> Status {
      ZLAYER_CHECK(db_->exec(
          "INSERT INTO replicas (deployment, service, replica, container_id, backend, desired, "
          "state, health, restart_count, last_exit_code, last_exit_signal, last_oom_killed, "
          "reason, address, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
          "?12, ?13, ?14, ?15) ON CONFLICT (deployment, service, replica) DO UPDATE SET "
          "container_id = ?4, backend = ?5, desired = ?6, state = ?7, health = ?8, "
          "restart_count = ?9, last_exit_code = ?10, last_exit_signal = ?11, "
          "last_oom_killed = ?12, reason = ?13, address = ?14, updated_at = ?15",
          {status.deployment, status.id.service, static_cast<std::int64_t>(status.id.replica),
           status.id.str(), status.backend,
           std::string(status.desired_running ? "running" : "stopped"),
           std::string(replica_state_name(status.state)), std::string(health_name(status.health)),
           static_cast<std::int64_t>(status.restart_count), optional_int(code),
           optional_int(signal), optional_int(oom), status.reason, status.address,
           unix_seconds(clock_.wall_now())}));
      // The backend's row (if it keeps one) learns which deployment owns the container.
      ZLAYER_CHECK(db_->exec("UPDATE containers SET deployment = ?1 WHERE id = ?2",
                             {status.deployment, status.id.str()}));
      return {};
    });
  }
  emit(Event{severity, {}, status.deployment, status.id.service, status, std::move(message)});
  if (!stored) return failed(stored.error(), status.deployment, status.id.str());
  return {};
}

Status Recorder::replica_removed(const std::string& deployment, const ContainerId& id,
                                 std::string message) {
  Status stored;
  if (db_ != nullptr) {
    auto deleted =
        db_->exec("DELETE FROM replicas WHERE deployment = ?1 AND service = ?2 AND replica = ?3",
                  {deployment, id.service, static_cast<std::int64_t>(id.replica)});
    if (!deleted) stored = tl::unexpected(deleted.error());
  }
  emit(Event{Event::Severity::kInfo, {}, deployment, id.service, std::nullopt, std::move(message)});
  if (!stored) return failed(stored.error(), deployment, id.str());
  return {};
}

Status Recorder::service(const std::string& deployment, const std::string& service,
                         std::uint32_t desired_replicas, std::uint32_t restart_count) {
  if (db_ == nullptr) return {};
  auto stored = db_->exec(
      "INSERT INTO services (deployment, name, desired_replicas, restart_count) VALUES (?1, ?2, "
      "?3, ?4) ON CONFLICT (deployment, name) DO UPDATE SET desired_replicas = ?3, "
      "restart_count = ?4",
      {deployment, service, static_cast<std::int64_t>(desired_replicas),
       static_cast<std::int64_t>(restart_count)});
  if (!stored) return failed(stored.error(), deployment, "service " + service);
  return {};
}

Status Recorder::service_removed(const std::string& deployment, const std::string& service) {
  if (db_ == nullptr) return {};
  auto deleted =
      db_->exec("DELETE FROM services WHERE deployment = ?1 AND name = ?2", {deployment, service});
  if (!deleted) return failed(deleted.error(), deployment, "service " + service);
  return {};
}

Status Recorder::deployment(const std::string& name, const std::string& spec_text, bool up) {
  Status stored;
  if (db_ != nullptr) {
    auto written = db_->exec(
        "INSERT INTO deployments (name, spec, desired, owner_pid, updated_at) VALUES (?1, ?2, ?3, "
        "?4, ?5) ON CONFLICT (name) DO UPDATE SET spec = ?2, desired = ?3, owner_pid = ?4, "
        "updated_at = ?5",
        {name, spec_text, std::string(up ? "up" : "down"), static_cast<std::int64_t>(::getpid()),
         unix_seconds(clock_.wall_now())});
    if (!written) return failed(written.error(), name, "deployment " + name);
  }
  note(Event::Severity::kInfo, name, {},
       fmt::format("deployment {}: desired state {}", name, up ? "up" : "down"));
  return stored;
}

void Recorder::note(Event::Severity severity, const std::string& deployment,
                    const std::string& service, std::string message) {
  emit(Event{severity, {}, deployment, service, std::nullopt, std::move(message)});
}

}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

std::int64_t int_or(const state::Value& value, std::int64_t fallback) {
  if (const auto* v = std::get_if<std::int64_t>(&value)) return *v;
  return fallback;
}
std::string text_or_empty(const state::Value& value) {
  if (const auto* v = std::get_if<std::string>(&value)) return *v;
  return {};
}
std::uint32_t count_of(const state::Value& value) {
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(int_or(value, 0), 0, UINT32_MAX));
}

}  // namespace

Result<std::optional<PersistedDeployment>> load_deployment(state::StateDb& db,
                                                           const std::string& name) {
  ZLAYER_TRY(rows, db.query("SELECT spec, desired FROM deployments WHERE name = ?1", {name}));
  if (rows.empty()) return std::optional<PersistedDeployment>();
  PersistedDeployment out;
  out.spec_text = text_or_empty(rows[0][0]);
  out.up = text_or_empty(rows[0][1]) != "down";
  ZLAYER_TRY(services, db.query("SELECT name, desired_replicas, restart_count FROM services "
                                "WHERE deployment = ?1",
                                {name}));
  for (const auto& row : services) {
    out.services[text_or_empty(row[0])] = PersistedService{count_of(row[1]), count_of(row[2])};
  }
  ZLAYER_TRY(replicas,
             db.query("SELECT service, replica, backend, desired, restart_count, last_exit_code, "
                      "last_exit_signal, last_oom_killed, address FROM replicas WHERE "
                      "deployment = ?1 ORDER BY service, replica",
                      {name}));
  for (const auto& row : replicas) {
    ReplicaStatus status;
    status.deployment = name;
    status.id = ContainerId{text_or_empty(row[0]), count_of(row[1])};
    status.backend = text_or_empty(row[2]);
    status.desired_running = text_or_empty(row[3]) != "stopped";
    status.restart_count = count_of(row[4]);
    if (const auto* code = std::get_if<std::int64_t>(&row[5])) {
      runtime::ExitStatus exit;
      exit.exit_code = static_cast<int>(*code);
      exit.signal = static_cast<int>(int_or(row[6], 0));
      exit.oom_killed = int_or(row[7], 0) != 0;
      status.last_exit = exit;
    }
    status.address = text_or_empty(row[8]);
    out.replicas.push_back(std::move(status));
  }
  return std::optional<PersistedDeployment>(std::move(out));
}

}  // namespace zlayer::agent
