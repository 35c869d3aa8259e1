// In-process benchmarks of the WebAssembly engine (bench/README.md, "WebAssembly engine"):
//   BM_LoadModule        decode + validate + instrument a tiny module (cached per digest later)
//   BM_InstantiateRun    instantiate + run of a tiny module (target < 1 ms)
//   BM_StopLatency       request_stop() → run() returning on a spinning module (target < 100 ms)
//   BM_IdleInstanceMemory RSS per idle instance of a one-page module (target < 1 MiB + memory)
//   BM_SumLoop           the CPU-bound loop of wasm_interp_bench.sh, in-process, per check interval
//                        and preemption mode (1 = sliced, 2 = instrumented)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "wasm/engine/engine.h"

namespace {

using zlayer::wasm::Instance;
using zlayer::wasm::LoadOptions;
using zlayer::wasm::Module;
using zlayer::wasm::Preemption;

constexpr std::string_view kTiny = R"((module (memory 1)
  (func (export "_start") (result i32) (i32.add (i32.const 40) (i32.const 2)))))";

constexpr std::string_view kSpin = R"((module (func (export "spin") (loop $l (br $l)))))";

constexpr std::string_view kSum = R"((module
  (func (export "sum") (param $n i64) (result i64) (local $i i64) (local $s i64)
    (loop $l
      (local.set $s (i64.add (local.get $s) (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (local.get $n))))
    (local.get $s))))";

std::shared_ptr<const Module> load(std::string_view wat, std::uint64_t interval = 0,
                                   Preemption preemption = Preemption::kDefault) {
  LoadOptions options;
  options.name = "bench.wat";
  options.check_interval = interval;
  options.preemption = preemption;
  auto m = zlayer::wasm::load_module(std::vector<std::uint8_t>(wat.begin(), wat.end()), options);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().message.c_str());
    std::abort();
  }
  return *m;
}

void BM_LoadModule(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(load(kTiny));
}
BENCHMARK(BM_LoadModule)->Unit(benchmark::kMicrosecond);

void BM_InstantiateRun(benchmark::State& state) {
  auto module = load(kTiny);
  for (auto _ : state) {
    auto instance = zlayer::wasm::instantiate(module, {}, {});
    auto out = (*instance)->run("_start", {});
    if (!out || out->results.at(0) != 42) state.SkipWithError("wrong result");
  }
}
BENCHMARK(BM_InstantiateRun)->Unit(benchmark::kMicrosecond);

void BM_StopLatency(benchmark::State& state) {
  auto module = load(kSpin, 0, static_cast<Preemption>(state.range(0)));
  std::vector<double> latencies;
  for (auto _ : state) {
    auto instance = std::move(*zlayer::wasm::instantiate(module, {}, {}));
    std::atomic<bool> returned{false};
    std::chrono::steady_clock::time_point end;
    std::thread runner([&] {
      (void)instance->run("spin", {});
      end = std::chrono::steady_clock::now();
      returned = true;
    });
    while (instance->stats().instructions == 0) std::this_thread::yield();  // spinning now
    const auto start = std::chrono::steady_clock::now();
    instance->request_stop();
    runner.join();
    latencies.push_back(std::chrono::duration<double>(end - start).count());
    state.SetIterationTime(latencies.back());
  }
  std::sort(latencies.begin(), latencies.end());
  state.counters["median_us"] = latencies[latencies.size() / 2] * 1e6;
  state.counters["max_us"] = latencies.back() * 1e6;
}
BENCHMARK(BM_StopLatency)
    ->ArgName("mode")
    ->Arg(static_cast<int>(Preemption::kSliced))
    ->Arg(static_cast<int>(Preemption::kInstrumented))
    ->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(50);

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

void BM_IdleInstanceMemory(benchmark::State& state) {
  constexpr int kCount = 1000;
  auto module = load(kTiny);
  double per_instance = 0;
  for (auto _ : state) {
    std::vector<std::unique_ptr<Instance>> instances;
    instances.reserve(kCount);
    const long before = rss_bytes();
    for (int i = 0; i < kCount; ++i) {
      instances.push_back(std::move(*zlayer::wasm::instantiate(module, {}, {})));
      (void)instances.back()->run("_start", {});  // used once, then idle
    }
    per_instance = static_cast<double>(rss_bytes() - before) / kCount;
  }
  state.counters["rss_per_instance_KiB"] = per_instance / 1024;
  state.counters["linear_memory_KiB"] = 64;
  state.counters["overhead_KiB"] = per_instance / 1024 - 64;
}
BENCHMARK(BM_IdleInstanceMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_SumLoop(benchmark::State& state) {
  auto module = load(kSum, static_cast<std::uint64_t>(state.range(0)),
                     static_cast<Preemption>(state.range(1)));
  auto instance = std::move(*zlayer::wasm::instantiate(module, {}, {}));
  constexpr std::uint64_t kIterations = 2'000'000;
  for (auto _ : state) {
    auto out = instance->run("sum", {kIterations});
    if (!out || out->results.at(0) != kIterations * (kIterations - 1) / 2) state.SkipWithError("wrong sum");
  }
  state.counters["iterations/s"] =
      benchmark::Counter(static_cast<double>(kIterations), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SumLoop)
    ->ArgNames({"interval", "mode"})
    ->ArgsProduct({{1000, 10000, 1000000},
                   {static_cast<int>(Preemption::kSliced), static_cast<int>(Preemption::kInstrumented)}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
