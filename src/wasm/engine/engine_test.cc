// The wabt engine against inline WAT modules: results, traps, proc_exit from deep inside the
// guest, stop from another thread, time and instruction limits, the memory cap, deep recursion,
// import resolution, malformed input (truncated and corrupted binaries) and 100 concurrent
// instances. No timing assertions: stops are asserted to happen within a generous bound.
#include "wasm/engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace zlayer::wasm {
namespace {

using Kind = RunOutcome::Kind;
using namespace std::chrono_literals;

// Every test runs once per preemption mode (engine.h): sliced and instrumented.
Preemption g_mode = Preemption::kSliced;

class WasmEngine : public ::testing::TestWithParam<Preemption> {
 protected:
  void SetUp() override { g_mode = GetParam(); }
};

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

std::shared_ptr<const Module> load(std::string_view wat, std::uint64_t check_interval = 0) {
  LoadOptions options;
  options.name = "test.wat";
  options.check_interval = check_interval;
  options.preemption = g_mode;
  auto module = load_module(bytes_of(wat), options);
  EXPECT_TRUE(module.has_value()) << (module ? "" : module.error().message);
  return module ? *module : nullptr;
}

std::unique_ptr<Instance> make(std::string_view wat, const InstanceLimits& limits = {},
                               const std::vector<HostImport>& host = {}) {
  auto module = load(wat);
  if (!module) return nullptr;
  auto instance = instantiate(module, host, limits);
  EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().message);
  return instance ? std::move(*instance) : nullptr;
}

RunOutcome run(Instance& instance, const std::string& name, const std::vector<RawValue>& args = {}) {
  auto outcome = instance.run(name, args);
  EXPECT_TRUE(outcome.has_value()) << (outcome ? "" : outcome.error().message);
  return outcome ? *outcome : RunOutcome{};
}

HostImport proc_exit_import() {
  return HostImport{"wasi_snapshot_preview1", "proc_exit", FuncSig{{ValType::kI32}, {}},
                    [](GuestMemory&, const RawValue* args, RawValue*) -> std::optional<HostAbort> {
                      return HostAbort{HostAbort::Kind::kExit, static_cast<std::uint32_t>(args[0]), ""};
                    }};
}

constexpr std::string_view kSpin = R"((module
  (func (export "spin") (loop $l (br $l))))
)";

