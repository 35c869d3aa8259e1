// Init steps under a ManualClock with a scripted prober: attempts, timeouts, retry, on_failure.
#include "agent/init_actions.h"

#include <gtest/gtest.h>

#include "agent/test_support.h"

namespace zlayer::agent {
namespace {

using testing::FakeProber;

spec::InitStep step(std::string id, std::string uses, nlohmann::json with,
                    std::optional<spec::Duration> timeout = std::nullopt,
                    spec::TimeoutAction on_failure = spec::TimeoutAction::kFail,
                    std::optional<std::uint32_t> retry = std::nullopt) {
  spec::InitStep s;
  s.id = std::move(id);
  s.uses = std::move(uses);
  s.with = std::move(with);
  s.timeout = timeout;
  s.on_failure = on_failure;
  s.retry = retry;
  return s;
}

TEST(PlanInitStep, ParametersAndDefaults) {
  auto tcp = plan_init_step(step("db", "init.wait_tcp", {{"host", "db"}, {"port", 5432}}));
  ASSERT_TRUE(tcp) << tcp.error().message;
  EXPECT_EQ(tcp->port, 5432);
  EXPECT_EQ(tcp->timeout, std::chrono::seconds(30));
  auto port_text = plan_init_step(step("db", "init.wait_tcp", {{"host", "db"}, {"port", "80"}}));
  ASSERT_TRUE(port_text);
  EXPECT_EQ(port_text->port, 80);
  auto http = plan_init_step(step("api", "init.wait_http", {{"url", "http://x/"}, {"timeout", 7}}));
  ASSERT_TRUE(http);
  EXPECT_EQ(http->timeout, std::chrono::seconds(7));
  EXPECT_FALSE(http->expect_status.has_value());
  auto run = plan_init_step(step("m", "init.run", {{"command", "true"}}, std::chrono::seconds(9),
                                 spec::TimeoutAction::kFail, 2));
  ASSERT_TRUE(run);
  EXPECT_EQ(run->timeout, std::chrono::seconds(9));
  EXPECT_EQ(run->retries, 2u);

  auto missing = plan_init_step(step("db", "init.wait_tcp", {{"host", "db"}}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "init step db (init.wait_tcp): `with.port` is required");
  auto bad_port = plan_init_step(step("db", "init.wait_tcp", {{"host", "db"}, {"port", 70000}}));
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().code, Errc::kInvalidArgument);
  auto s3 = plan_init_step(step("up", "init.s3_push", {}));
  ASSERT_FALSE(s3);
  EXPECT_EQ(s3.error().code, Errc::kUnsupported);
  auto unknown = plan_init_step(step("x", "init.teleport", {}));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("init.teleport"), std::string::npos);
}

struct InitFixture {
  ManualClock clock;
  InlineExecutor executor;
  EventLoop loop{clock, executor};
  FakeProber prober;
  SupervisionConfig config;
  std::vector<std::string> notes;
  std::optional<Status> result;

  std::unique_ptr<InitRunner> runner(std::vector<spec::InitStep> steps) {
    auto r = std::make_unique<InitRunner>(
        loop, prober, config, std::move(steps),
        [this](Event::Severity, std::string message) { notes.push_back(std::move(message)); },
        [this](Status status) { result = std::move(status); });
    return r;
  }
  void advance(Clock::Duration d) {
    loop.run_until_idle();
    clock.advance(d);
    loop.run_until_idle();
  }
};

TEST(InitRunner, WaitTcpPollsUntilTheTargetAnswers) {
  InitFixture f;
  f.prober.queue("tcp db:5432", {false, false, true});
  auto runner = f.runner({step("db", "init.wait_tcp", {{"host", "db"}, {"port", 5432}}),
                          step("go", "init.run", {{"command", "migrate"}})});
  runner->start();
  f.loop.run_until_idle();
  EXPECT_FALSE(f.result.has_value());
  f.advance(std::chrono::seconds(2));
  EXPECT_FALSE(f.result.has_value());
  f.advance(std::chrono::seconds(2));
  ASSERT_TRUE(f.result.has_value());
  EXPECT_TRUE(*f.result);
  EXPECT_EQ(f.prober.log(), (std::vector<std::string>{"tcp db:5432", "tcp db:5432", "tcp db:5432",
                                                      "host migrate"}));
}

TEST(InitRunner, WaitHttpTimesOutAndFails) {
  InitFixture f;
  f.prober.set("http http://api/ready", false);
  auto runner = f.runner(
      {step("api", "init.wait_http", {{"url", "http://api/ready"}}, std::chrono::seconds(5)),
       step("never", "init.run", {{"command", "never"}})});
  runner->start();
  for (int i = 0; i < 5 && !f.result; ++i) f.advance(std::chrono::seconds(2));
  ASSERT_TRUE(f.result.has_value());
  ASSERT_FALSE(*f.result);
  EXPECT_NE(f.result->error().message.find("did not succeed within its timeout"), std::string::npos)
      << f.result->error().message;
  // 0 s, 2 s, 4 s; the next attempt (6 s) would be past the 5 s timeout.
  EXPECT_EQ(f.prober.count("http http://api/ready"), 3u);
  EXPECT_EQ(f.prober.count("host never"), 0u);
}

TEST(InitRunner, RunRetriesThenOnFailureWarnAndContinueGoOn) {
  InitFixture f;
  f.prober.set("host flaky", false);
  f.prober.set("host broken", false);
  auto runner = f.runner(
      {step("a", "init.run", {{"command", "flaky"}}, std::nullopt, spec::TimeoutAction::kWarn, 2),
       step("b", "init.run", {{"command", "broken"}}, std::nullopt, spec::TimeoutAction::kContinue),
       step("c", "init.run", {{"command", "last"}})});
  runner->start();
  for (int i = 0; i < 5 && !f.result; ++i) f.advance(std::chrono::seconds(2));
  ASSERT_TRUE(f.result.has_value());
  EXPECT_TRUE(*f.result);
  EXPECT_EQ(f.prober.count("host flaky"), 3u);  // 1 + retry 2
  EXPECT_EQ(f.prober.count("host broken"), 1u);
  EXPECT_EQ(f.prober.count("host last"), 1u);
  ASSERT_EQ(f.notes.size(), 1u);  // warn says so; continue is silent
  EXPECT_NE(f.notes[0].find("init step a (init.run) failed after 3 attempt(s)"), std::string::npos)
      << f.notes[0];
}

TEST(InitRunner, DestroyingTheRunnerCancelsIt) {
  InitFixture f;
  f.prober.set("tcp db:1", false);
  auto runner = f.runner({step("db", "init.wait_tcp", {{"host", "db"}, {"port", 1}})});
  runner->start();
  f.loop.run_until_idle();
  runner.reset();
  f.advance(std::chrono::seconds(60));
  EXPECT_FALSE(f.result.has_value());
  EXPECT_EQ(f.prober.count("tcp db:1"), 1u);
  EXPECT_EQ(f.loop.pending_timers(), 0u);
}

}  // namespace
}  // namespace zlayer::agent
