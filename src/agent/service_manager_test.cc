// ServiceManager under a ManualClock with FakeRuntimes and a scripted prober: supervision,
// backoff, health, dependencies, scaling, rolling updates, shutdown and init actions. Every step
// is deterministic (InlineExecutor), and time only moves through run_for().
#include "agent/service_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "agent/test_support.h"

namespace zlayer::agent {
namespace {

using runtime::ExitStatus;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::Harness;

spec::ServiceSpec service(std::uint32_t replicas = 1, std::string image = "busybox:latest") {
  spec::ServiceSpec s;
  s.image.name = std::move(image);
  s.scale.mode = spec::ScaleMode::kFixed;
  s.scale.replicas = replicas;
  return s;
}

spec::ServiceSpec with_tcp_check(spec::ServiceSpec s, std::uint16_t port = 8080,
                                 spec::Duration grace = seconds(0)) {
  spec::EndpointSpec endpoint;
  endpoint.name = "http";
  endpoint.protocol = spec::EndpointProtocol::kHttp;
  endpoint.port = 80;
  endpoint.target_port = port;
  s.endpoints.push_back(endpoint);
  s.health.check = spec::TcpCheck{0};  // 0: the first endpoint's target port
  s.health.start_grace = grace;
  s.health.interval = seconds(2);
  s.health.retries = 3;
  return s;
}

spec::DeploymentSpec deployment(std::map<std::string, spec::ServiceSpec> services) {
  spec::DeploymentSpec d;
  d.deployment = "demo";
  d.services = std::move(services);
  return d;
}

std::vector<std::string> journal_for(const zlayer::testing::FakeRuntime& runtime,
                                     const std::string& op) {
  std::vector<std::string> out;
  for (const auto& line : runtime.journal()) {
    if (line.rfind(op + " ", 0) == 0) out.push_back(line.substr(op.size() + 1));
  }
  return out;
}

std::vector<std::string> backoff_delays(const testing::EventLog& log) {
  std::vector<std::string> out;
  for (const auto& e : log.events) {
    auto at = e.message.find("next restart in ");
    if (at != std::string::npos) out.push_back(e.message.substr(at + 16));
  }
  return out;
}

TEST(ServiceManager, DeployStartsEveryReplicaAndRecordsIt) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(2)}}), "version: v1"));
  h.settle();
  EXPECT_EQ(
      h.runtime.journal(),
      (std::vector<std::string>{"pull busybox:latest", "create web-rep-1", "pull busybox:latest",
                                "create web-rep-2", "start web-rep-1", "start web-rep-2"}));
  for (std::uint32_t n : {1u, 2u}) {
    auto s = h.status("web", n);
    EXPECT_EQ(s.state, ReplicaState::kRunning);
    EXPECT_EQ(s.health, Health::kHealthy);  // no check, no endpoint: healthy while running
    EXPECT_EQ(s.backend, "linux");
    EXPECT_EQ(s.address, "10.0.0." + std::to_string(n));
  }
  EXPECT_EQ(h.manager->serving_replicas("web").size(), 2u);
  auto rows = h.db().query(
      "SELECT container_id, state, health, desired FROM replicas WHERE deployment = 'demo' "
      "ORDER BY replica");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(state::as_string((*rows)[1][0]), "web-rep-2");
  EXPECT_EQ(state::as_string((*rows)[1][1]), "running");
  EXPECT_EQ(state::as_string((*rows)[1][2]), "healthy");
  EXPECT_EQ(state::as_string((*rows)[1][3]), "running");
  auto services = h.db().query("SELECT desired_replicas FROM services WHERE name = 'web'");
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ(state::as_int((*services)[0][0]), 2);
  auto deployments = h.db().query("SELECT spec, desired FROM deployments WHERE name = 'demo'");
  ASSERT_TRUE(deployments);
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ(state::as_string((*deployments)[0][1]), "up");
}

TEST(ServiceManager, CrashLoopBacksOffExponentiallyAndResetsAfterALongRun) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  ContainerId id{"web", 1};
  // First crash: restarted at once (the container is removed and created again).
  h.runtime.clear_journal();
  ASSERT_TRUE(h.runtime.exit(id, ExitStatus::exited(1)));
  h.run_for(seconds(1));
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"stop web-rep-1", "remove web-rep-1", "pull busybox:latest",
                                      "create web-rep-1", "start web-rep-1"}));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 1).restart_count, 1u);

  // Each further crash waits twice as long, capped at 5 min.
  for (int crash = 2; crash <= 8; ++crash) {
    ASSERT_TRUE(h.runtime.exit(id, ExitStatus::exited(crash)));
    h.run_for(seconds(1));
    auto s = h.status("web", 1);
    ASSERT_EQ(s.state, ReplicaState::kCrashLoopBackoff) << "crash " << crash;
    EXPECT_EQ(s.restart_count, static_cast<std::uint32_t>(crash - 1));
    ASSERT_TRUE(s.last_exit.has_value());
    EXPECT_EQ(s.last_exit->exit_code, crash);
    EXPECT_FALSE(h.runtime.running(id));
    h.run_for(minutes(5));
    ASSERT_EQ(h.status("web", 1).state, ReplicaState::kRunning) << "crash " << crash;
  }
  EXPECT_EQ(backoff_delays(h.events),
            (std::vector<std::string>{"10s", "20s", "40s", "80s", "160s", "300s", "300s"}));
  auto row = h.db().query(
      "SELECT restart_count, last_exit_code FROM replicas WHERE container_id = 'web-rep-1'");
  ASSERT_TRUE(row);
  EXPECT_EQ(state::as_int((*row)[0][0]), 8);
  EXPECT_EQ(state::as_int((*row)[0][1]), 8);
  EXPECT_EQ(h.manager->service("web")->restart_count, 8u);

  // Ten minutes of running forgets the crash loop: the next restart is immediate again.
  h.run_for(minutes(10));
  ASSERT_TRUE(h.runtime.exit(id, ExitStatus::killed_by(9)));
  h.run_for(seconds(1));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 1).restart_count, 9u);
  EXPECT_EQ(backoff_delays(h.events).size(), 7u);
}

