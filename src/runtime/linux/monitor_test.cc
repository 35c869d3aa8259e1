// Real containers under crun and runc driven through zlayer-monitor: lifecycle, exit codes,
// signals, OOM, CRI logs, exec, and a container that outlives the process that started it.
// Every test deletes its containers, reaps or kills its monitors by pid, and checks that the
// container's cgroups are gone.
#include "runtime/linux/monitor.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "core/fs.h"
#include "runtime/logs/log_store.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr auto kWait = std::chrono::milliseconds(60'000);

struct Started {
  std::string id;
  fs::path dir;
  MonitorHandle handle;
};

class MonitorTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (runs an OCI runtime)";
    if (!fs::exists(testing::kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!testing::have_program(GetParam())) GTEST_SKIP() << "needs " << GetParam();
    auto selection = select_oci_runtime(GetParam(), dir_.path() / "oci");
    ASSERT_TRUE(selection) << selection.error().message;
    runtime_.emplace(selection->runtime);
    cgroup_parent_ = testing::unique_container_id("zlayer-test");
  }

  void TearDown() override {
    if (!runtime_) return;
    for (const auto& c : started_) {
      auto removed = runtime_->remove(c.id, /*force=*/true);
      EXPECT_TRUE(removed) << removed.error().message;
      // The monitor ends once the init is gone; one that does not is killed by pid.
      auto record = wait_for_exit(c.dir, c.handle.monitor_pid, 30s);
      if (!record && ::kill(c.handle.monitor_pid, 0) == 0) {
        ADD_FAILURE() << "monitor " << c.handle.monitor_pid << " of " << c.id << " still alive";
        ::kill(c.handle.monitor_pid, SIGKILL);
        ::waitpid(c.handle.monitor_pid, nullptr, 0);
      }
      EXPECT_TRUE(testing::cgroup_dirs(cgroup_parent_ + "/" + c.id).empty())
          << "cgroup of " << c.id << " left behind";
    }
    auto listed = runtime_->list();
    ASSERT_TRUE(listed) << listed.error().message;
    for (const auto& state : *listed) {
      for (const auto& c : started_) EXPECT_NE(state.id, c.id) << "container left over";
    }
    auto cleaned = testing::remove_cgroup_dirs(cgroup_parent_);
    EXPECT_TRUE(cleaned) << cleaned.error().message;
    EXPECT_TRUE(testing::cgroup_dirs(cgroup_parent_).empty());
  }

  // Writes a bundle for `options` under the test dir and returns the monitor config for it.
  MonitorConfig prepare(const std::string& name, testing::TestBundleOptions options) {
    std::string id = testing::unique_container_id("zl-" + name);
    fs::path dir = dir_.path() / id;
    options.cgroups_path = "/" + cgroup_parent_ + "/" + id;
    EXPECT_TRUE(make_dirs(dir));
    auto written = testing::write_test_bundle(dir / "bundle", options);
    EXPECT_TRUE(written) << written.error().message;
    return MonitorConfig{.container_id = id,
                         .bundle = dir / "bundle",
                         .container_dir = dir,
                         .log_path = dir / "container.log",
                         .runtime = &*runtime_};
  }

  // Creates (through a monitor) and optionally starts a container running `args`.
  Started launch(const std::string& name, std::vector<std::string> args, bool start = true,
                 std::optional<std::int64_t> memory_limit = std::nullopt) {
    testing::TestBundleOptions options;
    options.args = std::move(args);
    options.memory_limit_bytes = memory_limit;
    MonitorConfig config = prepare(name, options);
    auto handle = start_monitor(config);
    EXPECT_TRUE(handle) << handle.error().message;
    if (!handle) return {};
    Started c{config.container_id, config.container_dir, *handle};
    started_.push_back(c);
    if (start) {
      auto started = runtime_->start(c.id);
      EXPECT_TRUE(started) << started.error().message;
    }
    return c;
  }

  ExitRecord wait(const Started& c) {
    auto record = wait_for_exit(c.dir, c.handle.monitor_pid, kWait);
    EXPECT_TRUE(record) << record.error().message;
    return record ? *record : ExitRecord{.exit_code = -1};
  }

  std::vector<logs::LogLine> log_lines(const Started& c) {
    std::vector<logs::LogLine> lines;
    auto read = logs::read_logs(c.dir / "container.log", {}, [&](const logs::LogLine& line) {
      lines.push_back(line);
      return Status{};
    });
    EXPECT_TRUE(read) << read.error().message;
    return lines;
  }

  ExecProcess exec_process(std::vector<std::string> args) {
    ExecProcess process;
    process.args = std::move(args);
    process.env = {"PATH=/bin:/usr/bin"};
    process.capabilities = {"CAP_KILL", "CAP_SETUID", "CAP_SETGID"};
    return process;
  }

  testing::TempDir dir_;
  std::optional<OciRuntime> runtime_;
  std::string cgroup_parent_;
  std::vector<Started> started_;
};

