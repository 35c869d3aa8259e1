// Real WASI programs: C sources in testdata/ compiled at test time with
// `clang --target=wasm32-wasi -O2` (Debian's clang + wasi-libc), run by the wabt engine with a
// WasiContext: args, environ, stdio, exit status (also from deep inside nested calls), file I/O
// and readdir in a preopen, a read-only preopen, escape attempts, clocks, sleep and random.
// A missing toolchain fails the suite with the packages to install (CI installs them).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "core/fs.h"
#include "core/subprocess.h"
#include "support/temp_dir.h"
#include "wasm/engine/engine.h"
#include "wasm/wasi/wasi.h"

namespace zlayer::wasm::wasi {
namespace {

namespace fs = std::filesystem;

// Compiles testdata/<name>.c once per test binary; the .wasm bytes, or a failure.
class Programs {
 public:
  static Programs& instance() {
    static Programs programs;
    return programs;
  }
  Result<std::vector<std::uint8_t>> wasm(const std::string& name) {
    if (!clang_) {
      return errorf(Errc::kFailedPrecondition,
                    "clang not found ({}); install clang lld wasi-libc libclang-rt-14-dev-wasm32 "
                    "(scripts/install-deps.sh)",
                    clang_.error().message);
    }
    const fs::path out = dir_.path() / (name + ".wasm");
    if (!fs::exists(out)) {
      const std::string source = std::string(ZLAYER_WASI_TESTDATA) + "/" + name + ".c";
      ZLAYER_TRY(result, run_subprocess({*clang_, "--target=wasm32-wasi", "-O2", "-Wall", "-Werror",
                                         source, "-o", out.string()},
                                        {}));
      if (result.exit_code != 0) {
        return errorf(Errc::kFailedPrecondition, "clang --target=wasm32-wasi {} failed: {}{}",
                      source, result.out, result.err);
      }
    }
    ZLAYER_TRY(bytes, read_file(out));
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  }

 private:
  Programs() : clang_(find_program("clang")) {}
  Result<std::string> clang_;
  testing::TempDir dir_{"zlayer-wasi-programs-"};
};

struct ProgramRun {
  RunOutcome outcome;
  std::string out;
  std::string err;
};

class WasiPrograms : public ::testing::Test {
 protected:
  // Runs testdata/<name>.c's _start with `config` (stdout/stderr captured).
  ProgramRun run(const std::string& name, WasiConfig config) {
    auto bytes = Programs::instance().wasm(name);
    if (!bytes) {
      ADD_FAILURE() << bytes.error().message;
      return {};
    }
    return run_module(*bytes, name + ".wasm", std::move(config));
  }
  ProgramRun run_wat(std::string_view wat, WasiConfig config = {}) {
    return run_module({wat.begin(), wat.end()}, "test.wat", std::move(config));
  }
  ProgramRun run_module(const std::vector<std::uint8_t>& bytes, const std::string& label,
                        WasiConfig config) {
    ProgramRun r;
    LoadOptions options;
    options.name = label;
    auto module = load_module(bytes, options);
    if (!module) {
      ADD_FAILURE() << module.error().message;
      return r;
    }
    config.stdout_sink = [&r](std::string_view b) { r.out += b; };
    config.stderr_sink = [&r](std::string_view b) { r.err += b; };
    auto context = WasiContext::create(std::move(config));
    if (!context) {
      ADD_FAILURE() << context.error().message;
      return r;
    }
    auto instance = instantiate(*module, (*context)->imports(), InstanceLimits{});
    if (!instance) {
      ADD_FAILURE() << instance.error().message;
      return r;
    }
    auto outcome = (*instance)->run("_start", {});
    if (!outcome) {
      ADD_FAILURE() << outcome.error().message;
      return r;
    }
    r.outcome = *outcome;
    return r;
  }

  testing::TempDir tmp_{"zlayer-wasi-run-"};
};

TEST_F(WasiPrograms, ArgsEnvStdioAndExitCode) {
  WasiConfig config;
  config.args = {"hello.wasm", "0", "second arg"};
  config.env = {"GREETING=hi there", "OTHER=1"};
  config.stdin_bytes = "from stdin\n";
  ProgramRun r = run("hello", std::move(config));
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kReturned) << r.outcome.message;
  EXPECT_EQ(r.out,
            "argc=3\nargv[0]=hello.wasm\nargv[1]=0\nargv[2]=second arg\nGREETING=hi there\n"
            "environ=2\nstdin=FROM STDIN\n");
  EXPECT_EQ(r.err, "to stderr\n");
}

TEST_F(WasiPrograms, ExitCodesIncludingFromNestedCalls) {
  WasiConfig config;
  config.args = {"hello.wasm", "3"};
  ProgramRun r = run("hello", config);
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kExited) << r.outcome.message;
  EXPECT_EQ(r.outcome.exit_code, 3U);
  EXPECT_NE(r.out.find("stdin=(empty)"), std::string::npos);

