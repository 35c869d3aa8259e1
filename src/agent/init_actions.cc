#include "agent/init_actions.h"

#include <fmt/format.h>

namespace zlayer::agent {
namespace {

Result<std::string> string_param(const spec::InitStep& step, const char* key) {
  auto it = step.with.find(key);
  if (it == step.with.end() || !it->is_string() || it->get<std::string>().empty()) {
    return errorf(Errc::kInvalidArgument, "init step {} ({}): `with.{}` must be a non-empty string",
                  step.id, step.uses, key);
  }
  return it->get<std::string>();
}

Result<std::uint16_t> port_param(const spec::InitStep& step, const char* key, bool required) {
  auto it = step.with.find(key);
  if (it == step.with.end()) {
    if (!required) return std::uint16_t{0};
    return errorf(Errc::kInvalidArgument, "init step {} ({}): `with.{}` is required", step.id,
                  step.uses, key);
  }
  std::int64_t value = -1;
  if (it->is_number_integer()) {
    value = it->get<std::int64_t>();
  } else if (it->is_string()) {
    try {
      value = std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      value = -1;
    }
  }
  if (value < 1 || value > 65535) {
    return errorf(Errc::kInvalidArgument, "init step {} ({}): `with.{}` must be 1-65535, got {}",
                  step.id, step.uses, key, it->dump());
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

Result<InitActionPlan> plan_init_step(const spec::InitStep& step) {
  InitActionPlan plan;
  Clock::Duration default_timeout = seconds(30);
  if (step.uses == "init.wait_tcp") {
    plan.kind = InitActionPlan::Kind::kWaitTcp;
    ZLAYER_TRY(host, string_param(step, "host"));
    ZLAYER_TRY(port, port_param(step, "port", true));
    plan.host = host;
    plan.port = port;
  } else if (step.uses == "init.wait_http") {
    plan.kind = InitActionPlan::Kind::kWaitHttp;
    ZLAYER_TRY(url, string_param(step, "url"));
    ZLAYER_TRY(status, port_param(step, "expect_status", false));
    plan.url = url;
    if (status != 0) plan.expect_status = status;
  } else if (step.uses == "init.run") {
    plan.kind = InitActionPlan::Kind::kRun;
    ZLAYER_TRY(command, string_param(step, "command"));
    plan.command = command;
    plan.retries = step.retry.value_or(0);
    default_timeout = seconds(300);
  } else if (step.uses == "init.s3_push" || step.uses == "init.s3_pull") {
    return errorf(Errc::kUnsupported,
                  "init step {}: {} needs S3 storage, which this single-node agent does not have",
                  step.id, step.uses);
  } else {
    return errorf(Errc::kUnsupported,
                  "init step {}: unknown action {:?} (expected init.wait_tcp, init.wait_http or "
                  "init.run)",
                  step.id, step.uses);
  }
  if (step.timeout) {
    plan.timeout = *step.timeout;
  } else if (auto it = step.with.find("timeout"); it != step.with.end() && it->is_number()) {
    plan.timeout = seconds(it->get<std::int64_t>());
  } else {
    plan.timeout = default_timeout;
  }
  return plan;
}

InitRunner::InitRunner(EventLoop& loop, Prober& prober, const SupervisionConfig& config,
                       std::vector<spec::InitStep> steps, NoteFn note, DoneFn done)
    : loop_(loop),
      prober_(prober),
      config_(config),
      steps_(std::move(steps)),
      note_(std::move(note)),
      done_(std::move(done)) {}

InitRunner::~InitRunner() {
  *alive_ = false;
  if (retry_timer_ != 0) loop_.cancel(retry_timer_);
}

void InitRunner::start() {
  index_ = 0;
  begin_step();
}

void InitRunner::begin_step() {
  if (index_ >= steps_.size()) {
    finish({});
    return;
  }
  auto plan = plan_init_step(steps_[index_]);
  if (!plan) {
    step_failed(plan.error().message);
    return;
  }
  plan_ = *plan;
  attempts_ = 0;
  deadline_ = loop_.clock().now() + plan_.timeout;
  attempt();
}

void InitRunner::attempt() {
  retry_timer_ = 0;
  ++attempts_;
  Clock::Duration remaining = deadline_ - loop_.clock().now();
  Clock::Duration timeout = std::max<Clock::Duration>(remaining, milliseconds(1));
  std::weak_ptr<bool> alive = alive_;
  InitActionPlan plan = plan_;
  Prober& prober = prober_;
  loop_.run_blocking<ProbeOutcome>(
      [plan, timeout, &prober]() -> ProbeOutcome {
        switch (plan.kind) {
          case InitActionPlan::Kind::kWaitTcp:
            return prober.tcp(plan.host, plan.port, std::min<Clock::Duration>(timeout, seconds(5)));
          case InitActionPlan::Kind::kWaitHttp:
            return prober.http(plan.url, plan.expect_status,
                               std::min<Clock::Duration>(timeout, seconds(5)));
          case InitActionPlan::Kind::kRun:
            return prober.host_command(plan.command, timeout);
        }
        return {false, "unknown init action"};
      },
      [this, alive](ProbeOutcome outcome) {
        if (alive.expired() || !*alive.lock()) return;
        attempt_finished(std::move(outcome));
      });
}

void InitRunner::attempt_finished(ProbeOutcome outcome) {
  if (outcome.success) {
    ++index_;
    begin_step();
    return;
  }
  const auto& step = steps_[index_];
  bool waiting = plan_.kind != InitActionPlan::Kind::kRun;
  bool may_retry = waiting || attempts_ <= plan_.retries;
  Clock::SteadyTime next = loop_.clock().now() + config_.init_poll_interval;
  if (may_retry && next < deadline_) {
    std::weak_ptr<bool> alive = alive_;
    retry_timer_ = loop_.schedule_after(config_.init_poll_interval, [this, alive] {
      if (alive.expired() || !*alive.lock()) return;
      attempt();
    });
    return;
  }
  std::string why = waiting && loop_.clock().now() + config_.init_poll_interval >= deadline_
                        ? fmt::format("init step {} ({}) did not succeed within its timeout: {}",
                                      step.id, step.uses, outcome.detail)
                        : fmt::format("init step {} ({}) failed after {} attempt(s): {}", step.id,
                                      step.uses, attempts_, outcome.detail);
  step_failed(why);
}

void InitRunner::step_failed(const std::string& why) {
  const auto& step = steps_[index_];
  switch (step.on_failure) {
    case spec::TimeoutAction::kFail:
      finish(errorf(Errc::kFailedPrecondition, "{}", why));
      return;
    case spec::TimeoutAction::kWarn:
      note_(Event::Severity::kWarning, why + " (on_failure: warn, continuing)");
      break;
    case spec::TimeoutAction::kContinue:
      break;
  }
  ++index_;
  begin_step();
}

void InitRunner::finish(Status status) {
  // `done` may destroy this runner; nothing touches members afterwards.
  DoneFn done = done_;
  done(std::move(status));
}

}  // namespace zlayer::agent
