// `zlayer-agent run -i/-t` and `--restart` end to end as root under real crun and runc: the agent
// driven through a real pseudo-terminal (forkpty) for -it, stdin piped for -i, and the restart
// policies applied by the container's monitor (on-failure:N counts, always survives a kill from
// outside, the user's stop/kill is never taken for a crash).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "runtime/linux/linux_runtime.h"
#include "support/linux_runtime_fixture.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

class RunAttachRestartTest : public testing::LinuxRuntimeFixture {
 protected:
  void SetUp() override {
    LinuxRuntimeFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    env_ = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
            {"ZLAYER_ROOT_DIR", paths_.root_dir.string()},
            {"ZLAYER_RUNTIME_DIR", paths_.runtime_dir.string()},
            {"ZLAYER_WASM_CACHE_DIR", paths_.wasm_cache_dir.string()},
            {"ZLAYER_OCI_RUNTIME", GetParam()},
            {"ZLAYER_CGROUP_PARENT", cgroup_parent_},
            {"HOME", dir_.path().string()},
            {"TERM", "xterm"}};
  }

  void after_remove(const ContainerId& id) override {
    EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
    EXPECT_FALSE(fs::exists(runtime_->attach_socket_path(id)));
  }

  SubprocessResult agent(std::vector<std::string> args, std::string input = {}) {
    args.insert(args.begin(), ZLAYER_AGENT_BIN);
    auto r = run_subprocess(
        args, {.input = std::move(input), .env = env_, .timeout = std::chrono::minutes(2)});
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : SubprocessResult{};
  }

  // Waits (up to a minute: a failure, not a timing check) until `done` holds.
  template <typename Predicate>
  bool eventually(Predicate done) {
    for (int i = 0; i < 600; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Starts `false` under --restart always, detached, named from `prefix`, and waits until it has
  // been restarted `restarts` times and (with `waiting`) sits in its backoff. nullopt on failure
  // (recorded).
  std::optional<ContainerId> crash_looping(const std::string& prefix, int restarts,
                                           bool waiting = false) {
    const std::string name = testing::unique_container_id(prefix);
    auto run = agent({"run", "--network", "none", "-d", "--name", name, "--restart", "always",
                      image_ref_, "false"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    if (run.exit_code != 0) return std::nullopt;
    ContainerId id{name, 1};
    created_.push_back(id);
    const bool got_there = eventually([&] {
      auto s = runtime_->container_state(id);
      return s && s->restart_count >= restarts &&
             (!waiting || s->phase == ContainerState::Phase::kPending);
    });
    EXPECT_TRUE(got_there) << name << " never reached " << restarts << " restarts";
    if (!got_there) return std::nullopt;
    return id;
  }

  std::string log_text(const ContainerId& id) {
    std::string text;
    auto read = runtime_->container_logs(id, {}, [&](const LogEntry& e) {
      text += e.text + "\n";
      return Status{};
    });
    EXPECT_TRUE(read) << read.error().message;
    return text;
  }

  std::map<std::string, std::string> env_;
};

// Reads the pty master until `want` has appeared or the other side is gone (EIO); returns all.
std::string read_until(int master, std::string& seen, std::string_view want) {
  char buf[4096];
  while (want.empty() || seen.find(want) == std::string::npos) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 60'000) <= 0) break;  // a hung agent fails the test, it does not hang it
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
  }
  return seen;
}

TEST_P(RunAttachRestartTest, RunItGivesAnInteractiveTerminal) {
  const std::string name = testing::unique_container_id("tty");
  std::vector<std::string> argv = {ZLAYER_AGENT_BIN, "run",    "-it", "--rm",     "--network",
                                   "none",           "--name", name,  image_ref_, "sh"};
  std::vector<std::string> env;
  for (const auto& [k, v] : env_) env.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  winsize size{};
  size.ws_row = 33;
  size.ws_col = 111;
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  UniqueFd master_fd(master);
  std::string seen;
  read_until(master, seen, "# ");  // the shell's prompt: it runs on a terminal
  ASSERT_THAT(seen, HasSubstr("# ")) << seen;
  // The agent put our terminal in raw mode: no local echo, Enter arrives as \r.
  termios mode{};
  ASSERT_EQ(::tcgetattr(master, &mode), 0);
  EXPECT_EQ(mode.c_lflag & (ECHO | ICANON), 0u);
  const std::string typed = "busybox stty size; echo h''i; exit 3\r";
  ASSERT_EQ(::write(master, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  read_until(master, seen, "");
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 3) << seen;
  EXPECT_THAT(seen, HasSubstr("33 111\r\n")) << "the window size reached the container";
  EXPECT_THAT(seen, HasSubstr("\r\nhi\r\n"));
  // The terminal is given back as it was (canonical, echoing).
  ASSERT_EQ(::tcgetattr(master, &mode), 0);
  EXPECT_NE(mode.c_lflag & ECHO, 0u);
  EXPECT_NE(mode.c_lflag & ICANON, 0u);
  EXPECT_FALSE(fs::exists(runtime_->container_dir(ContainerId{name, 1})));
}

TEST_P(RunAttachRestartTest, RunIForwardsStdinUntilItEnds) {
  auto cat = agent({"run", "--network", "none", "-i", "--rm", image_ref_, "cat"},
                   "hello\nworld without newline");
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, "hello\nworld without newline");
  // Without -i the container's stdin is empty.
  auto closed = agent(
      {"run", "--network", "none", "--rm", image_ref_, "sh", "-c", "cat; echo done"}, "ignored\n");
  EXPECT_EQ(closed.exit_code, 0) << closed.err;
  EXPECT_EQ(closed.out, "done\n");
  auto bad = agent({"run", "--network", "none", "--rm", "--restart", "always", image_ref_, "true"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--restart"));
  auto bad_policy =
      agent({"run", "--network", "none", "--restart", "sometimes", image_ref_, "true"});
  EXPECT_EQ(bad_policy.exit_code, 2);
  EXPECT_THAT(bad_policy.err, HasSubstr("on-failure:N"));
  EXPECT_EQ(fs::directory_iterator(paths_.containers_dir()), fs::directory_iterator());
}

TEST_P(RunAttachRestartTest, OnFailureRestartsExactlyNTimes) {
  const std::string name = testing::unique_container_id("onfail");
  ContainerId id{name, 1};
  created_.push_back(id);
  auto run = agent({"run", "--network", "none", "-d", "--name", name, "--restart", "on-failure:2",
                    image_ref_, "sh", "-c", "echo run; exit 1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto exit = runtime_->wait_container(id);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 1);
  auto state = runtime_->container_state(id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->phase, ContainerState::Phase::kExited);
  EXPECT_EQ(state->restart_count, 2);
  EXPECT_EQ(log_text(id), "run\nrun\nrun\n");
  // A success is not a failure: on-failure leaves it alone.
  const std::string ok_name = testing::unique_container_id("onok");
  ContainerId ok{ok_name, 1};
  created_.push_back(ok);
  ASSERT_EQ(agent({"run", "--network", "none", "-d", "--name", ok_name, "--restart", "on-failure",
                   image_ref_, "true"})
                .exit_code,
            0);
  auto ok_exit = runtime_->wait_container(ok);
  ASSERT_TRUE(ok_exit) << ok_exit.error().message;
  EXPECT_EQ(ok_exit->exit_code, 0);
  EXPECT_EQ(runtime_->container_state(ok)->restart_count, 0);
}

TEST_P(RunAttachRestartTest, AlwaysRestartsAfterAKillFromOutsideButNotAfterStop) {
  const std::string name = testing::unique_container_id("always");
  ContainerId id{name, 1};
  created_.push_back(id);
  auto run = agent({"run", "--network", "none", "-d", "--name", name, "--restart", "always",
                    image_ref_, "sh", "-c", "echo up; exec sleep 1000"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto first = runtime_->container_pid(id);
  ASSERT_TRUE(first) << first.error().message;
  // A crash, as far as the monitor can tell: the init dies of a signal nobody asked for.
  ASSERT_EQ(::kill(*first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->container_state(id);
    auto pid = runtime_->container_pid(id);
    return s && s->restart_count == 1 && s->phase == ContainerState::Phase::kRunning && pid &&
           *pid != *first;
  })) << "the container was not restarted";
  ASSERT_TRUE(eventually([&] { return log_text(id) == "up\nup\n"; })) << log_text(id);
  auto ps = agent({"ps"});
  EXPECT_THAT(ps.out, HasSubstr(id.str()));
  EXPECT_THAT(ps.out, HasSubstr("running, restarted 1 time"));

  auto stop = agent({"stop", "-t", "1", name});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  auto state = runtime_->container_state(id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->phase, ContainerState::Phase::kExited);
  EXPECT_EQ(state->restart_count, 1);
  EXPECT_FALSE(fs::exists(runtime_->attach_socket_path(id)));
  // The monitor has finished: nothing is left to restart the container later.
  auto wait = runtime_->wait_container(id);
  ASSERT_TRUE(wait) << wait.error().message;
  EXPECT_EQ(runtime_->container_state(id)->restart_count, 1);

  // kill through the runtime is the user's too.
  const std::string killed_name = testing::unique_container_id("killed");
  ContainerId killed{killed_name, 1};
  created_.push_back(killed);
  ASSERT_EQ(agent({"run", "--network", "none", "-d", "--name", killed_name, "--restart", "always",
                   image_ref_, "sleep", "1000"})
                .exit_code,
            0);
  ASSERT_TRUE(runtime_->kill_container(killed, SIGKILL));
  auto killed_exit = runtime_->wait_container(killed);
  ASSERT_TRUE(killed_exit) << killed_exit.error().message;
  EXPECT_EQ(killed_exit->exit_code, 137);
  EXPECT_EQ(runtime_->container_state(killed)->restart_count, 0);
}

TEST_P(RunAttachRestartTest, RemoveEndsAContainerWaitingToRestart) {
  auto looping = crash_looping("loop", 3);
  ASSERT_TRUE(looping);
  const ContainerId id = *looping;
  const std::string name = id.service;
  auto rm = agent({"rm", "-f", name});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
  created_.clear();
  EXPECT_TRUE(testing::remove_cgroup_dirs(cgroup_parent_));
  // Nothing re-creates it behind our back.
  std::this_thread::sleep_for(500ms);
  auto oci = runtime_->oci().state(id.str());
  EXPECT_FALSE(oci);
  EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
}

// `stop` during the restart backoff ends it cleanly (exit 0) and for good, as docker stop does.
TEST_P(RunAttachRestartTest, StopEndsAContainerWaitingToRestart) {
  auto looping = crash_looping("waiting", 3);
  ASSERT_TRUE(looping);
  const ContainerId id = *looping;
  const std::string name = id.service;
  auto stop = agent({"stop", "-t", "1", name});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  auto state = runtime_->container_state(id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_TRUE(state->is_finished()) << state->phase_name();
}

// `kill` of a container waiting to restart is refused as Docker refuses it ("is restarting"),
// with our words rather than the OCI runtime's, and does not stop it from restarting.
TEST_P(RunAttachRestartTest, KillOfAContainerWaitingToRestartSaysSo) {
  // From the fourth restart on the backoff (800 ms and more) dwarfs the run of `false`.
  auto looping = crash_looping("waitkill", 4, /*waiting=*/true);
  ASSERT_TRUE(looping);
  const ContainerId id = *looping;
  const std::string name = id.service;
  const int before = runtime_->container_state(id)->restart_count;
  auto killed = agent({"kill", name});
  EXPECT_EQ(killed.exit_code, 1);
  EXPECT_NE(killed.err.find("is restarting after"), std::string::npos) << killed.err;
  EXPECT_NE(killed.err.find("wait until it runs"), std::string::npos) << killed.err;
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->container_state(id);
    return s && s->restart_count > before;
  })) << "it keeps restarting";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RunAttachRestartTest, ::testing::Values("crun", "runc"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace zlayer::runtime::linux
