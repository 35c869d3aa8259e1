// wasm_run FILE [EXPORT] [CHECK_INTERVAL] [sliced|instrumented] — loads a .wasm/.wat through zlayer's engine, runs EXPORT (default
// "sum") without arguments and prints its first result. The peer of `wasm-interp
// --run-all-exports` in wasm_interp_bench.sh (same module, whole process, start-up included).
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "wasm/engine/engine.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: wasm_run FILE [EXPORT] [CHECK_INTERVAL] [sliced|instrumented]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  zlayer::wasm::LoadOptions options;
  options.name = argv[1];
  if (argc > 3) options.check_interval = std::stoull(argv[3]);
  if (argc > 4 && std::string(argv[4]) == "instrumented") {
    options.preemption = zlayer::wasm::Preemption::kInstrumented;
  }
  auto module = zlayer::wasm::load_module(bytes, options);
  if (!module) {
    std::fprintf(stderr, "%s\n", module.error().message.c_str());
    return 1;
  }
  auto instance = zlayer::wasm::instantiate(*module, {}, {});
  if (!instance) {
    std::fprintf(stderr, "%s\n", instance.error().message.c_str());
    return 1;
  }
  auto out = (*instance)->run(argc > 2 ? argv[2] : "sum", {});
  if (!out) {
    std::fprintf(stderr, "%s\n", out.error().message.c_str());
    return 1;
  }
  if (out->kind != zlayer::wasm::RunOutcome::Kind::kReturned) {
    std::fprintf(stderr, "%s\n", out->message.c_str());
    return 1;
  }
  std::printf("%" PRIu64 " (%" PRIu64 " instructions)\n", out->results.empty() ? 0 : out->results[0],
              (*instance)->stats().instructions);
  return 0;
}
