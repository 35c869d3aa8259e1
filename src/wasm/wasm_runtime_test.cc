// The wasm backend with inline-WAT modules written to files: lifecycle (create/start/wait/remove),
// exit codes, output in the CRI log store, traps and budgets as failed{reason}, stop of a spinning
// module, the time limit of run-to-completion work, preopens from storage, the module cache (no
// second decode), 100 instances at once, state seen by a second runtime, and the unsupported
// operations. No timing assertions: stops only have to happen.
#include "wasm/wasm_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "core/fs.h"
#include "support/temp_dir.h"

namespace zlayer::wasm {
namespace {

using runtime::ContainerConfig;
using runtime::ContainerState;
using Phase = ContainerState::Phase;
using namespace std::chrono_literals;

// Prints "hello wasm\n" and the first argument's length is not needed: fd_write then proc_exit(7).
constexpr std::string_view kHello = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello wasm\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 11))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7))))
)";

constexpr std::string_view kSpin = R"((module
  (func (export "_start") (loop $l (br $l))))
)";

// Sleeps an hour in poll_oneoff (one monotonic clock subscription), again and again: an idle
// service. Subscription: userdata @0, tag @8 (0 = clock), clock id @16, timeout @24 (ns).
constexpr std::string_view kSleep = R"((module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (loop $l
      (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $l))))
)";

// Writes "ready\n" to stdout and "note\n" to stderr, then sleeps like kSleep.
constexpr std::string_view kReadyThenSleep = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "ready\n")
  (data (i32.const 272) "note\n")
  (func (export "_start")
    (i32.store (i32.const 200) (i32.const 256))
    (i32.store (i32.const 204) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 208)))
    (i32.store (i32.const 200) (i32.const 272))
    (i32.store (i32.const 204) (i32.const 5))
    (drop (call $fd_write (i32.const 2) (i32.const 200) (i32.const 1) (i32.const 208)))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (loop $l
      (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
      (br $l))))
)";

constexpr std::string_view kTrap = R"((module
  (func (export "_start") unreachable))
)";

constexpr std::string_view kNoEntry = R"((module
  (func (export "helper") (result i32) (i32.const 1)))
)";

// A reactor: _initialize stores 5, main returns it (+ nothing else): exit status 5.
constexpr std::string_view kReactor = R"((module
  (global $g (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $g (i32.const 5)))
  (func (export "main") (result i32) (global.get $g)))
)";

// memory.grow by 16 pages (1 MiB); exits 1 when refused (-1), 0 when granted.
constexpr std::string_view kGrow = R"((module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $proc_exit (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))))
)";

// Creates "out.txt" in the first preopen (fd 3) with path_open (rights fd_read | fd_write);
// exits with path_open's errno.
constexpr std::string_view kCreateFile = R"((module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "out.txt")
  (func (export "_start")
    (call $proc_exit
      (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 7)
                       (i32.const 1) (i64.const 66) (i64.const 0) (i32.const 0)
                       (i32.const 128)))))
)";

class WasmRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { rt_ = open_runtime(); }

  std::unique_ptr<WasmRuntime> open_runtime(std::chrono::milliseconds limit = 0ms) {
    runtime::WasmConfig config{.paths = dir_.paths()};
    config.max_execution_time = limit;
    auto rt = WasmRuntime::open(config, nullptr);
    EXPECT_TRUE(rt.has_value()) << (rt ? "" : rt.error().message);
    return rt ? std::move(*rt) : nullptr;
  }

  std::string module_file(std::string_view name, std::string_view wat) {
    auto path = dir_.path() / name;
    EXPECT_TRUE(atomic_write_file(path, wat));
    return path.string();
  }

  ContainerConfig config_for(std::string_view name, std::string_view wat) {
    ContainerConfig config;
    config.image_ref = module_file(name, wat);
    return config;
  }

  std::string logs_of(WasmRuntime& rt, const ContainerId& id) {
    std::string text;
    auto read = rt.container_logs(id, {}, [&](const runtime::LogEntry& e) -> Status {
      text += (e.is_stderr ? "E:" : "O:") + e.text + "\n";
      return {};
    });
    EXPECT_TRUE(read) << (read ? "" : read.error().message);
    return text;
  }

  testing::TempDir dir_;
  std::unique_ptr<WasmRuntime> rt_;
};