TEST(ServiceManager, ShortenedBackoffForEndToEndTests) {
  SupervisionConfig config;
  config.restart_backoff_initial = std::chrono::milliseconds(100);
  config.restart_backoff_max = std::chrono::milliseconds(400);
  config.exit_poll_interval = std::chrono::milliseconds(50);
  Harness h(config);
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));
    h.run_for(seconds(1));
  }
  EXPECT_EQ(backoff_delays(h.events),
            (std::vector<std::string>{"100ms", "200ms", "400ms", "400ms"}));
}

TEST(ServiceManager, RestartPolicies) {
  struct Case {
    const char* name;
    spec::RestartPolicySpec policy;
    ExitStatus exit;
    ReplicaState after;
  };
  using K = spec::RestartPolicyKind;
  const std::vector<Case> cases = {
      {"no", {K::kNo, {}, {}}, ExitStatus::exited(1), ReplicaState::kFailed},
      {"no, clean exit", {K::kNo, {}, {}}, ExitStatus::exited(0), ReplicaState::kStopped},
      {"always, clean exit", {K::kAlways, {}, {}}, ExitStatus::exited(0), ReplicaState::kRunning},
      {"unless_stopped",
       {K::kUnlessStopped, {}, {}},
       ExitStatus::exited(2),
       ReplicaState::kRunning},
      {"on_failure, clean exit",
       {K::kOnFailure, {}, {}},
       ExitStatus::exited(0),
       ReplicaState::kStopped},
      {"on_failure, crash",
       {K::kOnFailure, {}, {}},
       ExitStatus::killed_by(9),
       ReplicaState::kRunning},
  };
  for (const auto& c : cases) {
    Harness h;
    auto s = service(1);
    s.restart_policy = c.policy;
    s.errors.on_panic = spec::PanicAction::kIsolate;  // restart_policy wins when set
    ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
    h.settle();
    ASSERT_TRUE(h.runtime.exit({"web", 1}, c.exit));
    h.run_for(seconds(1));
    EXPECT_EQ(h.status("web", 1).state, c.after) << c.name;
    EXPECT_EQ(h.status("web", 1).restart_count, c.after == ReplicaState::kRunning ? 1u : 0u)
        << c.name;
  }
}

TEST(ServiceManager, OnFailureGivesUpAfterMaxAttemptsAndHonoursDelay) {
  Harness h;
  auto s = service(1);
  s.restart_policy = spec::RestartPolicySpec{spec::RestartPolicyKind::kOnFailure, 2, seconds(3)};
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  h.settle();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));
    h.run_for(seconds(1));
    EXPECT_EQ(h.status("web", 1).state, ReplicaState::kCrashLoopBackoff);
    h.run_for(seconds(10));
    EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  }
  EXPECT_EQ(backoff_delays(h.events), (std::vector<std::string>{"3s", "6s"}));
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));
  h.run_for(minutes(10));
  auto status = h.status("web", 1);
  EXPECT_EQ(status.state, ReplicaState::kFailed);
  EXPECT_EQ(status.restart_count, 2u);
  EXPECT_NE(status.reason.find("gave up after 2 restarts"), std::string::npos) << status.reason;
}

TEST(ServiceManager, OnPanicIsolateKeepsTheContainerOutOfEndpoints) {
  Harness h;
  auto s = service(2);
  s.errors.on_panic = spec::PanicAction::kIsolate;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  h.settle();
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(3)));
  h.run_for(minutes(10));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kIsolated);
  EXPECT_EQ(journal_for(h.runtime, "remove"), std::vector<std::string>{});  // kept for inspection
  ASSERT_EQ(h.manager->serving_replicas("web").size(), 1u);
  EXPECT_EQ(h.manager->serving_replicas("web")[0].id.replica, 2u);
}

TEST(ServiceManager, OnPanicShutdownStopsTheService) {
  Harness h;
  auto s = service(2);
  s.errors.on_panic = spec::PanicAction::kShutdown;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  h.settle();
  h.runtime.clear_journal();
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(3)));
  h.run_for(minutes(10));
  EXPECT_EQ(h.manager->service("web")->phase, ServiceStatus::Phase::kFailed);
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kFailed);
  EXPECT_EQ(h.status("web", 2).state, ReplicaState::kStopped);
  EXPECT_EQ(h.runtime.journal(), (std::vector<std::string>{"stop web-rep-2"}));
  EXPECT_TRUE(h.events.contains("on_panic shutdown"));

  // A fixed spec brings the failed service back.
  s.env["FIXED"] = "1";
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  h.settle();
  EXPECT_EQ(h.manager->service("web")->phase, ServiceStatus::Phase::kActive);
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 2).state, ReplicaState::kRunning);
}