TEST_P(MonitorTest, LifecycleCreateStartStateKillDelete) {
  Started c = launch("life", {"sleep", "1000"}, /*start=*/false);
  ASSERT_GT(c.handle.container_pid, 0);
  auto created = runtime_->state(c.id);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->status, OciStatus::kCreated);
  EXPECT_EQ(created->pid, c.handle.container_pid);
  EXPECT_FALSE(fs::exists(c.dir / kExitFile));
  auto monitor_pid = read_file(c.dir / kMonitorPidFile);
  ASSERT_TRUE(monitor_pid);
  EXPECT_EQ(*monitor_pid, std::to_string(c.handle.monitor_pid));
  EXPECT_EQ(::getsid(c.handle.monitor_pid), c.handle.monitor_pid);  // a session leader

  ASSERT_TRUE(runtime_->start(c.id));
  auto running = runtime_->state(c.id);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, OciStatus::kRunning);
  auto listed = runtime_->list();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(
      std::any_of(listed->begin(), listed->end(), [&](const OciState& s) { return s.id == c.id; }));

  ASSERT_TRUE(runtime_->pause(c.id));
  EXPECT_EQ(runtime_->state(c.id)->status, OciStatus::kPaused);
  ASSERT_TRUE(runtime_->resume(c.id));
  EXPECT_EQ(runtime_->state(c.id)->status, OciStatus::kRunning);

  ASSERT_TRUE(runtime_->kill(c.id, SIGKILL));
  ExitRecord record = wait(c);
  EXPECT_EQ(record.exit_code, 137);
  EXPECT_EQ(record.signal, SIGKILL);
  EXPECT_EQ(record.signal_name, "SIGKILL");
  EXPECT_FALSE(record.oom_killed);
  EXPECT_EQ(record.pid, c.handle.container_pid);
  EXPECT_GT(record.finished_at.time_since_epoch().count(), 0);
  // The monitor reaped the init, so the runtime sees it stopped (not a zombie "running").
  auto stopped = runtime_->state(c.id);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, OciStatus::kStopped);
  ASSERT_TRUE(runtime_->remove(c.id, false));
  auto gone = runtime_->state(c.id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::kNotFound) << gone.error().message;
  EXPECT_TRUE(runtime_->remove(c.id, false));  // idempotent
}

TEST_P(MonitorTest, ExitCodesAreTheProcessOwn) {
  Started zero = launch("zero", {"sh", "-c", "exit 0"});
  Started three = launch("three", {"sh", "-c", "exit 3"});
  Started immediate = launch("now", {"false"});  // exits at once after start
  EXPECT_EQ(wait(zero).exit_code, 0);
  EXPECT_EQ(wait(three).exit_code, 3);
  ExitRecord now = wait(immediate);
  EXPECT_EQ(now.exit_code, 1);
  EXPECT_EQ(now.signal, 0);
  EXPECT_EQ(now.signal_name, "");
}