TEST_F(WasmRuntimeTest, RunsAModuleToItsExitCodeAndLogsItsOutput) {
  ContainerId id{"hello", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("hello.wat", kHello)));
  auto created = rt_->container_state(id);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->phase, Phase::kCreated);
  ASSERT_TRUE(rt_->start_container(id));
  auto exit = rt_->wait_container(id);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 7);
  EXPECT_EQ(logs_of(*rt_, id), "O:hello wasm\n");
  auto state = rt_->container_state(id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kExited);
  EXPECT_EQ(state->exit->exit_code, 7);

  // Another runtime (as another process would) sees the row.
  auto other = open_runtime();
  auto seen = other->container_state(id);
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(seen->phase, Phase::kExited);
  EXPECT_EQ(seen->exit->exit_code, 7);
  EXPECT_EQ(logs_of(*other, id), "O:hello wasm\n");
  auto ids = other->list_containers();
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ(ids->front(), id);

  ASSERT_TRUE(rt_->remove_container(id));
  EXPECT_FALSE(std::filesystem::exists(rt_->log_path(id).parent_path()));
  EXPECT_EQ(rt_->container_state(id).error().code, Errc::kNotFound);
}

TEST_F(WasmRuntimeTest, AModuleWithoutStartOrMainIsAnErrorAtCreateAndLeavesNothing) {
  ContainerId id{"noentry", 1};
  auto created = rt_->create_container(id, config_for("noentry.wat", kNoEntry));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::kInvalidArgument);
  EXPECT_NE(created.error().message.find("neither _start"), std::string::npos)
      << created.error().message;
  EXPECT_FALSE(std::filesystem::exists(rt_->log_path(id).parent_path()));
  EXPECT_EQ(rt_->container_state(id).error().code, Errc::kNotFound);
  // A missing file and an invalid module are errors too.
  ContainerConfig missing;
  missing.image_ref = (dir_.path() / "missing.wasm").string();
  EXPECT_EQ(rt_->create_container(id, missing).error().code, Errc::kNotFound);
  auto invalid = rt_->create_container(id, config_for("bad.wat", "(module (func (export"));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code, Errc::kInvalidArgument);
}

TEST_F(WasmRuntimeTest, ReactorIsInitialisedThenMainReturnsItsStatus) {
  ContainerId id{"reactor", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("reactor.wat", kReactor)));
  ASSERT_TRUE(rt_->start_container(id));
  auto exit = rt_->wait_container(id);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 5);
}

TEST_F(WasmRuntimeTest, ATrapIsFailedWithItsReason) {
  ContainerId id{"trap", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("trap.wat", kTrap)));
  ASSERT_TRUE(rt_->start_container(id));
  EXPECT_FALSE(rt_->wait_container(id));
  auto state = rt_->container_state(id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kFailed);
  EXPECT_EQ(state->reason.rfind("trap: ", 0), 0u) << state->reason;
  auto other = open_runtime();
  auto seen = other->container_state(id);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->phase, Phase::kFailed);
  EXPECT_EQ(seen->reason, state->reason);
}

TEST_F(WasmRuntimeTest, StopEndsASpinningModuleAndStatsCountItsWork) {
  ContainerId id{"spin", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("spin.wat", kSpin)));
  ASSERT_TRUE(rt_->start_container(id));
  auto state = rt_->container_state(id);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kRunning);
  // Spin until the counters move (bounded, not timed).
  std::uint64_t instructions = 0;
  for (int i = 0; i < 2000 && instructions == 0; ++i) {
    auto stats = rt_->container_stats(id);
    ASSERT_TRUE(stats) << stats.error().message;
    instructions = stats->instructions;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GT(instructions, 0u);
  auto other = open_runtime();
  EXPECT_EQ(other->container_state(id)->phase, Phase::kRunning);
  EXPECT_EQ(other->stop_container(id, 1s).error().code, Errc::kFailedPrecondition);
  ASSERT_TRUE(rt_->stop_container(id, 10s));
  auto exit = rt_->wait_container(id);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_EQ(exit->exit_code, 143);
  EXPECT_EQ(other->container_state(id)->phase, Phase::kExited);
}