TEST(ServiceManager, HealthStartGraceRetriesAndLivenessRestart) {
  Harness h;
  auto s = with_tcp_check(service(1), 8080, seconds(10));
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  const std::string key = "tcp 10.0.0.1:8080";  // the replica's own address
  h.prober.set(key, false);
  h.settle();
  EXPECT_EQ(h.status("web", 1).health, Health::kStarting);
  // Failures inside the 10 s grace do not count.
  h.run_for(seconds(9));
  EXPECT_EQ(h.status("web", 1).health, Health::kStarting);
  EXPECT_EQ(h.prober.count(key), 5u);  // t = 0, 2, 4, 6, 8
  EXPECT_TRUE(h.manager->serving_replicas("web").empty());
  // One success: healthy (and the grace is over).
  h.prober.set(key, true);
  h.run_for(seconds(2));
  EXPECT_EQ(h.status("web", 1).health, Health::kHealthy);
  EXPECT_EQ(h.manager->serving_replicas("web").size(), 1u);
  // retries (3) consecutive failures: unhealthy → restarted (liveness).
  h.prober.set(key, false);
  h.runtime.clear_journal();
  h.run_for(seconds(4));  // two failures: still healthy
  EXPECT_EQ(h.status("web", 1).health, Health::kHealthy);
  EXPECT_TRUE(h.runtime.journal().empty());
  h.run_for(seconds(2));  // the third
  EXPECT_TRUE(
      h.events.contains("web-rep-1 running (unhealthy): 3 consecutive health check "
                        "failures"));
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"stop web-rep-1", "remove web-rep-1", "pull busybox:latest",
                                      "create web-rep-1", "start web-rep-1"}));
  EXPECT_EQ(h.status("web", 1).restart_count, 1u);
  EXPECT_EQ(h.status("web", 1).health, Health::kStarting);
}

TEST(ServiceManager, UnhealthyWithoutRestartStaysOutOfEndpointsAndCanRecover) {
  Harness h;
  auto s = with_tcp_check(service(1));
  s.restart_policy = spec::RestartPolicySpec{spec::RestartPolicyKind::kNo, {}, {}};
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", s}})));
  h.settle();
  EXPECT_EQ(h.status("web", 1).health, Health::kHealthy);
  h.prober.set("tcp 10.0.0.1:8080", false);
  h.run_for(seconds(6));
  EXPECT_EQ(h.status("web", 1).health, Health::kUnhealthy);
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_TRUE(h.manager->serving_replicas("web").empty());
  EXPECT_EQ(journal_for(h.runtime, "stop"), std::vector<std::string>{});
  h.prober.set("tcp 10.0.0.1:8080", true);
  h.run_for(seconds(2));
  EXPECT_EQ(h.status("web", 1).health, Health::kHealthy);
}

TEST(ServiceManager, CommandCheckRunsInsideTheContainerAndATimeoutIsAFailure) {
  Harness h;
  auto s = service(1);
  s.health.check = spec::CommandCheck{"pg_isready"};
  s.health.start_grace = seconds(0);
  s.health.interval = seconds(5);
  s.health.timeout = seconds(1);
  s.health.retries = 2;
  s.restart_policy = spec::RestartPolicySpec{spec::RestartPolicyKind::kNo, {}, {}};
  bool slow = false;
  h.runtime.set_exec(
      [&](const ContainerId&, const runtime::ExecOptions& options) -> Result<runtime::ExecResult> {
        EXPECT_EQ(options.command, (std::vector<std::string>{"sh", "-c", "pg_isready"}));
        EXPECT_EQ(options.timeout, std::chrono::milliseconds(1000));
        if (slow) return errorf(Errc::kDeadlineExceeded, "killed after 1000 ms");
        return runtime::ExecResult{0, "", ""};
      });
  ASSERT_TRUE(h.manager->deploy(deployment({{"db", s}})));
  h.settle();
  EXPECT_EQ(h.status("db", 1).health, Health::kHealthy);
  slow = true;
  h.run_for(seconds(10));
  EXPECT_EQ(h.status("db", 1).health, Health::kUnhealthy);
  EXPECT_EQ(journal_for(h.runtime, "exec-timeout"),
            (std::vector<std::string>{"db-rep-1", "db-rep-1"}));
  EXPECT_TRUE(h.events.contains("timed out"));
}

TEST(ServiceManager, HttpCheckProbesTheReplicasOwnAddress) {
  Harness h;
  auto s = service(2);
  s.health.check = spec::HttpCheck{"http://localhost:3000/health", 200};
  s.health.start_grace = seconds(0);
  ASSERT_TRUE(h.manager->deploy(deployment({{"api", s}})));
  h.settle();
  EXPECT_EQ(h.prober.count("http http://10.0.0.1:3000/health"), 1u);
  EXPECT_EQ(h.prober.count("http http://10.0.0.2:3000/health"), 1u);
  EXPECT_EQ(h.manager->serving_replicas("api").size(), 2u);
}

TEST(ServiceManager, DependencyConditions) {
  using C = spec::DependencyCondition;
  for (C condition : {C::kStarted, C::kHealthy, C::kReady}) {
    Harness h;
    auto db = with_tcp_check(service(2, "postgres:16"), 5432);
    auto api = service(1);
    api.depends.push_back(
        spec::DependsSpec{"db", condition, seconds(300), spec::TimeoutAction::kFail});
    h.prober.set("tcp 10.0.0.1:5432", false);
    h.prober.set("tcp 10.0.0.2:5432", false);
    ASSERT_TRUE(h.manager->deploy(deployment({{"api", api}, {"db", db}})));
    h.run_for(seconds(1));
    EXPECT_EQ(h.manager->start_order(), (std::vector<std::string>{"db", "api"}));
    // db runs but nothing is healthy: only `started` lets api go.
    EXPECT_EQ(h.numbers("api").size(), condition == C::kStarted ? 1u : 0u)
        << spec::to_string(condition);
    h.prober.set("tcp 10.0.0.1:5432", true);
    h.run_for(seconds(2));
    EXPECT_EQ(h.numbers("api").size(), condition == C::kReady ? 0u : 1u)
        << spec::to_string(condition);
    h.prober.set("tcp 10.0.0.2:5432", true);
    h.run_for(seconds(2));
    EXPECT_EQ(h.numbers("api").size(), 1u) << spec::to_string(condition);
    EXPECT_EQ(h.manager->service("api")->phase, ServiceStatus::Phase::kActive);
  }
}

