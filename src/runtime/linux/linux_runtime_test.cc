// LinuxRuntime end to end as root under real crun and runc: an image imported from an OCI layout
// (no registry), created, started, waited, stopped, exec'd into and removed — checking that
// remove leaves no mount, directory, cgroup, process or row behind.
#include "runtime/linux/linux_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/subprocess.h"
#include "support/agent_sandbox.h"
#include "support/busybox_store.h"
#include "support/linux_runtime_fixture.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

class LinuxRuntimeTest : public testing::LinuxRuntimeFixture {
 protected:
  void after_remove(const ContainerId& id) override { expect_nothing_left(id); }

  ContainerConfig config(std::vector<std::string> args) {
    ContainerConfig c;
    c.image_ref = image_ref_;
    c.image = image_config_;
    c.args = std::move(args);
    c.network.mode = NetworkMode::kNone;
    return c;
  }

  ContainerId create(const std::string& service, std::vector<std::string> args, bool start = true) {
    ContainerId id{testing::unique_container_id(service), 1};
    auto created = runtime_->create_container(id, config(std::move(args)));
    EXPECT_TRUE(created) << created.error().message;
    if (!created) return id;
    created_.push_back(id);
    if (start) {
      auto started = runtime_->start_container(id);
      EXPECT_TRUE(started) << started.error().message;
    }
    return id;
  }

  std::string log_text(const ContainerId& id) {
    std::string text;
    auto read = runtime_->container_logs(id, {}, [&](const LogEntry& e) {
      text += (e.is_stderr ? "E:" : "O:") + e.text + "\n";
      return Status{};
    });
    EXPECT_TRUE(read) << read.error().message;
    return text;
  }

  void expect_nothing_left(const ContainerId& id) {
    const fs::path dir = runtime_->container_dir(id);
    EXPECT_FALSE(fs::exists(dir)) << dir;
    auto mountinfo = read_file("/proc/self/mountinfo");
    ASSERT_TRUE(mountinfo);
    EXPECT_THAT(*mountinfo, ::testing::Not(HasSubstr(dir.string())));
    EXPECT_FALSE(cgroup_exists(runtime_->cgroup_layout(), runtime_->cgroups_path(id)));
    auto oci = runtime_->oci().state(id.str());
    ASSERT_FALSE(oci);
    EXPECT_EQ(oci.error().code, Errc::kNotFound);
    auto state = runtime_->container_state(id);
    ASSERT_FALSE(state);
    EXPECT_EQ(state.error().code, Errc::kNotFound);
  }

};

TEST_P(LinuxRuntimeTest, ExitCodesAndLogs) {
  ContainerId ok = create("ok", {"sh", "-c", "echo out; echo err >&2"});
  ContainerId three = create("three", {"sh", "-c", "echo before; exit 3"});
  auto ok_exit = runtime_->wait_container(ok);
  ASSERT_TRUE(ok_exit) << ok_exit.error().message;
  EXPECT_EQ(ok_exit->exit_code, 0);
  EXPECT_TRUE(ok_exit->success());
  auto three_exit = runtime_->wait_container(three);
  ASSERT_TRUE(three_exit) << three_exit.error().message;
  EXPECT_EQ(three_exit->exit_code, 3);
  EXPECT_EQ(three_exit->signal, 0);

  EXPECT_EQ(log_text(ok), "O:out\nE:err\n");
  EXPECT_EQ(log_text(three), "O:before\n");
  auto state = runtime_->container_state(three);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->phase, ContainerState::Phase::kExited);
  ASSERT_TRUE(state->exit);
  EXPECT_EQ(state->exit->exit_code, 3);
  // wait after the end returns the same status again.
  auto again = runtime_->wait_container(three);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->exit_code, 3);

  auto listed = runtime_->list_containers();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 2u);
}

TEST_P(LinuxRuntimeTest, StopHonoursGraceThenKills) {
  // `sleep` as the container's init ignores SIGTERM (pid 1 without a handler), so only SIGKILL
  // after the grace period ends it.
  ContainerId id = create("stop", {"sleep", "1000"});
  auto state = runtime_->container_state(id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->phase, ContainerState::Phase::kRunning);
  auto stopped = runtime_->stop_container(id, 200ms);
  ASSERT_TRUE(stopped) << stopped.error().message;
  auto exit = runtime_->wait_container(id);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 137);
  EXPECT_EQ(exit->signal, SIGKILL);
  // Stopping a stopped container is success.
  EXPECT_TRUE(runtime_->stop_container(id, 200ms));
}

TEST_P(LinuxRuntimeTest, StopSignalEndsACooperativeContainer) {
  ContainerId id = create("term", {"sh", "-c", "trap 'exit 7' TERM; while :; do sleep 1; done"});
  auto stopped = runtime_->stop_container(id, 60s);
  ASSERT_TRUE(stopped) << stopped.error().message;
  auto exit = runtime_->wait_container(id);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 7);
}

