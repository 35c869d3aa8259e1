#include "agent/supervision.h"

#include <fmt/format.h>

namespace zlayer::agent {

Clock::Duration backoff_delay(Clock::Duration initial, Clock::Duration max, std::uint32_t attempt) {
  if (attempt == 0 || initial <= Clock::Duration::zero()) return Clock::Duration::zero();
  Clock::Duration delay = initial;
  for (std::uint32_t i = 1; i < attempt && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

std::string Failure::describe() const {
  if (exit) return exit->describe();
  if (error) return *error;
  return "liveness check failed";
}

namespace {

std::string what_happened(const Failure& failure) { return failure.describe(); }

RestartDecision restart(const spec::ServiceSpec& service, const Failure& failure,
                        std::uint32_t consecutive, const SupervisionConfig& config,
                        std::string_view rule) {
  RestartDecision decision{RestartDecision::Action::kRestart, {}, {}};
  std::optional<Clock::Duration> delay;
  if (service.restart_policy) delay = service.restart_policy->delay;
  if (delay) {
    decision.delay =
        backoff_delay(*delay, std::max(*delay, config.restart_backoff_max), consecutive + 1);
  } else {
    decision.delay =
        backoff_delay(config.restart_backoff_initial, config.restart_backoff_max, consecutive);
  }
  decision.reason =
      fmt::format("{}; {}: restart {}", what_happened(failure), rule, consecutive + 1);
  return decision;
}

}  // namespace

RestartDecision decide_restart(const spec::ServiceSpec& service, const Failure& failure,
                               std::uint32_t consecutive_restarts,
                               const SupervisionConfig& config) {
  using Action = RestartDecision::Action;
  using Kind = spec::RestartPolicyKind;
  if (service.restart_policy) {
    const auto& policy = *service.restart_policy;
    std::string rule = fmt::format("restart policy {}", spec::to_string(policy.kind));
    switch (policy.kind) {
      case Kind::kNo:
        return {Action::kGiveUp, {}, fmt::format("{}; {}", what_happened(failure), rule)};
      case Kind::kAlways:
      case Kind::kUnlessStopped:
        return restart(service, failure, consecutive_restarts, config, rule);
      case Kind::kOnFailure:
        if (failure.is_success_exit()) {
          return {Action::kGiveUp, {}, fmt::format("{}; {}", what_happened(failure), rule)};
        }
        if (policy.max_attempts && consecutive_restarts >= *policy.max_attempts) {
          return {Action::kGiveUp,
                  {},
                  fmt::format("{}; {}: gave up after {} restarts", what_happened(failure), rule,
                              consecutive_restarts)};
        }
        return restart(service, failure, consecutive_restarts, config, rule);
    }
  }
  switch (service.errors.on_panic) {
    case spec::PanicAction::kRestart:
      return restart(service, failure, consecutive_restarts, config, "on_panic restart");
    case spec::PanicAction::kShutdown:
      return {Action::kShutdownService,
              {},
              fmt::format("{}; on_panic shutdown: stopping the service", what_happened(failure))};
    case spec::PanicAction::kIsolate:
      return {Action::kIsolate,
              {},
              fmt::format("{}; on_panic isolate: kept out of endpoints for inspection",
                          what_happened(failure))};
  }
  return {Action::kGiveUp, {}, what_happened(failure)};
}

std::string_view health_name(Health health) {
  switch (health) {
    case Health::kUnknown:
      return "unknown";
    case Health::kStarting:
      return "starting";
    case Health::kHealthy:
      return "healthy";
    case Health::kUnhealthy:
      return "unhealthy";
  }
  return "unknown";
}

HealthTracker::HealthTracker(std::uint32_t retries, Clock::Duration start_grace,
                             Clock::SteadyTime started)
    : retries_(std::max<std::uint32_t>(retries, 1)), grace_end_(started + start_grace) {}

bool HealthTracker::in_grace(Clock::SteadyTime now) const {
  return !grace_over_ && now < grace_end_;
}

bool HealthTracker::record(bool success, Clock::SteadyTime now) {
  Health before = health_;
  if (success) {
    grace_over_ = true;
    failures_ = 0;
    health_ = Health::kHealthy;
  } else if (!in_grace(now)) {
    grace_over_ = true;
    if (++failures_ >= retries_) health_ = Health::kUnhealthy;
  }
  return health_ != before;
}

}  // namespace zlayer::agent