TEST(ServiceManager, DependencyTimeoutActions) {
  using A = spec::TimeoutAction;
  for (A action : {A::kFail, A::kWarn, A::kContinue}) {
    Harness h;
    auto db = with_tcp_check(service(1, "postgres:16"), 5432);
    auto api = service(1);
    api.depends.push_back(
        spec::DependsSpec{"db", spec::DependencyCondition::kHealthy, seconds(30), action});
    h.prober.set("tcp 10.0.0.1:5432", false);
    ASSERT_TRUE(h.manager->deploy(deployment({{"api", api}, {"db", db}})));
    h.run_for(seconds(29));
    EXPECT_EQ(h.manager->service("api")->phase, ServiceStatus::Phase::kWaiting);
    EXPECT_TRUE(h.numbers("api").empty());
    h.run_for(seconds(2));
    const std::string what = "dependency db was not healthy within 30s";
    EXPECT_TRUE(h.events.contains(what)) << spec::to_string(action);
    if (action == A::kFail) {
      EXPECT_EQ(h.manager->service("api")->phase, ServiceStatus::Phase::kFailed);
      EXPECT_TRUE(h.numbers("api").empty());
    } else {
      EXPECT_EQ(h.manager->service("api")->phase, ServiceStatus::Phase::kActive);
      EXPECT_EQ(h.numbers("api"), (std::vector<std::uint32_t>{1}));
      bool warned = false;
      for (const auto& e : h.events.events) {
        if (e.message.find(what) != std::string::npos) {
          warned = e.severity == Event::Severity::kWarning;
        }
      }
      EXPECT_EQ(warned, action == A::kWarn);
    }
  }
}

TEST(ServiceManager, ScaleUpTakesLowestFreeNumbersAndDownStopsHighestFirst) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  ASSERT_TRUE(h.manager->scale("web", 4));
  h.settle();
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 2, 3, 4}));
  h.runtime.clear_journal();
  ASSERT_TRUE(h.manager->scale("web", 1));
  h.settle();
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"stop web-rep-4", "remove web-rep-4", "stop web-rep-3",
                                      "remove web-rep-3", "stop web-rep-2", "remove web-rep-2"}));
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1}));
  EXPECT_TRUE(h.events.contains("web-rep-4 stopping: scaled down to 1"));
  auto rows = h.db().query("SELECT COUNT(*) FROM replicas WHERE service = 'web'");
  ASSERT_TRUE(rows);
  EXPECT_EQ(state::as_int((*rows)[0][0]), 1);
  // A scaled-down replica's exit is never taken for a crash.
  EXPECT_EQ(journal_for(h.runtime, "create").size(), 0u);
  EXPECT_EQ(h.manager->scale("nope", 2).error().code, Errc::kNotFound);
}

TEST(ServiceManager, RollingUpdateStartsTheReplacementHealthyBeforeTheOldStops) {
  Harness h;
  auto web = with_tcp_check(service(2));
  auto db = service(1, "postgres:16");
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", web}, {"db", db}})));
  h.settle();
  EXPECT_EQ(h.manager->serving_replicas("web").size(), 2u);

  h.runtime.clear_journal();
  web.env["VERSION"] = "2";
  h.prober.set("tcp 10.0.0.3:8080", false);  // the first replacement is slow to become healthy
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", web}, {"db", db}})));
  h.run_for(seconds(1));
  EXPECT_EQ(h.manager->service("web")->phase, ServiceStatus::Phase::kUpdating);
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(journal_for(h.runtime, "stop"), std::vector<std::string>{});
  EXPECT_EQ(h.manager->serving_replicas("web").size(), 2u);  // the old ones keep serving

  h.prober.set("tcp 10.0.0.3:8080", true);
  h.run_for(seconds(2));
  EXPECT_EQ(h.manager->service("web")->phase, ServiceStatus::Phase::kActive);
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{3, 4}));
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"pull busybox:latest", "create web-rep-3", "start web-rep-3",
                                      "stop web-rep-1", "remove web-rep-1", "pull busybox:latest",
                                      "create web-rep-4", "start web-rep-4", "stop web-rep-2",
                                      "remove web-rep-2"}));
  auto config = h.runtime.config({"web", 4});
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->env, (std::vector<std::string>{"VERSION=2"}));
  EXPECT_TRUE(h.events.contains("rolling update done"));

  // Only the scale changed: a scale, not a rollout.
  h.runtime.clear_journal();
  web.scale.replicas = 3;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", web}, {"db", db}})));
  h.settle();
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 3, 4}));
  EXPECT_EQ(h.runtime.journal(), (std::vector<std::string>{"pull busybox:latest",
                                                           "create web-rep-1", "start web-rep-1"}));
}

TEST(ServiceManager, RedeployAddsAndRemovesServices) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(2)}, {"old", service(1)}})));
  h.settle();
  h.runtime.clear_journal();
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(2)}, {"new", service(1)}})));
  h.settle();
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"stop old-rep-1", "remove old-rep-1", "pull busybox:latest",
                                      "create new-rep-1", "start new-rep-1"}));
  EXPECT_FALSE(h.manager->service("old").has_value());
  auto rows = h.db().query("SELECT COUNT(*) FROM services WHERE name = 'old'");
  ASSERT_TRUE(rows);
  EXPECT_EQ(state::as_int((*rows)[0][0]), 0);
}