TEST_F(WasmRuntimeTest, MaxExecutionTimeBoundsRunToCompletionWorkOnly) {
  auto limited = open_runtime(200ms);
  ContainerId job{"job", 1};
  auto config = config_for("spin.wat", kSpin);
  config.wasm.run_to_completion = true;
  ASSERT_TRUE(limited->create_container(job, config));
  ASSERT_TRUE(limited->start_container(job));
  EXPECT_FALSE(limited->wait_container(job));
  auto state = limited->container_state(job);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kFailed);
  EXPECT_NE(state->reason.find("max execution time"), std::string::npos) << state->reason;

  // A service of the same runtime is not bounded: still running after the job's limit.
  ContainerId service{"service", 1};
  config.wasm.run_to_completion = false;
  ASSERT_TRUE(limited->create_container(service, config));
  ASSERT_TRUE(limited->start_container(service));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(limited->container_state(service)->phase, Phase::kRunning);
  ASSERT_TRUE(limited->kill_container(service, SIGKILL));
  EXPECT_EQ(limited->wait_container(service)->exit_code, 137);
}

TEST_F(WasmRuntimeTest, FuelAndMemoryCapsComeFromTheConfig) {
  ContainerId fuel{"fuel", 1};
  auto config = config_for("spin.wat", kSpin);
  config.wasm.max_fuel = 100000;
  ASSERT_TRUE(rt_->create_container(fuel, config));
  ASSERT_TRUE(rt_->start_container(fuel));
  EXPECT_FALSE(rt_->wait_container(fuel));
  EXPECT_NE(rt_->container_state(fuel)->reason.find("max_fuel"), std::string::npos);

  // resources.memory caps growth unless wasm.max_memory says otherwise.
  ContainerId capped{"capped", 1};
  auto grow = config_for("grow.wat", kGrow);
  grow.resources.memory_bytes = 512 * 1024;
  ASSERT_TRUE(rt_->create_container(capped, grow));
  ASSERT_TRUE(rt_->start_container(capped));
  EXPECT_EQ(rt_->wait_container(capped)->exit_code, 1);
  EXPECT_EQ(rt_->container_stats(capped)->memory_limit_bytes, 512u * 1024);

  ContainerId roomy{"roomy", 1};
  grow.wasm.max_memory_bytes = 4u << 20;
  ASSERT_TRUE(rt_->create_container(roomy, grow));
  ASSERT_TRUE(rt_->start_container(roomy));
  EXPECT_EQ(rt_->wait_container(roomy)->exit_code, 0);
  EXPECT_EQ(rt_->container_stats(roomy)->memory_bytes, 17u * 65536);
}

TEST_F(WasmRuntimeTest, StorageBecomesPreopensAndReadOnlyIsHonoured) {
  auto data = dir_.path() / "data";
  ASSERT_TRUE(make_dirs(data));
  ContainerId rw{"rw", 1};
  auto config = config_for("create.wat", kCreateFile);
  config.storage.push_back(runtime::BindMount{data.string(), "/data", false});
  ASSERT_TRUE(rt_->create_container(rw, config));
  ASSERT_TRUE(rt_->start_container(rw));
  EXPECT_EQ(rt_->wait_container(rw)->exit_code, 0);
  EXPECT_TRUE(std::filesystem::exists(data / "out.txt"));

  std::filesystem::remove(data / "out.txt");
  ContainerId ro{"ro", 1};
  config.storage.clear();
  config.wasm.preopens.push_back(runtime::WasmPreopen{data.string(), "/data", true});
  ASSERT_TRUE(rt_->create_container(ro, config));
  ASSERT_TRUE(rt_->start_container(ro));
  auto exit = rt_->wait_container(ro);
  ASSERT_TRUE(exit);
  EXPECT_NE(exit->exit_code, 0);  // ENOTCAPABLE / EROFS
  EXPECT_FALSE(std::filesystem::exists(data / "out.txt"));
}

TEST_F(WasmRuntimeTest, ASecondCreateOfTheSameModuleDoesNotDecodeItAgain) {
  auto config = config_for("hello.wat", kHello);
  for (int replica = 1; replica <= 3; ++replica) {
    ASSERT_TRUE(rt_->create_container({"cached", static_cast<std::uint32_t>(replica)}, config));
  }
  EXPECT_EQ(rt_->modules().loads(), 1u);
  // An edited file is decoded again (artifacts are content-addressed: wasm_test covers them).
  ASSERT_TRUE(atomic_write_file(config.image_ref, std::string(kHello) + "\n"));
  ASSERT_TRUE(rt_->create_container({"cached", 4}, config));
  EXPECT_EQ(rt_->modules().loads(), 2u);
}

