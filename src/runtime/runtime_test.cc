#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <csignal>

namespace zlayer::runtime {
namespace {

TEST(ExitStatus, DescribesCodeSignalAndOom) {
  EXPECT_EQ(ExitStatus::exited(3).describe(), "exit code 3");
  EXPECT_EQ(ExitStatus::killed_by(SIGKILL).exit_code, 137);
  EXPECT_EQ(ExitStatus::killed_by(SIGKILL).describe(), "killed by SIGKILL (exit code 137)");
  ExitStatus oom = ExitStatus::killed_by(SIGKILL);
  oom.oom_killed = true;
  EXPECT_EQ(oom.describe(), "OOM-killed (exit code 137)");
  EXPECT_FALSE(oom.success());
  EXPECT_TRUE(ExitStatus::exited(0).success());
}

TEST(Signals, ParseAndName) {
  EXPECT_EQ(*parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(*parse_signal("term"), SIGTERM);
  EXPECT_EQ(*parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(*parse_signal("2"), SIGINT);
  EXPECT_EQ(signal_name(SIGUSR1), "SIGUSR1");
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");
  EXPECT_EQ(*parse_signal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(*parse_signal("SIGRTMAX"), SIGRTMAX);
  EXPECT_EQ(signal_name(SIGRTMIN + 1), "SIGRTMIN+1");
  for (const char* bad : {"", "SIGNOPE", "0", "99", "-9", "9x", "SIGRTMIN+99"}) {
    auto r = parse_signal(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(std::string("\"") + bad + "\""), std::string::npos);
  }
}

TEST(ContainerState, LifecyclePredicates) {
  using Phase = ContainerState::Phase;
  struct Row {
    Phase phase;
    bool start, stop, pause, unpause, finished;
  };
  const Row rows[] = {
      {Phase::kPending, false, false, false, false, false},
      {Phase::kCreated, true, false, false, false, false},
      {Phase::kInitializing, false, true, false, false, false},
      {Phase::kRunning, false, true, true, false, false},
      {Phase::kPaused, false, true, false, true, false},
      {Phase::kStopping, false, false, false, false, false},
      {Phase::kExited, false, false, false, false, true},
      {Phase::kFailed, false, false, false, false, true},
  };
  for (const auto& r : rows) {
    ContainerState s{r.phase, std::nullopt, ""};
    EXPECT_EQ(s.can_start(), r.start) << s.phase_name();
    EXPECT_EQ(s.can_stop(), r.stop) << s.phase_name();
    EXPECT_EQ(s.can_pause(), r.pause) << s.phase_name();
    EXPECT_EQ(s.can_unpause(), r.unpause) << s.phase_name();
    EXPECT_EQ(s.is_finished(), r.finished) << s.phase_name();
  }
}

}  // namespace
}  // namespace zlayer::runtime