  config.args = {"hello.wasm", "42", "deep"};
  r = run("hello", config);
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kExited) << r.outcome.message;
  EXPECT_EQ(r.outcome.exit_code, 42U);
  EXPECT_NE(r.out.find("argv[2]=deep"), std::string::npos);
}

TEST_F(WasiPrograms, FilesDirectoriesAndEscapeAttempts) {
  const fs::path data = tmp_.path() / "data";
  const fs::path ro = tmp_.path() / "ro";
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(data);
  fs::create_directories(ro);
  fs::create_directories(outside);
  std::ofstream(outside / "secret") << "host secret";
  std::ofstream(ro / "given.txt") << "given by the host";
  fs::create_symlink(outside, data / "abs-link");
  fs::create_symlink("../outside", data / "rel-link");
  fs::create_symlink("/", data / "root-link");

  WasiConfig config;
  config.args = {"files.wasm"};
  config.preopens = {{data, "/data", false}, {ro, "/ro", true}};
  ProgramRun r = run("files", std::move(config));
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kReturned)
      << r.outcome.message << " exit " << r.outcome.exit_code << "\n"
      << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("readdir: a c link\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("given=given by the host\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("failures=0"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("host secret"), std::string::npos) << r.out;

  // What the program left behind, seen from the host.
  std::string notes;
  ASSERT_TRUE(fs::exists(data / "notes.txt"));
  auto content = read_file(data / "notes.txt");
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "line one\nline two\nline three\n");
  EXPECT_FALSE(fs::exists(data / "sub"));
  EXPECT_FALSE(fs::exists(data / "evil"));
  EXPECT_FALSE(fs::exists(ro / "new.txt"));
  EXPECT_FALSE(fs::exists(ro / "dir"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "escaped"));
  auto given = read_file(ro / "given.txt");
  ASSERT_TRUE(given);
  EXPECT_EQ(*given, "given by the host");
}

TEST_F(WasiPrograms, ClocksSleepAndRandom) {
  WasiConfig config;
  config.args = {"clocks.wasm"};
  ProgramRun r = run("clocks", std::move(config));
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kReturned) << r.outcome.message << "\n" << r.out;
  EXPECT_EQ(r.out,
            "ok realtime\nok slept at least 20ms\nok process cputime\nok monotonic resolution\n"
            "ok random\nfailures=0\n");
}

TEST_F(WasiPrograms, StopEndsAGuestSleepingInPollOneoff) {
  auto bytes = Programs::instance().wasm("sleeper");
  ASSERT_TRUE(bytes) << bytes.error().message;
  auto module = load_module(*bytes, {});
  ASSERT_TRUE(module) << module.error().message;
  std::promise<void> printed;
  std::atomic<bool> once{false};
  WasiConfig config;
  config.args = {"sleeper.wasm"};
  config.stdout_sink = [&](std::string_view) {
    if (!once.exchange(true)) printed.set_value();
  };
  auto context = WasiContext::create(std::move(config));
  ASSERT_TRUE(context);
  auto instance = instantiate(*module, (*context)->imports(), InstanceLimits{});
  ASSERT_TRUE(instance) << instance.error().message;
  auto run = std::async(std::launch::async, [&] { return (*instance)->run("_start", {}); });
  printed.get_future().wait();
  // What the backend's stop does: stop the instance and wake its blocking WASI call.
  (*instance)->request_stop();
  (*context)->interrupt();
  // No timing assertion: it must end at all (the sleep is an hour); 60 s is a generous bound.
  ASSERT_EQ(run.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  auto outcome = run.get();
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->kind, RunOutcome::Kind::kStopped) << outcome->message;
}

TEST_F(WasiPrograms, WasiUnstableModuleNameIsAccepted) {
  // A hand-written snapshot-0 module: writes "old\n" with wasi_unstable.fd_write.
  const std::string wat = R"((module
    (import "wasi_unstable" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "old\n")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 16))
      (i32.store (i32.const 4) (i32.const 4))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))";
  ProgramRun r = run_wat(wat);
  EXPECT_EQ(r.outcome.kind, RunOutcome::Kind::kReturned) << r.outcome.message;
  EXPECT_EQ(r.out, "old\n");
}

TEST_F(WasiPrograms, OutOfBoundsIovecIsEfaultNotACrash) {
  const std::string wat = R"((module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory 1)
    (func (export "_start") (result i32)
      (i32.store (i32.const 0) (i32.const 65530))
      (i32.store (i32.const 4) (i32.const 100))
      (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))";
  ProgramRun r = run_wat(wat);
  ASSERT_EQ(r.outcome.kind, RunOutcome::Kind::kReturned) << r.outcome.message;
  ASSERT_EQ(r.outcome.results.size(), 1U);
  EXPECT_EQ(r.outcome.results[0], 21U);  // errno.fault
}

}  // namespace
}  // namespace zlayer::wasm::wasi