TEST(ServiceManager, ShutdownStopsInReverseDependencyOrderAndRestartsNothing) {
  Harness h;
  auto db = service(1, "postgres:16");
  auto api = service(2);
  api.depends.push_back(spec::DependsSpec{"db", spec::DependencyCondition::kStarted, seconds(60),
                                          spec::TimeoutAction::kFail});
  auto web = service(1);
  web.depends.push_back(spec::DependsSpec{"api", spec::DependencyCondition::kHealthy, seconds(60),
                                          spec::TimeoutAction::kFail});
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", web}, {"api", api}, {"db", db}})));
  h.settle();
  EXPECT_EQ(h.manager->start_order(), (std::vector<std::string>{"db", "api", "web"}));
  EXPECT_EQ(h.manager->replicas().size(), 4u);
  // db crashes just before the shutdown, unnoticed yet: it must not come back.
  ASSERT_TRUE(h.runtime.exit({"db", 1}, ExitStatus::exited(1)));
  h.runtime.clear_journal();
  bool done = false;
  h.manager->shutdown([&] { done = true; });
  h.run_for(minutes(10));
  EXPECT_TRUE(done);
  EXPECT_EQ(h.runtime.journal(),
            (std::vector<std::string>{"stop web-rep-1", "remove web-rep-1", "stop api-rep-2",
                                      "remove api-rep-2", "stop api-rep-1", "remove api-rep-1",
                                      "stop db-rep-1", "remove db-rep-1"}));
  EXPECT_TRUE(h.runtime.containers().empty());
  EXPECT_TRUE(h.manager->replicas().empty());
  EXPECT_EQ(h.manager->deploy(deployment({{"web", web}})).error().code, Errc::kFailedPrecondition);
  auto rows = h.db().query("SELECT desired FROM deployments WHERE name = 'demo'");
  ASSERT_TRUE(rows);
  EXPECT_EQ(state::as_string((*rows)[0][0]), "down");
  auto replicas = h.db().query("SELECT COUNT(*) FROM replicas");
  ASSERT_TRUE(replicas);
  EXPECT_EQ(state::as_int((*replicas)[0][0]), 0);
}

TEST(ServiceManager, StopDuringBackoffCancelsTheRestart) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));
    h.run_for(seconds(1));
  }
  ASSERT_EQ(h.status("web", 1).state, ReplicaState::kCrashLoopBackoff);
  ASSERT_TRUE(h.manager->scale("web", 0));
  h.run_for(minutes(10));
  EXPECT_TRUE(h.manager->replicas().empty());
  EXPECT_TRUE(h.runtime.containers().empty());
}

spec::InitStep wait_db() {
  spec::InitStep step;
  step.id = "wait-db";
  step.uses = "init.wait_tcp";
  step.with = {{"host", "db"}, {"port", 5432}};
  step.timeout = seconds(3);
  return step;
}