TEST_P(WasmEngine, ReturnsResultsOfEveryNumericType) {
  auto instance = make(R"((module
    (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
    (func (export "mul64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
    (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
    (func (export "pair") (result i32 f32) (i32.const -1) (f32.const 1.5))))");
  ASSERT_NE(instance, nullptr);
  auto add = run(*instance, "add", {2, 3});
  EXPECT_EQ(add.kind, Kind::kReturned);
  ASSERT_EQ(add.results.size(), 1u);
  EXPECT_EQ(add.results[0], 5u);
  EXPECT_EQ(run(*instance, "mul64", {1ull << 33, 3}).results.at(0), 3ull << 33);
  double in = 5.0, out = 0;
  RawValue raw;
  std::memcpy(&raw, &in, sizeof raw);
  auto half = run(*instance, "half", {raw});
  std::memcpy(&out, &half.results.at(0), sizeof out);
  EXPECT_EQ(out, 2.5);
  auto pair = run(*instance, "pair");
  ASSERT_EQ(pair.results.size(), 2u);
  EXPECT_EQ(pair.results[0], 0xffffffffu);  // i32 zero-extended
  float f;
  auto bits = static_cast<std::uint32_t>(pair.results[1]);
  std::memcpy(&f, &bits, sizeof f);
  EXPECT_EQ(f, 1.5f);
}

TEST_P(WasmEngine, RunErrorsForUnknownExportAndWrongArguments) {
  auto instance = make(R"((module (func (export "f") (param i32))))");
  ASSERT_NE(instance, nullptr);
  auto missing = instance->run("nope", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  auto wrong = instance->run("f", {});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, Errc::kInvalidArgument);
}

TEST_P(WasmEngine, TrapsCarryWabtsMessage) {
  auto instance = make(R"((module (memory 1)
    (func (export "unreachable") unreachable)
    (func (export "div") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
    (func (export "oob") (result i32) (i32.load (i32.const 65535)))))");
  ASSERT_NE(instance, nullptr);
  auto u = run(*instance, "unreachable");
  EXPECT_EQ(u.kind, Kind::kTrapped);
  EXPECT_NE(u.message.find("unreachable"), std::string::npos) << u.message;
  auto d = run(*instance, "div", {0});
  EXPECT_EQ(d.kind, Kind::kTrapped);
  EXPECT_NE(d.message.find("divide by zero"), std::string::npos) << d.message;
  auto o = run(*instance, "oob");
  EXPECT_EQ(o.kind, Kind::kTrapped);
  EXPECT_NE(o.message.find("out of bounds"), std::string::npos) << o.message;
  // The instance stays usable after a trap.
  EXPECT_EQ(run(*instance, "div", {1}).results.at(0), 1u);
}

TEST_P(WasmEngine, ProcExitFromNestedCallsEndsTheRunWithItsCode) {
  auto instance = make(R"((module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (func $c (param i32) (local.get 0) (call $exit) unreachable)
    (func $b (param i32) (loop $l (call $c (local.get 0)) (br $l)))
    (func $a (param i32) (call $b (local.get 0)))
    (func (export "_start") (call $a (i32.const 7)) unreachable)))",
                       {}, {proc_exit_import()});
  ASSERT_NE(instance, nullptr);
  auto out = run(*instance, "_start");
  EXPECT_EQ(out.kind, Kind::kExited);
  EXPECT_EQ(out.exit_code, 7u);
}

TEST_P(WasmEngine, HostFunctionsSeeGuestMemoryBoundsCheckedAndMayTrap) {
  std::string seen;
  bool oob_rejected = false;
  HostImport print{"env", "print", FuncSig{{ValType::kI32, ValType::kI32}, {ValType::kI32}},
                   [&](GuestMemory& memory, const RawValue* args, RawValue* results) -> std::optional<HostAbort> {
                     const std::uint8_t* p = memory.range(args[0], args[1]);
                     oob_rejected = memory.range(memory.size() - 1, 2) == nullptr;
                     if (p == nullptr) return HostAbort{HostAbort::Kind::kTrap, 0, "bad pointer"};
                     seen.assign(reinterpret_cast<const char*>(p), args[1]);
                     results[0] = args[1];
                     return std::nullopt;
                   }};
  auto instance = make(R"((module
    (import "env" "print" (func $print (param i32 i32) (result i32)))
    (memory 1) (data (i32.const 16) "hello")
    (func (export "ok") (result i32) (call $print (i32.const 16) (i32.const 5)))
    (func (export "bad") (result i32) (call $print (i32.const 65534) (i32.const 5)))))",
                       {}, {print});
  ASSERT_NE(instance, nullptr);
  auto ok = run(*instance, "ok");
  EXPECT_EQ(ok.kind, Kind::kReturned);
  EXPECT_EQ(ok.results.at(0), 5u);
  EXPECT_EQ(seen, "hello");
  EXPECT_TRUE(oob_rejected);
  auto bad = run(*instance, "bad");
  EXPECT_EQ(bad.kind, Kind::kTrapped);
  EXPECT_EQ(bad.message, "bad pointer");
}

TEST_P(WasmEngine, RequestStopFromAnotherThreadEndsATightLoop) {
  auto instance = make(kSpin);
  ASSERT_NE(instance, nullptr);
  auto result = std::async(std::launch::async, [&] { return instance->run("spin", {}); });
  std::this_thread::sleep_for(50ms);
  instance->request_stop();
  ASSERT_EQ(result.wait_for(60s), std::future_status::ready) << "run() did not return after request_stop";
  auto out = result.get();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, Kind::kStopped);
  EXPECT_GT(instance->stats().instructions, 0u);
  EXPECT_GT(instance->stats().cpu_time.count(), 0);
}

