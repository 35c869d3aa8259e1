#include "agent/supervision.h"

#include <gtest/gtest.h>

namespace zlayer::agent {
namespace {

using runtime::ExitStatus;
using Action = RestartDecision::Action;

TEST(Backoff, DoublesFromInitialAndCapsAtMax) {
  // Kubernetes' numbers: 10 s doubling to 5 min.
  std::vector<std::int64_t> got;
  for (std::uint32_t attempt = 0; attempt <= 8; ++attempt) {
    got.push_back(
        std::chrono::duration_cast<seconds>(backoff_delay(seconds(10), minutes(5), attempt))
            .count());
  }
  EXPECT_EQ(got, (std::vector<std::int64_t>{0, 10, 20, 40, 80, 160, 300, 300, 300}));
  // Init backoff: 1 s doubling to 60 s.
  EXPECT_EQ(backoff_delay(seconds(1), seconds(60), 7), seconds(60));
  EXPECT_EQ(backoff_delay(seconds(1), seconds(60), 6), seconds(32));
  // Huge attempt numbers do not overflow.
  EXPECT_EQ(backoff_delay(seconds(10), minutes(5), 4000000000u), minutes(5));
}

spec::ServiceSpec with_policy(std::optional<spec::RestartPolicyKind> kind,
                              spec::PanicAction panic = spec::PanicAction::kRestart,
                              std::optional<std::uint32_t> max_attempts = std::nullopt,
                              std::optional<spec::Duration> delay = std::nullopt) {
  spec::ServiceSpec service;
  service.errors.on_panic = panic;
  if (kind) service.restart_policy = spec::RestartPolicySpec{*kind, max_attempts, delay};
  return service;
}

struct Row {
  const char* name;
  spec::ServiceSpec service;
  Failure failure;
  std::uint32_t consecutive;
  Action action;
  Clock::Duration delay;
};

TEST(DecideRestart, Table) {
  using K = spec::RestartPolicyKind;
  using P = spec::PanicAction;
  const Failure crash{ExitStatus::exited(3), {}};
  const Failure clean{ExitStatus::exited(0), {}};
  const Failure killed{ExitStatus::killed_by(9), {}};
  const Failure unhealthy{};
  const Failure create_error{std::nullopt, "image not found"};
  const std::vector<Row> rows = {
      {"no policy, on_panic restart, crash: at once", with_policy({}), crash, 0, Action::kRestart,
       seconds(0)},
      {"on_panic restart, second crash: 10s", with_policy({}), crash, 1, Action::kRestart,
       seconds(10)},
      {"on_panic restart, 4th crash: 40s", with_policy({}), crash, 3, Action::kRestart,
       seconds(40)},
      {"on_panic restart, many crashes: capped", with_policy({}), crash, 20, Action::kRestart,
       minutes(5)},
      {"on_panic restart, clean exit restarts too", with_policy({}), clean, 0, Action::kRestart,
       seconds(0)},
      {"on_panic restart, unhealthy", with_policy({}), unhealthy, 0, Action::kRestart, seconds(0)},
      {"on_panic restart, create error", with_policy({}), create_error, 2, Action::kRestart,
       seconds(20)},
      {"on_panic shutdown", with_policy({}, P::kShutdown), crash, 0, Action::kShutdownService,
       seconds(0)},
      {"on_panic shutdown, unhealthy", with_policy({}, P::kShutdown), unhealthy, 0,
       Action::kShutdownService, seconds(0)},
      {"on_panic isolate", with_policy({}, P::kIsolate), killed, 0, Action::kIsolate, seconds(0)},
      {"policy no", with_policy(K::kNo), crash, 0, Action::kGiveUp, seconds(0)},
      {"policy no wins over on_panic restart", with_policy(K::kNo, P::kRestart), killed, 0,
       Action::kGiveUp, seconds(0)},
      {"policy always, clean exit", with_policy(K::kAlways), clean, 0, Action::kRestart,
       seconds(0)},
      {"policy always wins over on_panic isolate", with_policy(K::kAlways, P::kIsolate), crash, 2,
       Action::kRestart, seconds(20)},
      {"policy unless_stopped, crash", with_policy(K::kUnlessStopped), crash, 0, Action::kRestart,
       seconds(0)},
      {"policy unless_stopped wins over on_panic shutdown",
       with_policy(K::kUnlessStopped, P::kShutdown), unhealthy, 0, Action::kRestart, seconds(0)},
      {"on_failure, clean exit: no restart", with_policy(K::kOnFailure), clean, 0, Action::kGiveUp,
       seconds(0)},
      {"on_failure, crash", with_policy(K::kOnFailure), crash, 0, Action::kRestart, seconds(0)},
      {"on_failure, signal", with_policy(K::kOnFailure), killed, 1, Action::kRestart, seconds(10)},
      {"on_failure, unhealthy", with_policy(K::kOnFailure), unhealthy, 0, Action::kRestart,
       seconds(0)},
      {"on_failure, under max_attempts", with_policy(K::kOnFailure, P::kRestart, 3), crash, 2,
       Action::kRestart, seconds(20)},
      {"on_failure, max_attempts reached", with_policy(K::kOnFailure, P::kRestart, 3), crash, 3,
       Action::kGiveUp, seconds(0)},
      {"on_failure with delay: first restart waits delay",
       with_policy(K::kOnFailure, P::kRestart, std::nullopt, seconds(2)), crash, 0,
       Action::kRestart, seconds(2)},
      {"on_failure with delay: doubles",
       with_policy(K::kOnFailure, P::kRestart, std::nullopt, seconds(2)), crash, 2,
       Action::kRestart, seconds(8)},
  };
  SupervisionConfig config;
  for (const auto& row : rows) {
    auto decision = decide_restart(row.service, row.failure, row.consecutive, config);
    EXPECT_EQ(decision.action, row.action) << row.name << ": " << decision.reason;
    EXPECT_EQ(decision.delay, row.delay) << row.name;
    EXPECT_FALSE(decision.reason.empty()) << row.name;
  }
}

TEST(DecideRestart, ReasonNamesTheExitAndTheRule) {
  auto decision = decide_restart(
      with_policy(spec::RestartPolicyKind::kOnFailure, spec::PanicAction::kRestart, 2),
      Failure{ExitStatus::exited(3), {}}, 2, SupervisionConfig{});
  EXPECT_EQ(decision.reason, "exit code 3; restart policy on_failure: gave up after 2 restarts");
}

TEST(HealthTracker, GraceIgnoresFailuresAndEndsOnSuccess) {
  Clock::SteadyTime t0{};
  HealthTracker tracker(3, seconds(30), t0);
  EXPECT_EQ(tracker.health(), Health::kStarting);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(tracker.record(false, t0 + seconds(i)));
  EXPECT_EQ(tracker.consecutive_failures(), 0u);
  EXPECT_EQ(tracker.health(), Health::kStarting);
  EXPECT_TRUE(tracker.record(true, t0 + seconds(11)));
  EXPECT_EQ(tracker.health(), Health::kHealthy);
  // The grace is over after the success: failures count from now on, well before 30 s.
  EXPECT_FALSE(tracker.record(false, t0 + seconds(12)));
  EXPECT_FALSE(tracker.record(false, t0 + seconds(13)));
  EXPECT_EQ(tracker.health(), Health::kHealthy);
  EXPECT_TRUE(tracker.record(false, t0 + seconds(14)));
  EXPECT_EQ(tracker.health(), Health::kUnhealthy);
  EXPECT_EQ(tracker.consecutive_failures(), 3u);
}

TEST(HealthTracker, FailuresAfterGraceCountAndOneSuccessHeals) {
  Clock::SteadyTime t0{};
  HealthTracker tracker(2, seconds(5), t0);
  EXPECT_FALSE(tracker.record(false, t0 + seconds(1)));  // in grace
  EXPECT_FALSE(tracker.record(false, t0 + seconds(6)));  // 1 of 2
  EXPECT_EQ(tracker.health(), Health::kStarting);
  EXPECT_TRUE(tracker.record(true, t0 + seconds(7)));
  EXPECT_EQ(tracker.health(), Health::kHealthy);
  EXPECT_FALSE(tracker.record(false, t0 + seconds(8)));
  EXPECT_FALSE(tracker.record(true, t0 + seconds(9)));  // resets the count
  EXPECT_FALSE(tracker.record(false, t0 + seconds(10)));
  EXPECT_TRUE(tracker.record(false, t0 + seconds(11)));
  EXPECT_EQ(tracker.health(), Health::kUnhealthy);
  EXPECT_TRUE(tracker.record(true, t0 + seconds(12)));
  EXPECT_EQ(tracker.health(), Health::kHealthy);
}

TEST(HealthTracker, ZeroRetriesMeansOne) {
  Clock::SteadyTime t0{};
  HealthTracker tracker(0, seconds(0), t0);
  EXPECT_TRUE(tracker.record(false, t0));
  EXPECT_EQ(tracker.health(), Health::kUnhealthy);
}

}  // namespace
}  // namespace zlayer::agent
