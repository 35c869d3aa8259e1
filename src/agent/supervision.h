// Supervision rules as pure functions and small value types (containerd's style: restart is a
// reconcile decision with table tests): the agent-wide timing knobs, capped exponential backoff,
// the restart decision for an exited or unhealthy replica, and the health state machine of one
// replica (start_grace, retries, one success → healthy). No I/O and no threads; the
// ServiceManager (agent/service_manager.h) calls these on its loop thread.
// Numbers and the state machine: docs/design.md "Supervision".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "runtime/runtime.h"
#include "spec/spec.h"

namespace zlayer::agent {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The agent-wide timing knobs. Defaults follow Kubernetes (kubelet restart backoff: 10 s doubling
// to 5 min, reset after 10 min of running; kubelet PLEG relist: 1 s) and upstream ZLayer (health
// interval 10 s, timeout 5 s; init backoff 1 s doubling to 60 s; init poll every 2 s). End-to-end
// tests shorten them (ZLAYER_SUPERVISION_* in the CLI, a later task) so they run in seconds.
struct SupervisionConfig {
  Clock::Duration restart_backoff_initial = seconds(10);
  Clock::Duration restart_backoff_max = minutes(5);
  Clock::Duration backoff_reset_after = minutes(10);  // a run this long forgets earlier crashes
  Clock::Duration exit_poll_interval = seconds(1);    // how often running replicas are polled
  Clock::Duration health_interval = seconds(10);      // when health.interval is unset
  Clock::Duration health_timeout = seconds(5);        // when health.timeout is unset
  Clock::Duration init_backoff_initial = seconds(1);
  Clock::Duration init_backoff_max = seconds(60);
  std::uint32_t init_restart_attempts = 3;          // on_init_failure: restart
  Clock::Duration init_poll_interval = seconds(2);  // init.wait_tcp / init.wait_http attempts
  Clock::Duration init_step_timeout = minutes(5);   // step without `timeout`
  Clock::Duration stop_grace = seconds(10);         // services without stop_grace_period
};

// min(initial · 2^(attempt−1), max) for attempt ≥ 1 (attempt 0 → 0). Overflow-safe.
Clock::Duration backoff_delay(Clock::Duration initial, Clock::Duration max, std::uint32_t attempt);

// Why a replica needs a decision: its container ended, could not be created or started, or its
// liveness check said unhealthy (neither `exit` nor `error` set: the container still runs).
struct Failure {
  std::optional<runtime::ExitStatus> exit;
  std::optional<std::string> error;  // create/start failed, or the container vanished
  [[nodiscard]] bool is_success_exit() const { return exit && exit->success(); }
  [[nodiscard]] bool is_unhealthy() const { return !exit && !error; }
  // "exit code 3", "liveness check failed", or the error.
  [[nodiscard]] std::string describe() const;
};

struct RestartDecision {
  enum class Action {
    kRestart,          // recreate after `delay`
    kGiveUp,           // leave it stopped: `stopped` after a clean exit, else `failed`
    kIsolate,          // keep the container (running or exited) out of endpoints, untouched
    kShutdownService,  // stop every replica of the service (errors.on_panic: shutdown)
  };
  Action action = Action::kGiveUp;
  Clock::Duration delay{0};
  std::string reason;  // "restart policy on_failure: gave up after 3 attempts", …
};

// What to do about `failure` of a replica of `service` that has been restarted
// `consecutive_restarts` times since it last ran for config.backoff_reset_after.
// restart_policy wins over errors.on_panic when set (issue 5):
//   no → give up; always / unless_stopped → restart on every exit and liveness failure;
//   on_failure → restart unless the exit was clean, give up after max_attempts restarts.
// Without restart_policy, errors.on_panic: restart → restart on every exit or liveness failure
// (a service is meant to run); shutdown → stop the service; isolate → keep it out of endpoints.
// Delay: the first restart is immediate (the kubelet's), later ones wait
// backoff_delay(initial, max, consecutive_restarts); restart_policy.delay replaces `initial` and
// also delays the first restart.
RestartDecision decide_restart(const spec::ServiceSpec& service, const Failure& failure,
                               std::uint32_t consecutive_restarts, const SupervisionConfig& config);

enum class Health { kUnknown, kStarting, kHealthy, kUnhealthy };
// "unknown", "starting", "healthy", "unhealthy".
std::string_view health_name(Health health);

// The health of one running replica under its probe results (Envoy/Kubernetes thresholds):
// while in start_grace failures do not count and a success ends the grace; afterwards `retries`
// consecutive failures make it unhealthy and one success makes it healthy again.
class HealthTracker {
 public:
  // `retries` ≥ 1 (0 is taken as 1); the grace runs from `started` for `start_grace`.
  HealthTracker(std::uint32_t retries, Clock::Duration start_grace, Clock::SteadyTime started);
  // Records one probe result at `now`; returns true when health() changed.
  bool record(bool success, Clock::SteadyTime now);
  [[nodiscard]] Health health() const { return health_; }
  [[nodiscard]] std::uint32_t consecutive_failures() const { return failures_; }
  [[nodiscard]] bool in_grace(Clock::SteadyTime now) const;

 private:
  std::uint32_t retries_;
  Clock::SteadyTime grace_end_;
  bool grace_over_ = false;
  std::uint32_t failures_ = 0;
  Health health_ = Health::kStarting;
};

}  // namespace zlayer::agent