TEST_P(WasmEngine, StopBeforeRunEndsTheNextRunOnly) {
  auto instance = make(R"((module (func (export "f") (result i32) (i32.const 1))))");
  ASSERT_NE(instance, nullptr);
  instance->request_stop();
  EXPECT_EQ(run(*instance, "f").kind, Kind::kStopped);
  EXPECT_EQ(run(*instance, "f").kind, Kind::kReturned);
}

TEST_P(WasmEngine, TimeLimitEndsATightLoop) {
  InstanceLimits limits;
  limits.max_execution_time = 100ms;
  auto instance = make(kSpin, limits);
  ASSERT_NE(instance, nullptr);
  auto result = std::async(std::launch::async, [&] { return instance->run("spin", {}); });
  ASSERT_EQ(result.wait_for(60s), std::future_status::ready) << "run() ignored max_execution_time";
  auto out = result.get();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, Kind::kTimeout);
}

TEST_P(WasmEngine, InstructionBudgetEndsTheRunWithOutOfFuel) {
  constexpr std::string_view kCount = R"((module
    (func (export "count") (param i32) (result i32) (local i32)
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
        (local.set 1 (i32.add (local.get 1) (i32.const 1)))
        (br $l)))
      (local.get 1))))";
  InstanceLimits limits;
  limits.max_instructions = 1'000'000;
  auto instance = make(kCount, limits);
  ASSERT_NE(instance, nullptr);
  // 1000 iterations fit in the budget.
  auto small = run(*instance, "count", {1000});
  EXPECT_EQ(small.kind, Kind::kReturned);
  EXPECT_EQ(small.results.at(0), 1000u);
  const std::uint64_t used = instance->stats().instructions;
  EXPECT_GT(used, 1000u);
  EXPECT_LT(used, 100'000u);
  auto big = run(*instance, "count", {100'000'000});
  EXPECT_EQ(big.kind, Kind::kOutOfFuel);
  EXPECT_GE(instance->stats().instructions, 1'000'000u);
  EXPECT_LT(instance->stats().instructions, 1'000'100u);
}

TEST_P(WasmEngine, MemoryGrowPastTheCapReturnsMinusOne) {
  constexpr std::string_view kGrow = R"((module (memory 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))";
  InstanceLimits limits;
  limits.max_memory_bytes = 3 * 65536;
  auto instance = make(kGrow, limits);
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(run(*instance, "grow", {2}).results.at(0), 1u);  // old size in pages
  EXPECT_EQ(run(*instance, "grow", {1}).results.at(0), 0xffffffffu);
  EXPECT_EQ(instance->stats().memory_bytes, 3u * 65536);

  limits.max_memory_bytes = 0;
  auto module = load(kGrow);
  auto refused = instantiate(module, {}, limits);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, Errc::kResourceExhausted);
}