TEST_P(MonitorTest, SignalHandledByTheContainer) {
  Started c = launch("trap", {"sh", "-c", "trap 'exit 7' TERM; echo ready; sleep 1000 & wait"});
  // The init must have installed its trap before the signal: wait for its "ready" line.
  for (int i = 0; i < 600 && log_lines(c).empty(); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(runtime_->kill(c.id, SIGTERM));
  ExitRecord record = wait(c);
  EXPECT_EQ(record.exit_code, 7);
  EXPECT_EQ(record.signal, 0);
}

TEST_P(MonitorTest, OomKillIsRecorded) {
  Started c = launch("oom", {"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"}, true,
                     32 * 1024 * 1024);
  ExitRecord record = wait(c);
  EXPECT_EQ(record.exit_code, 137);
  EXPECT_EQ(record.signal, SIGKILL);
  EXPECT_TRUE(record.oom_killed);
}

TEST_P(MonitorTest, OutputGoesToTheCriLogInOrder) {
  Started c = launch("logs", {"sh", "-c",
                              "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; "
                              "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done; "
                              "printf 'no newline'"});
  EXPECT_EQ(wait(c).exit_code, 0);
  auto lines = log_lines(c);
  std::vector<std::string> out;
  std::vector<std::string> err;
  for (const auto& line : lines) {
    (line.stream == logs::Stream::kStdout ? out : err).push_back(line.text);
  }
  ASSERT_EQ(out.size(), 5u + 300u + 1u);
  ASSERT_EQ(err.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(out[i], "out" + std::to_string(i + 1));
    EXPECT_EQ(err[i], "err" + std::to_string(i + 1));
  }
  for (int i = 0; i < 300; ++i) EXPECT_EQ(out[5 + i], "line" + std::to_string(i));
  EXPECT_EQ(out.back(), "no newline");
  // Raw file: CRI records, the unterminated last line closed with F when the stream ended.
  auto raw = read_file(c.dir / "container.log");
  ASSERT_TRUE(raw);
  EXPECT_THAT(*raw, HasSubstr("Z stderr F err1\n"));
  EXPECT_THAT(*raw, HasSubstr(" stdout F no newline\n"));
}

TEST_P(MonitorTest, CreateFailureIsReportedAndLeavesNothing) {
  testing::TestBundleOptions options;
  options.args = {"/no/such/program"};
  MonitorConfig config = prepare("bad", options);
  auto handle = start_monitor(config);
  ASSERT_FALSE(handle);
  EXPECT_THAT(handle.error().message, HasSubstr(config.container_id));
  EXPECT_THAT(handle.error().message,
              ::testing::AnyOf(HasSubstr("no such file"), HasSubstr("No such file"),
                               HasSubstr("not found")));
  // Whatever the runtime kept of the failed container goes with delete.
  ASSERT_TRUE(runtime_->remove(config.container_id, true));
  EXPECT_TRUE(testing::cgroup_dirs(cgroup_parent_ + "/" + config.container_id).empty());
  auto monitor_pid = read_file(config.container_dir / kMonitorPidFile);
  if (monitor_pid) {
    pid_t pid = std::stoi(*monitor_pid);
    EXPECT_TRUE(::kill(pid, 0) != 0 && errno == ESRCH) << "monitor " << pid << " not reaped";
  }
}

// The "agent" is a forked child that starts the monitor and the container, then SIGKILLs
// itself. The container keeps running; its exit is still recorded, with its own code.
TEST_P(MonitorTest, ContainerOutlivesTheAgent) {
  // Like the agent, become the subreaper of orphans, so the monitor ends up as our child.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  testing::TestBundleOptions options;
  options.args = {"sh", "-c", "trap 'echo bye; exit 42' TERM; echo hello; sleep 1000 & wait"};
  MonitorConfig config = prepare("orphan", options);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    ::close(report[0]);
    MonitorHandle handle;
    auto started = start_monitor(config);
    if (started && runtime_->start(config.container_id)) handle = *started;
    [[maybe_unused]] auto w = ::write(report[1], &handle, sizeof handle);
    ::kill(::getpid(), SIGKILL);
    ::_exit(1);
  }
  ::close(report[1]);
  MonitorHandle handle;
  ASSERT_EQ(::read(report[0], &handle, sizeof handle), static_cast<ssize_t>(sizeof handle));
  ::close(report[0]);
  int agent_status = 0;
  ASSERT_EQ(::waitpid(agent, &agent_status, 0), agent);
  ASSERT_TRUE(WIFSIGNALED(agent_status));
  ASSERT_GT(handle.monitor_pid, 0) << "the agent could not start the container";
  started_.push_back({config.container_id, config.container_dir, handle});

  auto running = runtime_->state(config.container_id);
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ(running->status, OciStatus::kRunning);
  EXPECT_EQ(::kill(handle.monitor_pid, 0), 0) << "monitor died with the agent";
  Started c = started_.back();
  for (int i = 0; i < 600 && log_lines(c).empty(); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(runtime_->kill(config.container_id, SIGTERM));
  ExitRecord record = wait(c);
  EXPECT_EQ(record.exit_code, 42);
  auto lines = log_lines(c);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "hello");
  EXPECT_EQ(lines[1].text, "bye");
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_P(MonitorTest, ExecBufferedStreamingAndFailures) {
  Started c = launch("exec", {"sleep", "1000"});
  auto ok = runtime_->exec(c.id, exec_process({"sh", "-c", "echo hi; echo there >&2"}));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->stdout_text, "hi\n");
  EXPECT_EQ(ok->stderr_text, "there\n");

  auto input = runtime_->exec(c.id, exec_process({"cat"}), "from stdin");
  ASSERT_TRUE(input) << input.error().message;
  EXPECT_EQ(input->stdout_text, "from stdin");

  ExecProcess as_app = exec_process({"sh", "-c", "id -u; id -g; pwd; echo $GREETING"});
  as_app.uid = 1000;
  as_app.gid = 1000;
  as_app.cwd = "/tmp";
  as_app.env.push_back("GREETING=hello");
  auto app = runtime_->exec(c.id, as_app);
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_EQ(app->stdout_text, "1000\n1000\n/tmp\nhello\n") << app->stderr_text;

  auto failed = runtime_->exec(c.id, exec_process({"sh", "-c", "exit 5"}));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->exit_code, 5);

  auto missing = runtime_->exec(c.id, exec_process({"no-such-binary"}));
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(missing->exit_code, 127);
  EXPECT_THAT(missing->stderr_text, HasSubstr("executable file not found"));

  auto not_executable = runtime_->exec(c.id, exec_process({"/etc/passwd"}));
  ASSERT_TRUE(not_executable) << not_executable.error().message;
  EXPECT_EQ(not_executable->exit_code, 126) << not_executable->stderr_text;

  std::string streamed_out;
  std::string streamed_err;
  auto streamed = runtime_->exec_streaming(
      c.id, exec_process({"sh", "-c", "for i in 1 2 3; do echo s$i; done; echo e >&2; exit 2"}),
      {.on_stdout = [&](std::string_view bytes) { streamed_out.append(bytes); },
       .on_stderr = [&](std::string_view bytes) { streamed_err.append(bytes); }});
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_EQ(streamed->exit_code, 2);
  EXPECT_EQ(streamed_out, "s1\ns2\ns3\n");
  EXPECT_EQ(streamed_err, "e\n");
  EXPECT_TRUE(streamed->stdout_text.empty());

  // The container was not disturbed by any of it.
  auto state = runtime_->state(c.id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, OciStatus::kRunning);
  EXPECT_FALSE(fs::exists(c.dir / kExitFile));

  auto no_container = runtime_->exec("zlayer-no-such-container", exec_process({"true"}));
  ASSERT_FALSE(no_container);
  EXPECT_EQ(no_container.error().code, Errc::kNotFound) << no_container.error().message;
}