TEST(ServiceManager, InitActionsRunBeforeStart) {
  Harness h;
  auto s = service(1);
  s.init.steps.push_back(wait_db());
  h.prober.queue("tcp db:5432", {false, true});
  ASSERT_TRUE(h.manager->deploy(deployment({{"api", s}})));
  h.settle();
  EXPECT_EQ(h.status("api", 1).state, ReplicaState::kInitializing);
  EXPECT_EQ(journal_for(h.runtime, "start"), std::vector<std::string>{});
  h.run_for(seconds(2));
  EXPECT_EQ(h.status("api", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(journal_for(h.runtime, "start"), (std::vector<std::string>{"api-rep-1"}));
}

TEST(ServiceManager, OnInitFailureModes) {
  using A = spec::InitFailureAction;
  for (A action : {A::kFail, A::kRestart, A::kBackoff}) {
    Harness h;
    auto s = service(1);
    s.init.steps.push_back(wait_db());
    s.errors.on_init_failure = action;
    h.prober.set("tcp db:5432", false);
    ASSERT_TRUE(h.manager->deploy(deployment({{"api", s}})));
    h.run_for(seconds(30));
    auto status = h.status("api", 1);
    auto creates = journal_for(h.runtime, "create").size();
    EXPECT_EQ(journal_for(h.runtime, "start"), std::vector<std::string>{});
    switch (action) {
      case A::kFail:
        EXPECT_EQ(status.state, ReplicaState::kFailed);
        EXPECT_EQ(creates, 1u);
        EXPECT_NE(status.reason.find("init failed: init step wait-db"), std::string::npos)
            << status.reason;
        break;
      case A::kRestart:
        EXPECT_EQ(status.state, ReplicaState::kFailed);
        EXPECT_EQ(creates, 4u);  // the first try and 3 restarts
        EXPECT_NE(status.reason.find("gave up after 4 attempts"), std::string::npos)
            << status.reason;
        break;
      case A::kBackoff:
        EXPECT_EQ(status.state, ReplicaState::kCrashLoopBackoff);
        // Each attempt fails after 3 s (the step timeout), then waits 1 s, 2 s, 4 s, …: failures
        // at 3, 7, 12, 19 and 30 s.
        EXPECT_EQ(backoff_delays(h.events),
                  (std::vector<std::string>{"1s", "2s", "4s", "8s", "16s"}));
        break;
    }
    // The init never passed, so it was never started; it is still cleaned up by shutdown.
    h.manager->shutdown([] {});
    h.run_for(minutes(2));
    EXPECT_TRUE(h.runtime.containers().empty()) << static_cast<int>(action);
  }
}

TEST(ServiceManager, JobsAndCronAreListedOnceAndNotRun) {
  Harness h;
  auto job = service(1);
  job.rtype = spec::ResourceType::kJob;
  auto cron = service(1);
  cron.rtype = spec::ResourceType::kCron;
  cron.schedule = "0 0 * * * * *";
  auto spec = deployment({{"backup", job}, {"cleanup", cron}, {"web", service(1)}});
  ASSERT_TRUE(h.manager->deploy(spec));
  ASSERT_TRUE(h.manager->deploy(spec));
  h.settle();
  EXPECT_EQ(h.events.count("backup (rtype job) is validated but not run"), 1u);
  EXPECT_EQ(h.events.count("cleanup (rtype cron) is validated but not run"), 1u);
  EXPECT_EQ(journal_for(h.runtime, "create"), (std::vector<std::string>{"web-rep-1"}));
  EXPECT_EQ(h.manager->scale("backup", 2).error().code, Errc::kFailedPrecondition);
}

TEST(ServiceManager, LinuxAndWasmServicesMixInOneDeployment) {
  Harness h;
  ASSERT_TRUE(h.manager->deploy(
      deployment({{"web", service(1)}, {"filter", service(1, "wasm/filter:1")}})));
  h.settle();
  EXPECT_EQ(h.status("filter", 1).backend, "wasm");
  EXPECT_EQ(h.status("filter", 1).address, "");  // no network of its own
  EXPECT_EQ(h.status("filter", 1).health, Health::kHealthy);
  EXPECT_EQ(journal_for(h.wasm, "start"), (std::vector<std::string>{"filter-rep-1"}));
  EXPECT_EQ(journal_for(h.runtime, "start"), (std::vector<std::string>{"web-rep-1"}));
}

TEST(ServiceManager, CreateFailureIsRetriedWithBackoff) {
  Harness h;
  h.runtime.fail_next("pull", Error{Errc::kNotFound, "busybox:latest: manifest unknown", 0});
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);  // first retry is immediate
  EXPECT_EQ(h.status("web", 1).restart_count, 1u);
  EXPECT_TRUE(h.events.contains("manifest unknown"));
}

TEST(DependencyOrder, UnknownServiceAndCycles) {
  auto a = service(1);
  a.depends.push_back(spec::DependsSpec{"b"});
  auto b = service(1);
  b.depends.push_back(spec::DependsSpec{"c"});
  auto c = service(1);
  c.depends.push_back(spec::DependsSpec{"a"});
  auto cycle = dependency_order(deployment({{"a", a}, {"b", b}, {"c", c}}));
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().message, "dependency cycle: a -> b -> c -> a");
  auto unknown = dependency_order(deployment({{"a", a}}));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "services.a.depends: unknown service \"b\" (services: a)");
  auto ok = dependency_order(deployment({{"b", service(1)}, {"a", a}, {"z", service(1)}}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<std::string>{"b", "a", "z"}));
  Harness h;
  EXPECT_EQ(h.manager->deploy(deployment({{"a", a}, {"b", b}, {"c", c}})).error().code,
            Errc::kInvalidArgument);
  EXPECT_TRUE(h.manager->replicas().empty());
}

}  // namespace
}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

TEST(SpecConfigBuilder, ResolvesEnvAndConvertsTheService) {
  ::setenv("ZLAYER_SUPERVISION_TEST_VALUE", "from-agent", 1);
  std::vector<std::string> looked_up;
  auto build = spec_config_builder(
      [&](const std::string& image) -> Result<image::ImageConfig> {
        looked_up.push_back(image);
        return image::ImageConfig{};
      },
      nullptr);
  auto s = service(1);
  s.env["A"] = "$E:ZLAYER_SUPERVISION_TEST_VALUE";
  s.env["B"] = "plain";
  s.command.args = std::vector<std::string>{"httpd", "-f"};
  auto config = build("demo", "web", s, ContainerId{"web", 1});
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->image_ref, "busybox:latest");
  EXPECT_EQ(config->env, (std::vector<std::string>{"A=from-agent", "B=plain"}));
  EXPECT_EQ(config->args, (std::vector<std::string>{"httpd", "-f"}));
  EXPECT_EQ(looked_up, (std::vector<std::string>{"busybox:latest"}));

  s.env["C"] = "$E:ZLAYER_SUPERVISION_TEST_UNSET";
  ::unsetenv("ZLAYER_SUPERVISION_TEST_UNSET");
  auto missing = build("demo", "web", s, ContainerId{"web", 1});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("ZLAYER_SUPERVISION_TEST_UNSET"), std::string::npos)
      << missing.error().message;
  ::unsetenv("ZLAYER_SUPERVISION_TEST_VALUE");
}

TEST(ServiceManager, AConfigErrorIsAFailedStartNamingTheCause) {
  Harness h;
  auto s = service(1);
  s.restart_policy = spec::RestartPolicySpec{spec::RestartPolicyKind::kNo, {}, {}};
  s.env["BROKEN"] = "x";
  // The harness builder accepts anything; a manager whose builder fails shows why.
  ServiceManagerOptions options;
  options.prober = &h.prober;
  options.resolve_runtime = [&](const spec::ServiceSpec&) -> Result<RuntimeBinding> {
    return RuntimeBinding{&h.runtime, "linux"};
  };
  options.build_config = [](const std::string&, const std::string& service_name,
                            const spec::ServiceSpec&,
                            const ContainerId&) -> Result<runtime::ContainerConfig> {
    return errorf(Errc::kInvalidArgument, "service {}: env BROKEN: not set", service_name);
  };
  Recorder recorder(nullptr, h.clock);
  testing::EventLog log;
  recorder.add_sink(&log);
  ServiceManager manager(h.loop, recorder, std::move(options));
  ASSERT_TRUE(manager.deploy(deployment({{"web", s}})));
  h.settle();
  auto status = manager.replica(ContainerId{"web", 1});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, ReplicaState::kFailed);
  EXPECT_NE(status->reason.find("service web: env BROKEN: not set"), std::string::npos)
      << status->reason;
  EXPECT_EQ(journal_for(h.runtime, "create"), std::vector<std::string>{});
}

}  // namespace
}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