TEST_P(WasmEngine, DeepRecursionTrapsAndTheInstanceSurvives) {
  auto instance = make(R"((module
    (func $down (export "down") (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
        (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
    (func $forever (export "forever") (param i32) (result i32)
      (call $forever (i32.add (local.get 0) (i32.const 1))))))");
  ASSERT_NE(instance, nullptr);
  auto out = run(*instance, "forever", {0});
  EXPECT_EQ(out.kind, Kind::kTrapped);
  EXPECT_NE(out.message.find("exhausted"), std::string::npos) << out.message;
  auto fine = run(*instance, "down", {500});
  EXPECT_EQ(fine.kind, Kind::kReturned);
  EXPECT_EQ(fine.results.at(0), 500u);
}

TEST_P(WasmEngine, CallDepthLimitIsTheConfiguredOne) {
  constexpr std::string_view kDown = R"((module
    (func $down (export "down") (param i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
        (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))))";
  InstanceLimits limits;
  limits.max_call_depth = 100;
  auto shallow = make(kDown, limits);
  ASSERT_NE(shallow, nullptr);
  EXPECT_EQ(run(*shallow, "down", {90}).kind, Kind::kReturned);
  auto out = run(*shallow, "down", {150});
  EXPECT_EQ(out.kind, Kind::kTrapped);
  EXPECT_EQ(out.message, "call stack exhausted");
  // The default (10000) goes beyond wabt's own 1638 frames.
  auto deep = make(kDown);
  ASSERT_NE(deep, nullptr);
  auto fine = run(*deep, "down", {5000});
  EXPECT_EQ(fine.kind, Kind::kReturned) << fine.message;
  EXPECT_EQ(fine.results.at(0), 5000u);
}

TEST_P(WasmEngine, StartFunctionRunsAtInstantiateAndItsTrapIsAnError) {
  auto instance = make(R"((module (global $g (mut i32) (i32.const 0))
    (func $init (global.set $g (i32.const 42))) (start $init)
    (func (export "get") (result i32) (global.get $g))))");
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(run(*instance, "get").results.at(0), 42u);

  auto module = load(R"((module (func $boom unreachable) (start $boom)))");
  auto failed = instantiate(module, {}, {});
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(failed.error().message.find("unreachable"), std::string::npos) << failed.error().message;
}

TEST_P(WasmEngine, ImportsMustResolveWithTheRightSignature) {
  constexpr std::string_view kImports = R"((module
    (import "env" "foo" (func (param i32) (result i64)))
    (import "env" "bar" (func))
    (memory (export "memory") 2 10)
    (func (export "run") (param f32))))";
  auto module = load(kImports);
  ASSERT_NE(module, nullptr);
  ASSERT_EQ(module->imports().size(), 2u);
  EXPECT_EQ(module->imports()[0].name, "foo");
  EXPECT_EQ(module->imports()[0].sig.params, std::vector<ValType>{ValType::kI32});
  EXPECT_EQ(module->imports()[0].sig.results, std::vector<ValType>{ValType::kI64});
  ASSERT_EQ(module->exports().size(), 2u);
  EXPECT_EQ(module->exports()[0].kind, ExternKind::kMemory);
  EXPECT_EQ(module->exports()[1].sig.params, std::vector<ValType>{ValType::kF32});
  EXPECT_EQ(module->initial_memory_bytes(), 2u * 65536);
  EXPECT_EQ(module->declared_max_memory_bytes(), std::optional<std::uint64_t>(10u * 65536));

  auto noop = [](GuestMemory&, const RawValue*, RawValue*) -> std::optional<HostAbort> { return std::nullopt; };
  auto missing = instantiate(module, {HostImport{"env", "foo", {{ValType::kI32}, {ValType::kI64}}, noop}}, {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("unknown import env.bar"), std::string::npos)
      << missing.error().message;

  auto mistyped = instantiate(module,
                              {HostImport{"env", "foo", {{ValType::kI64}, {ValType::kI64}}, noop},
                               HostImport{"env", "bar", {}, noop}},
                              {});
  ASSERT_FALSE(mistyped.has_value());
  EXPECT_NE(mistyped.error().message.find("env.foo"), std::string::npos) << mistyped.error().message;

  auto ok = instantiate(module,
                        {HostImport{"env", "foo", {{ValType::kI32}, {ValType::kI64}}, noop},
                         HostImport{"env", "bar", {}, noop}},
                        {});
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

// A valid binary module: (type (func (result i32))), two functions; function 1 adds an i32 to an
// i64 (a type error) unless `valid` is set.
std::vector<std::uint8_t> two_function_binary(bool valid) {
  std::vector<std::uint8_t> b = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // preamble
                                 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,        // type
                                 0x03, 0x03, 0x02, 0x00, 0x00,                    // function
                                 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x01,        // export "f" = 1
                                 0x0a, 0x0e, 0x02,                                // code
                                 0x04, 0x00, 0x41, 0x00, 0x0b,                    // i32.const 0
                                 0x07, 0x00, 0x41, 0x02, 0x42, 0x03, 0x6a, 0x0b};
  if (valid) b[b.size() - 4] = 0x41;  // i64.const → i32.const: 2 + 3
  return b;
}