TEST_P(LinuxRuntimeTest, ExecPidStatsAndRemoveWhileRunning) {
  ContainerId id = create("exec", {"sleep", "1000"});
  auto hi = runtime_->exec(
      id, ExecOptions{.command = {"sh", "-c", "echo hi $FOO; pwd"}, .env = {"FOO=bar"}});
  ASSERT_TRUE(hi) << hi.error().message;
  EXPECT_EQ(hi->exit_code, 0);
  EXPECT_EQ(hi->stdout_text, "hi bar\n/\n");
  auto missing = runtime_->exec(id, ExecOptions{.command = {"no-such-binary"}});
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(missing->exit_code, 127);
  // A command that outlives its timeout is killed inside the container too (health checks).
  auto slow = runtime_->exec(
      id, ExecOptions{.command = {"sleep", "999"}, .timeout = std::chrono::milliseconds(300)});
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, Errc::kDeadlineExceeded) << slow.error().message;
  auto ps = runtime_->exec(id, ExecOptions{.command = {"ps", "-o", "args"}});
  ASSERT_TRUE(ps) << ps.error().message;
  EXPECT_EQ(ps->stdout_text.find("sleep 999"), std::string::npos) << ps->stdout_text;

  auto pid = runtime_->container_pid(id);
  ASSERT_TRUE(pid) << pid.error().message;
  EXPECT_EQ(::kill(*pid, 0), 0);
  auto stats = runtime_->container_stats(id);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GE(stats->pids, 1u);
  EXPECT_GT(stats->memory_bytes, 0u);
  auto ip = runtime_->container_ip(id);
  ASSERT_FALSE(ip);
  EXPECT_EQ(ip.error().code, Errc::kUnsupported);

  auto removed = runtime_->remove_container(id);
  ASSERT_TRUE(removed) << removed.error().message;
  expect_nothing_left(id);
  errno = 0;
  EXPECT_EQ(::kill(*pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // Idempotent.
  EXPECT_TRUE(runtime_->remove_container(id));
}

TEST_P(LinuxRuntimeTest, PauseAndUnpause) {
  ContainerId id = create("pause", {"sleep", "1000"});
  ASSERT_TRUE(runtime_->pause_container(id));
  auto paused = runtime_->container_state(id);
  ASSERT_TRUE(paused) << paused.error().message;
  EXPECT_EQ(paused->phase, ContainerState::Phase::kPaused);
  ASSERT_TRUE(runtime_->unpause_container(id));
  auto running = runtime_->container_state(id);
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ(running->phase, ContainerState::Phase::kRunning);
}

TEST_P(LinuxRuntimeTest, HostNetworkSharesTheHostsNamespace) {
  ContainerId id{testing::unique_container_id("host"), 1};
  ContainerConfig c = config({"sleep", "1000"});
  c.network.mode = NetworkMode::kHost;
  auto created = runtime_->create_container(id, c);
  ASSERT_TRUE(created) << created.error().message;
  created_.push_back(id);
  ASSERT_TRUE(runtime_->start_container(id));
  auto pid = runtime_->container_pid(id);
  ASSERT_TRUE(pid) << pid.error().message;
  std::error_code ec;
  const auto host_net = fs::read_symlink("/proc/self/ns/net", ec);
  ASSERT_FALSE(ec);
  const auto container_net = fs::read_symlink("/proc/" + std::to_string(*pid) + "/ns/net", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(container_net, host_net);
  const auto container_mnt = fs::read_symlink("/proc/" + std::to_string(*pid) + "/ns/mnt", ec);
  ASSERT_FALSE(ec);
  EXPECT_NE(container_mnt, fs::read_symlink("/proc/self/ns/mnt", ec));
}

TEST_P(LinuxRuntimeTest, NoneNetworkHasItsOwnNamespace) {
  ContainerId id = create("none", {"sleep", "1000"});
  auto pid = runtime_->container_pid(id);
  ASSERT_TRUE(pid) << pid.error().message;
  std::error_code ec;
  EXPECT_NE(fs::read_symlink("/proc/" + std::to_string(*pid) + "/ns/net", ec),
            fs::read_symlink("/proc/self/ns/net", ec));
}

TEST_P(LinuxRuntimeTest, RemoveACreatedContainer) {
  ContainerId id = create("created", {"true"}, /*start=*/false);
  auto state = runtime_->container_state(id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->phase, ContainerState::Phase::kCreated);
}

TEST_P(LinuxRuntimeTest, FailedCreateLeavesNothing) {
  ContainerId id{testing::unique_container_id("bad"), 1};
  ContainerConfig c = config({"true"});
  c.user = "no-such-user";
  auto created = runtime_->create_container(id, c);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::kInvalidArgument);
  expect_nothing_left(id);

  // Bridge containers are tested in linux_network_test.cc, inside a namespace of the test's own.
  ContainerConfig published = config({"true"});
  published.network.port_mappings.push_back({.host_port = 8080, .container_port = 80});
  auto refused = runtime_->create_container(id, published);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(refused.error().message, HasSubstr("bridge"));
  expect_nothing_left(id);
}

TEST_P(LinuxRuntimeTest, CliRunRemovesAndExitsWithTheContainersCode) {
  const Paths p = dir_.paths();
  const auto env = testing::agent_env(p, dir_.path(), GetParam(), cgroup_parent_);
  const std::string name = testing::unique_container_id("cli");
  auto run =
      run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", "--name", name, "--network", "none", "-e",
                      "WHO=there", image_ref_, "sh", "-c", "echo hi $WHO; echo oops >&2; exit 3"},
                     {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 3) << run->err;
  EXPECT_EQ(run->out, "hi there\n");
  EXPECT_THAT(run->err, HasSubstr("oops\n"));
  ContainerId id{name, 1};
  expect_nothing_left(id);

  // --memory reaches the cgroup: a 64 MiB buffer under a 32 MiB limit is OOM-killed.
  auto oom = run_subprocess(
      {ZLAYER_AGENT_BIN, "run", "--rm", "--network", "none", "--memory", "32m", image_ref_,
       "/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"},
      {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(oom) << oom.error().message;
  EXPECT_EQ(oom->exit_code, 137) << oom->err;

  auto bad_memory = run_subprocess(
      {ZLAYER_AGENT_BIN, "run", "--rm", "--memory", "lots", image_ref_, "true"}, {.env = env});
  ASSERT_TRUE(bad_memory) << bad_memory.error().message;
  EXPECT_EQ(bad_memory->exit_code, 125);
  EXPECT_THAT(bad_memory->err, HasSubstr("--memory"));

  auto missing = run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", "localhost/no/such:image"},
                                {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(missing->exit_code, 125);

  auto containers = fs::directory_iterator(p.containers_dir());
  EXPECT_EQ(containers, fs::directory_iterator()) << "a container directory was left behind";
  auto ps = run_subprocess({ZLAYER_AGENT_BIN, "ps", "-a"}, {.env = env});
  ASSERT_TRUE(ps) << ps.error().message;
  EXPECT_EQ(ps->exit_code, 0) << ps->err;
  EXPECT_THAT(ps->out, ::testing::Not(HasSubstr(name)));
}

TEST_P(LinuxRuntimeTest, CliRunForwardsSignalsToTheContainer) {
  const Paths p = dir_.paths();
  const auto env = testing::agent_env(p, dir_.path(), GetParam(), cgroup_parent_);
  auto out = make_pipe();
  ASSERT_TRUE(out) << out.error().message;
  auto pid =
      spawn_process({ZLAYER_AGENT_BIN, "run", "--rm", "--network", "none", image_ref_, "sh", "-c",
                     "trap 'echo got TERM; exit 9' TERM; echo ready; "
                     "while :; do sleep 1; done"},
                    SpawnOptions{.stdout_fd = out->write.get(), .env = env});
  ASSERT_TRUE(pid) << pid.error().message;
  out->write.reset();
  // The container says it is ready (its trap is set) before the agent gets the signal.
  std::string text;
  char buf[256];
  while (text.find("ready\n") == std::string::npos) {
    ssize_t n = ::read(out->read.get(), buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  if (text != "ready\n") {
    ::kill(*pid, SIGKILL);  // the agent's container is removed by TearDown's cgroup cleanup
    ::waitpid(*pid, nullptr, 0);
    FAIL() << "the container never printed ready: " << text;
  }
  ASSERT_EQ(::kill(*pid, SIGTERM), 0);
  for (ssize_t n; (n = ::read(out->read.get(), buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 9);
  EXPECT_EQ(text, "ready\ngot TERM\n");
  auto containers = fs::directory_iterator(p.containers_dir());
  EXPECT_EQ(containers, fs::directory_iterator()) << "a container directory was left behind";
}

TEST_P(LinuxRuntimeTest, CliDetachedLifecycle) {
  const Paths p = dir_.paths();
  const auto env = testing::agent_env(p, dir_.path(), GetParam(), cgroup_parent_);
  auto agent = [&](std::vector<std::string> args) {
    args.insert(args.begin(), ZLAYER_AGENT_BIN);
    auto r = run_subprocess(args, {.env = env, .timeout = std::chrono::minutes(2)});
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : SubprocessResult{};
  };
  const std::string name = testing::unique_container_id("det");
  ContainerId id{name, 1};
  created_.push_back(id);  // TearDown removes it if a step below fails
  auto run = agent({"run", "-d", "--network", "none", "--name", name, image_ref_, "sh", "-c",
                    "echo started; exec sleep 1000"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, id.str() + "\n");

  auto ps = agent({"ps"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_THAT(ps.out, HasSubstr(id.str()));
  EXPECT_THAT(ps.out, HasSubstr("running"));

  auto exec = agent({"exec", name, "sh", "-c", "echo in; exit 4"});
  EXPECT_EQ(exec.exit_code, 4) << exec.err;
  EXPECT_EQ(exec.out, "in\n");

  auto busy = agent({"rm", name});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("rm -f"));

  auto stop = agent({"stop", "-t", "0", name});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  auto all = agent({"ps", "-a"});
  EXPECT_THAT(all.out, HasSubstr("exited (137)"));
  auto logs = agent({"logs", name});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "started\n");

  auto rm = agent({"rm", name});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  expect_nothing_left(id);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, LinuxRuntimeTest, ::testing::Values("crun", "runc"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace zlayer::runtime::linux