INSTANTIATE_TEST_SUITE_P(Runtimes, MonitorTest, ::testing::Values("crun", "runc"),
                         [](const auto& test_info) { return test_info.param; });

TEST(ExitFile, RoundTripsAndRejectsGarbage) {
  testing::TempDir dir;
  ExitRecord record{.exit_code = 137,
                    .signal = 9,
                    .signal_name = "SIGKILL",
                    .oom_killed = true,
                    .finished_at = Clock::WallTime(std::chrono::seconds(1'700'000'000) + 5ns),
                    .pid = 42};
  ASSERT_TRUE(atomic_write_file(dir.path() / "exit.json", exit_record_json(record)));
  auto read = read_exit_file(dir.path() / "exit.json");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->exit_code, 137);
  EXPECT_EQ(read->signal, 9);
  EXPECT_EQ(read->signal_name, "SIGKILL");
  EXPECT_TRUE(read->oom_killed);
  EXPECT_EQ(read->finished_at, record.finished_at);
  EXPECT_EQ(read->pid, 42);
  EXPECT_EQ(read_exit_file(dir.path() / "missing.json").error().code, Errc::kNotFound);
  ASSERT_TRUE(atomic_write_file(dir.path() / "bad.json", R"({"signal": 9})"));
  auto bad = read_exit_file(dir.path() / "bad.json");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("exit_code"));
}

TEST(OomCounter, ReadsV1AndV2Files) {
  testing::TempDir dir;
  ASSERT_TRUE(make_dirs(dir.path() / "v1"));
  ASSERT_TRUE(make_dirs(dir.path() / "v2"));
  ASSERT_TRUE(atomic_write_file(dir.path() / "v1/memory.oom_control",
                                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"));
  ASSERT_TRUE(atomic_write_file(dir.path() / "v2/memory.events",
                                "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n"));
  EXPECT_EQ(read_oom_kill_count(dir.path() / "v1").value(), 2u);
  EXPECT_EQ(read_oom_kill_count(dir.path() / "v2").value(), 1u);
  EXPECT_EQ(read_oom_kill_count(dir.path()).error().code, Errc::kNotFound);
}

TEST(MonitorBinary, OverrideAndBuildPath) {
  auto found = locate_monitor_binary();
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->filename(), "zlayer-monitor");
  ::setenv("ZLAYER_MONITOR_BIN", "/nonexistent/zlayer-monitor", 1);
  auto missing = locate_monitor_binary();
  ::unsetenv("ZLAYER_MONITOR_BIN");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

TEST(MemoryCgroup, OfThisProcess) {
  auto dir = memory_cgroup_dir(::getpid());
  if (!dir) GTEST_SKIP() << dir.error().message;
  EXPECT_TRUE(fs::is_directory(*dir)) << dir->string();
  EXPECT_TRUE(read_oom_kill_count(*dir)) << dir->string();
}

}  // namespace
}  // namespace zlayer::runtime::linux