TEST_P(WasmEngine, BadModulesAreErrorsNamingWhatIsWrong) {
  LoadOptions options;
  options.name = "prog.wasm";
  options.preemption = g_mode;
  auto good = load_module(two_function_binary(true), options);
  ASSERT_TRUE(good.has_value()) << good.error().message;
  auto instance = instantiate(*good, {}, {});
  ASSERT_TRUE(instance.has_value());
  EXPECT_EQ(run(**instance, "f").results.at(0), 5u);

  auto typed = load_module(two_function_binary(false), options);
  ASSERT_FALSE(typed.has_value());
  EXPECT_EQ(typed.error().code, Errc::kInvalidArgument);
  EXPECT_NE(typed.error().message.find("prog.wasm: invalid module: code section, function 1"),
            std::string::npos)
      << typed.error().message;

  auto text = load_module(bytes_of("(module (func (result i32) (i64.const 1)))"), options);
  ASSERT_FALSE(text.has_value());
  EXPECT_NE(text.error().message.find("line 1"), std::string::npos) << text.error().message;

  std::vector<std::uint8_t> component = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  auto comp = load_module(component, options);
  ASSERT_FALSE(comp.has_value());
  EXPECT_NE(comp.error().message.find("component (preview 2)"), std::string::npos);

  for (const auto& garbage : {std::vector<std::uint8_t>{}, std::vector<std::uint8_t>{0x00},
                              std::vector<std::uint8_t>{0x7f, 0x45, 0x4c, 0x46, 0x02, 0x00},
                              bytes_of("(module"), bytes_of("hello world")}) {
    auto r = load_module(garbage, options);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << r.error().message;
    EXPECT_EQ(r.error().message.rfind("prog.wasm: ", 0), 0u) << r.error().message;
  }
}

TEST_P(WasmEngine, TruncatedAndCorruptedBinariesNeverCrash) {
  LoadOptions options;
  options.name = "fuzz.wasm";
  options.preemption = g_mode;
  const auto base = two_function_binary(true);
  for (std::size_t len = 0; len < base.size(); ++len) {
    auto r = load_module(std::vector<std::uint8_t>(base.begin(), base.begin() + len), options);
    // Cut at a section boundary (after the preamble or the type section) is a valid module.
    const bool boundary = len == 8 || len == 15;
    EXPECT_EQ(r.has_value(), boundary) << "truncated at " << len;
  }
  // Every byte set to a few interesting values; whatever loads must also instantiate and run.
  for (std::size_t i = 8; i < base.size(); ++i) {
    for (std::uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto bytes = base;
      bytes[i] = v;
      auto r = load_module(bytes, options);
      if (!r) continue;
      auto instance = instantiate(*r, {}, {});
      if (instance) (void)(*instance)->run("f", {});
    }
  }
}

TEST_P(WasmEngine, RandomlyMutatedBinariesAndTextNeverCrash) {
  LoadOptions options;
  options.name = "fuzz.wasm";
  options.preemption = g_mode;
  std::mt19937 rng(20261130);  // fixed seed: the same inputs every run
  const auto base = two_function_binary(true);
  for (int round = 0; round < 2000; ++round) {
    auto bytes = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = 8 + rng() % (bytes.size() - 8);
      switch (rng() % 3) {
        case 0: bytes[at] = static_cast<std::uint8_t>(rng()); break;
        case 1: bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(at)); break;
        default: bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng()));
      }
    }
    auto r = load_module(bytes, options);
    if (!r) {
      EXPECT_EQ(r.error().message.rfind("fuzz.wasm: ", 0), 0u) << r.error().message;
      continue;
    }
    InstanceLimits limits;
    limits.max_instructions = 100000;
    auto instance = instantiate(*r, {}, limits);
    if (instance) (void)(*instance)->run("f", {});
  }
  const std::string wat = R"((module (memory 1) (func (export "f") (result i32) (i32.const 1))))";
  for (int round = 0; round < 500; ++round) {
    std::string text = wat;
    text[rng() % text.size()] = static_cast<char>(' ' + rng() % 95);
    (void)load_module(bytes_of(text), options);
  }
}

