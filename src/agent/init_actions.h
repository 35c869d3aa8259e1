// Init actions (spec `init.steps`): init.wait_tcp, init.wait_http and init.run, run in order
// before a replica's container starts, each with its timeout, `retry` and `on_failure`
// (upstream crates/zlayer-init-actions; ../shared/reference/spec-schema.md §7). Like upstream
// they run from the agent: wait_* reach the host/URL given, init.run runs `sh -c` on the host
// (the container has not started yet, so there is nothing to exec into). Probes run on the
// event loop's executor; waiting between attempts is a loop timer, so tests drive it with a
// ManualClock. Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/event_loop.h"
#include "agent/prober.h"
#include "agent/recorder.h"
#include "agent/supervision.h"
#include "spec/spec.h"

namespace zlayer::agent {

// Parameters of one step, checked: `uses` is known and its required `with` keys are there.
struct InitActionPlan {
  enum class Kind { kWaitTcp, kWaitHttp, kRun };
  Kind kind = Kind::kWaitTcp;
  std::string host;                            // wait_tcp
  std::uint16_t port = 0;                      // wait_tcp
  std::string url;                             // wait_http
  std::optional<std::uint16_t> expect_status;  // wait_http; unset = any 2xx
  std::string command;                         // run
  Clock::Duration timeout{};  // step.timeout, else with.timeout (seconds), else 30 s / 300 s
  std::uint32_t retries = 0;  // run: extra attempts after a failure (step.retry)
};
// Errors: kInvalidArgument naming the step and the missing/bad parameter; kUnsupported for
// init.s3_push / init.s3_pull (S3 is a cluster feature) and unknown actions.
Result<InitActionPlan> plan_init_step(const spec::InitStep& step);

// One run of a service's init steps for one replica. Progress is reported through `note`
// (warnings of on_failure: warn), the result through `done` (success, or the error of the step
// that failed with on_failure: fail). Destroying the runner cancels it: no callback runs later.
class InitRunner {
 public:
  using NoteFn = std::function<void(Event::Severity, std::string)>;
  using DoneFn = std::function<void(Status)>;
  InitRunner(EventLoop& loop, Prober& prober, const SupervisionConfig& config,
             std::vector<spec::InitStep> steps, NoteFn note, DoneFn done);
  ~InitRunner();
  InitRunner(const InitRunner&) = delete;
  InitRunner& operator=(const InitRunner&) = delete;
  void start();

 private:
  void begin_step();
  void attempt();
  void attempt_finished(ProbeOutcome outcome);
  void step_failed(const std::string& why);
  void finish(Status status);

  EventLoop& loop_;
  Prober& prober_;
  const SupervisionConfig& config_;
  std::vector<spec::InitStep> steps_;
  NoteFn note_;
  DoneFn done_;
  std::size_t index_ = 0;
  InitActionPlan plan_;
  Clock::SteadyTime deadline_{};
  std::uint32_t attempts_ = 0;
  TimerId retry_timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace zlayer::agent