TEST(ServiceManager, AStopWaitsForTheRuntimeCallInFlight) {
  testing::QueuedExecutor executor;
  Harness h({}, &executor);
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(2)}})));
  h.settle();
  ASSERT_EQ(executor.queued(), 2u);  // both creates in flight
  EXPECT_EQ(h.status("web", 2).state, ReplicaState::kCreating);
  // Scale down while web-rep-2's create has not returned: the stop is recorded at once and
  // sent once the create is done; nothing is started.
  ASSERT_TRUE(h.manager->scale("web", 1));
  h.settle();
  EXPECT_EQ(h.status("web", 2).state, ReplicaState::kStopping);
  EXPECT_FALSE(h.status("web", 2).desired_running);
  for (int i = 0; i < 10 && (executor.run_queued() > 0 || h.loop.run_until_idle() > 0); ++i) {
    h.settle();
  }
  EXPECT_EQ(journal_for(h.runtime, "start"), (std::vector<std::string>{"web-rep-1"}));
  EXPECT_EQ(journal_for(h.runtime, "remove"), (std::vector<std::string>{"web-rep-2"}));
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);

  // Shutdown while a restart's remove is in flight: nothing comes back.
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));
  h.clock.advance(seconds(1));
  h.settle();
  executor.run_queued();  // the exit poll
  h.settle();
  ASSERT_EQ(executor.queued(), 1u);  // stop + remove of the crashed container
  bool done = false;
  h.manager->shutdown([&] { done = true; });
  for (int i = 0; i < 10 && (executor.run_queued() > 0 || h.loop.run_until_idle() > 0); ++i) {
    h.settle();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(journal_for(h.runtime, "start"), (std::vector<std::string>{"web-rep-1"}));
  EXPECT_TRUE(h.runtime.containers().empty());
  EXPECT_TRUE(h.manager->replicas().empty());
}

}  // namespace
}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

// A new owner takes over what a dead one left: a running replica is kept as it is (not created
// again, its restart count kept), one that crashed while nobody watched is restarted and counted
// with its real exit code, one its backend lost is created again without counting, and a stop
// the old owner had decided is finished.
TEST(ServiceManager, ANewOwnerTakesOverWhatADeadOwnerLeft) {
  testing::Harness h;
  const auto spec = deployment({{"web", service(4)}, {"mod", service(1, "wasm/ticker:1")}});
  ASSERT_TRUE(h.manager->deploy(spec, "spec text v1"));
  h.settle();
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(1)));  // one counted restart
  h.run_for(seconds(1));
  ASSERT_EQ(h.status("web", 1).restart_count, 1u);
  ASSERT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 2, 3, 4}));

  h.new_owner();  // the owner dies: no shutdown, containers and rows stay
  ASSERT_TRUE(h.runtime.exit({"web", 2}, ExitStatus::exited(3)));  // crashes meanwhile
  ASSERT_TRUE(h.runtime.remove_container({"web", 3}));             // lost meanwhile
  ASSERT_TRUE(h.wasm.remove_container({"mod", 1}));                // died with its agent
  // The old owner had decided to scale down to 3 and written that before stopping web-rep-4.
  ASSERT_TRUE(h.db().exec("UPDATE replicas SET desired = 'stopped' WHERE container_id = "
                          "'web-rep-4'"));
  ASSERT_TRUE(h.db().exec("UPDATE services SET desired_replicas = 3 WHERE name = 'web'"));
  h.runtime.clear_journal();

  auto persisted = load_deployment(h.db(), "demo");
  ASSERT_TRUE(persisted) << persisted.error().message;
  ASSERT_TRUE(persisted->has_value());
  EXPECT_EQ((*persisted)->spec_text, "spec text v1");
  ASSERT_EQ((*persisted)->replicas.size(), 5u);
  ASSERT_TRUE(h.manager->adopt(spec, **persisted));
  h.run_for(seconds(1));
  ASSERT_TRUE(h.manager->deploy(spec, "spec text v1"));  // the same spec: nothing to roll out
  h.run_for(seconds(1));

  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 1).restart_count, 1u);
  EXPECT_EQ(h.status("web", 2).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 2).restart_count, 1u);
  ASSERT_TRUE(h.status("web", 2).last_exit.has_value());
  EXPECT_EQ(h.status("web", 2).last_exit->exit_code, 3);
  EXPECT_EQ(h.status("web", 3).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("web", 3).restart_count, 0u);
  EXPECT_EQ(h.status("mod", 1).state, ReplicaState::kRunning);
  EXPECT_EQ(h.status("mod", 1).restart_count, 0u);
  EXPECT_EQ(h.manager->service("web")->restart_count, 2u);
  EXPECT_EQ(h.manager->service("web")->desired_replicas, 3u);
  // web-rep-1 was left alone; 2 was recreated, 3 created, 4 stopped and removed.
  const auto journal = h.runtime.journal();
  for (const auto& call : journal) EXPECT_EQ(call.find("web-rep-1"), std::string::npos) << call;
  EXPECT_NE(std::find(journal.begin(), journal.end(), "create web-rep-2"), journal.end());
  EXPECT_NE(std::find(journal.begin(), journal.end(), "create web-rep-3"), journal.end());
  EXPECT_NE(std::find(journal.begin(), journal.end(), "remove web-rep-4"), journal.end());
  EXPECT_FALSE(h.runtime.running({"web", 4}));
  EXPECT_TRUE(h.events.contains("taking over 5 replica(s)"));
  auto rows = h.db().query("SELECT COUNT(*) FROM replicas WHERE container_id = 'web-rep-4'");
  ASSERT_TRUE(rows);
  EXPECT_EQ(state::as_int((*rows)[0][0]), 0);

  // adopt() only comes first.
  auto again = h.manager->adopt(spec, **persisted);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kFailedPrecondition);
}