TEST_P(WasmEngine, ModulesLoadConcurrently) {
  std::vector<std::thread> threads;
  std::atomic<int> loaded{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        LoadOptions options;
        options.preemption = g_mode;
        if (load_module(bytes_of(kSpin), options) && load_module(two_function_binary(true), options)) ++loaded;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(loaded.load(), 160);
}

TEST_P(WasmEngine, HundredInstancesOfOneModuleRunAtOnce) {
  auto module = load(R"((module (memory 1)
    (func (export "sum") (param i32) (result i64) (local i64)
      (block $done (loop $l
        (br_if $done (i32.eqz (local.get 0)))
        (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $l)))
      (local.get 1))))");
  ASSERT_NE(module, nullptr);
  constexpr int kInstances = 100;
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> sums(kInstances, 0);
  std::vector<std::string> errors(kInstances);
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      auto instance = instantiate(module, {}, {});
      if (!instance) {
        errors[i] = instance.error().message;
        return;
      }
      auto out = (*instance)->run("sum", {static_cast<RawValue>(1000 + i)});
      if (!out || out->kind != Kind::kReturned) {
        errors[i] = out ? out->message : out.error().message;
        return;
      }
      sums[i] = out->results.at(0);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kInstances; ++i) {
    const std::uint64_t n = 1000 + i;
    EXPECT_EQ(errors[i], "") << "instance " << i;
    EXPECT_EQ(sums[i], n * (n + 1) / 2) << "instance " << i;
  }
}

TEST_P(WasmEngine, StartFunctionIsBoundByTheTimeLimit) {
  auto module = load(R"((module (func $spin (loop $l (br $l))) (start $spin)))");
  ASSERT_NE(module, nullptr);
  InstanceLimits limits;
  limits.max_execution_time = 100ms;
  auto result = std::async(std::launch::async, [&] { return instantiate(module, {}, limits); });
  ASSERT_EQ(result.wait_for(60s), std::future_status::ready) << "the start function was not stopped";
  auto instance = result.get();
  ASSERT_FALSE(instance.has_value());
  EXPECT_EQ(instance.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(instance.error().message.find("execution time limit"), std::string::npos)
      << instance.error().message;
}

TEST_P(WasmEngine, HostCallsInTheStartFunctionSeeMemory) {
  std::string seen;
  HostImport peek{"env", "peek", FuncSig{{ValType::kI32}, {}},
                  [&](GuestMemory& memory, const RawValue* args, RawValue*) -> std::optional<HostAbort> {
                    if (const std::uint8_t* p = memory.range(args[0], 2)) seen.assign(p, p + 2);
                    return std::nullopt;
                  }};
  auto instance = make(R"((module (import "env" "peek" (func $peek (param i32)))
    (memory 1) (data (i32.const 8) "ok")
    (func $init (call $peek (i32.const 8))) (start $init)))",
                       {}, {peek});
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(seen, "ok");
}

INSTANTIATE_TEST_SUITE_P(Modes, WasmEngine,
                         ::testing::Values(Preemption::kSliced, Preemption::kInstrumented),
                         [](const ::testing::TestParamInfo<Preemption>& param) {
                           return param.param == Preemption::kSliced ? "Sliced" : "Instrumented";
                         });

}  // namespace
}  // namespace zlayer::wasm