TEST_F(WasmRuntimeTest, HundredInstancesRunAtOnce) {
  auto config = config_for("sleep.wat", kSleep);
  std::vector<ContainerId> ids;
  for (std::uint32_t i = 1; i <= 100; ++i) {
    ids.push_back({"many", i});
    ASSERT_TRUE(rt_->create_container(ids.back(), config));
    ASSERT_TRUE(rt_->start_container(ids.back()));
  }
  for (const auto& id : ids) EXPECT_EQ(rt_->container_state(id)->phase, Phase::kRunning);
  auto listed = open_runtime()->list_containers();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 100u);
  for (const auto& id : ids) ASSERT_TRUE(rt_->stop_container(id, 10s));
  for (const auto& id : ids) EXPECT_EQ(rt_->wait_container(id)->exit_code, 143);
  EXPECT_EQ(rt_->modules().loads(), 1u);
}

TEST_F(WasmRuntimeTest, ExecPauseAndPidAreUnsupportedWithAReason) {
  ContainerId id{"hello", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("hello.wat", kHello)));
  auto exec = rt_->exec(id, {});
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().code, Errc::kUnsupported);
  EXPECT_NE(exec.error().message.find("no process model"), std::string::npos);
  EXPECT_EQ(rt_->pause_container(id).error().code, Errc::kUnsupported);
  EXPECT_EQ(rt_->container_pid(id).error().code, Errc::kUnsupported);
  EXPECT_EQ(rt_->container_ip(id).error().code, Errc::kUnsupported);
  // Stopping a created instance ends it without running it.
  ASSERT_TRUE(rt_->stop_container(id, 1s));
  EXPECT_EQ(rt_->wait_container(id)->exit_code, 143);
  EXPECT_EQ(rt_->create_container(id, config_for("hello.wat", kHello)).error().code,
            Errc::kAlreadyExists);
}

TEST_F(WasmRuntimeTest, LogsAreReadableWhileTheModuleRunsAndFollowEndsWithIt) {
  ContainerId id{"chatty", 1};
  ASSERT_TRUE(rt_->create_container(id, config_for("ready.wat", kReadyThenSleep)));
  ASSERT_TRUE(rt_->start_container(id));
  auto other = open_runtime();  // as `zlayer-agent logs` in another process
  std::string seen;
  for (int i = 0; i < 2000 && seen.find("E:note") == std::string::npos; ++i) {
    seen = logs_of(*other, id);
    if (seen.find("E:note") == std::string::npos) std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(seen, "O:ready\nE:note\n");
  EXPECT_EQ(rt_->container_state(id)->phase, Phase::kRunning);

  // A follower started now gets both lines and returns once the module has been stopped.
  std::string followed;
  std::thread follower([&] {
    runtime::LogOptions options;
    options.follow = true;
    options.streams = runtime::LogStreams::kStdout;
    auto read = other->container_logs(id, options, [&](const runtime::LogEntry& e) -> Status {
      followed += e.text + "\n";
      return {};
    });
    EXPECT_TRUE(read) << (read ? "" : read.error().message);
  });
  ASSERT_TRUE(rt_->stop_container(id, 10s));
  follower.join();
  EXPECT_EQ(followed, "ready\n");
}

TEST_F(WasmRuntimeTest, ClosingTheRuntimeEndsItsInstancesAsKilled) {
  auto rt = open_runtime();
  ASSERT_TRUE(rt->create_container({"left", 1}, config_for("spin.wat", kSpin)));
  ASSERT_TRUE(rt->start_container({"left", 1}));
  ASSERT_TRUE(rt->create_container({"idle", 1}, config_for("hello.wat", kHello)));
  rt.reset();
  for (const char* name : {"left", "idle"}) {
    auto state = rt_->container_state({name, 1});
    ASSERT_TRUE(state) << name;
    EXPECT_EQ(state->phase, Phase::kExited) << name;
    EXPECT_EQ(state->exit->exit_code, 137) << name;
  }
}

}  // namespace
}  // namespace zlayer::wasm