// A changed spec deployed by the new owner is rolled out over the adopted replicas.
TEST(ServiceManager, ANewOwnerRollsOutAChangedSpecOverAdoptedReplicas) {
  testing::Harness h;
  const auto v1 = deployment({{"web", service(2)}});
  ASSERT_TRUE(h.manager->deploy(v1, "v1"));
  h.settle();
  h.new_owner();
  auto persisted = load_deployment(h.db(), "demo");
  ASSERT_TRUE(persisted && persisted->has_value());
  ASSERT_TRUE(h.manager->adopt(v1, **persisted));
  auto v2 = v1;
  v2.services.at("web").env["VERSION"] = "2";
  ASSERT_TRUE(h.manager->deploy(v2, "v2"));
  h.run_for(seconds(5));
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{3, 4}));
  for (std::uint32_t n : {3u, 4u}) {
    auto config = h.runtime.config({"web", n});
    ASSERT_TRUE(config.has_value());
    EXPECT_NE(std::find(config->env.begin(), config->env.end(), "VERSION=2"), config->env.end());
  }
  EXPECT_EQ(h.runtime.containers().size(), 2u);
}

// With an exit watcher the end of a replica is seen through its backend's exit descriptor, with
// no polling at all (the poll interval here is an hour).
TEST(ServiceManager, AnExitWatcherSeesAnEndWithoutPolling) {
  SupervisionConfig config;
  config.exit_poll_interval = std::chrono::hours(1);
  testing::Harness h(config);
  auto watcher = ExitWatcher::open();
  ASSERT_TRUE(watcher);
  h.runtime.enable_exit_fds();
  h.new_owner(watcher->get());
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  ASSERT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  EXPECT_EQ((*watcher)->size(), 1u);
  ASSERT_TRUE(h.runtime.exit({"web", 1}, ExitStatus::exited(2)));
  // The watcher thread posts into the loop; wait (bounded) for the restart without moving the
  // manual clock past the poll interval.
  for (int i = 0; i < 2000 && h.status("web", 1).restart_count == 0; ++i) {
    h.settle();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(h.status("web", 1).restart_count, 1u);
  EXPECT_EQ(h.status("web", 1).state, ReplicaState::kRunning);
  ASSERT_TRUE(h.status("web", 1).last_exit.has_value());
  EXPECT_EQ(h.status("web", 1).last_exit->exit_code, 2);
  EXPECT_EQ((*watcher)->size(), 1u);  // the new container is watched in turn
  // Stopping the deployment cancels the watch; the stop's own exit is not a crash.
  bool done = false;
  h.manager->shutdown([&] { done = true; });
  h.settle();
  EXPECT_TRUE(done);
  EXPECT_EQ((*watcher)->size(), 0u);
  EXPECT_EQ(h.manager->service("web")->restart_count, 1u);
}

}  // namespace
}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

// Shutdown stops all replicas of a service at once (their stops are in flight together), and
// the next service (its dependency) only once every one of them is gone.
TEST(ServiceManager, ShutdownStopsAServicesReplicasTogetherAndServicesInOrder) {
  testing::QueuedExecutor executor;
  Harness h({}, &executor);
  auto api = service(3);
  api.depends.push_back(spec::DependsSpec{"db", spec::DependencyCondition::kStarted, seconds(60),
                                          spec::TimeoutAction::kFail});
  ASSERT_TRUE(h.manager->deploy(deployment({{"api", api}, {"db", service(1)}})));
  for (int i = 0; i < 20 && (executor.run_queued() > 0 || h.loop.run_until_idle() > 0); ++i) {
    h.settle();
  }
  ASSERT_EQ(h.manager->replicas().size(), 4u);
  h.runtime.clear_journal();
  bool done = false;
  h.manager->shutdown([&] { done = true; });
  h.settle();
  // The three stops of api are queued together; db's is not issued yet.
  EXPECT_EQ(executor.queued(), 3u);
  executor.run_queued();
  EXPECT_EQ(journal_for(h.runtime, "stop"),
            (std::vector<std::string>{"api-rep-3", "api-rep-2", "api-rep-1"}));
  h.settle();
  EXPECT_EQ(executor.queued(), 1u);  // now db
  executor.run_queued();
  h.settle();
  EXPECT_TRUE(done);
  EXPECT_EQ(journal_for(h.runtime, "stop"),
            (std::vector<std::string>{"api-rep-3", "api-rep-2", "api-rep-1", "db-rep-1"}));
  EXPECT_TRUE(h.runtime.containers().empty());
}

}  // namespace
}  // namespace zlayer::agent

namespace zlayer::agent {
namespace {

TEST(ServiceManager, ScaleRefusesMoreReplicasThanANodeTakes) {
  testing::Harness h;
  ASSERT_TRUE(h.manager->deploy(deployment({{"web", service(1)}})));
  h.settle();
  auto refused = h.manager->scale("web", 1000000);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("more than the 1000"), std::string::npos);
  EXPECT_EQ(h.manager->service("web")->desired_replicas, 1u);
  EXPECT_EQ(h.numbers("web"), (std::vector<std::uint32_t>{1}));
}

}  // namespace
}  // namespace zlayer::agent
