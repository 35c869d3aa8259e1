// The WebAssembly engine contract: load (decode + validate + instrument) a module once, then run
// instances of it with host functions, limits and a stop switch. The interface exposes no wabt
// types and compiles as C++17 and C++20: the wabt-backed implementation lives in a C++17 target
// (wabt 1.0.32's headers do not build as C++20 with g++ 12), and a compiled tier (wasm2c + cc,
// cached by module digest) can be added later behind the same interface without touching the
// WASI layer (wasm/wasi) or the runtime backend (wasm/).
// Follows the WebAssembly core specification 1.0 (+ the features wabt enables by default).
// Thread-safety: a Module is immutable and shared by any number of instances on any threads; an
// Instance runs on one thread at a time; Instance::request_stop() and Instance::stats() may be
// called from any thread while it runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace zlayer::wasm {

enum class ValType { kI32, kI64, kF32, kF64 };

// A function type: parameter and result types in order.
struct FuncSig {
  std::vector<ValType> params;
  std::vector<ValType> results;
};

// One wasm value as raw bits: i32 zero-extended to 64 bits, f32/f64 their IEEE-754 bit pattern.
using RawValue = std::uint64_t;

// The calling instance's linear memory 0, as seen by a host function during one call. Valid only
// for the duration of that call (memory.grow may move it). All accessors bounds-check: a range
// outside [0, size()) yields false / nullptr, which WASI maps to EFAULT.
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  [[nodiscard]] virtual std::uint8_t* data() = 0;  // nullptr when the module has no memory
  [[nodiscard]] virtual std::uint64_t size() const = 0;  // bytes

  // Pointer to [offset, offset + length) or nullptr when any byte is out of bounds (overflow-safe).
  [[nodiscard]] std::uint8_t* range(std::uint64_t offset, std::uint64_t length) {
    if (offset > size() || length > size() - offset) return nullptr;
    return data() + offset;
  }
  // Little-endian loads and stores of trivially copyable T (wasm memory is little-endian, as is
  // every host we build for). false = out of bounds.
  template <class T>
  bool load(std::uint64_t offset, T& out) {
    const std::uint8_t* p = range(offset, sizeof(T));
    if (p == nullptr) return false;
    std::memcpy(&out, p, sizeof(T));
    return true;
  }
  template <class T>
  bool store(std::uint64_t offset, const T& value) {
    std::uint8_t* p = range(offset, sizeof(T));
    if (p == nullptr) return false;
    std::memcpy(p, &value, sizeof(T));
    return true;
  }
};

// How a host function ends other than by returning normally.
struct HostAbort {
  enum class Kind {
    kExit,  // WASI proc_exit: unwinds the whole guest; `exit_code` is the instance's exit status
    kTrap,  // a host-side trap (message says why)
  };
  Kind kind = Kind::kTrap;
  std::uint32_t exit_code = 0;
  std::string message;
};

// A host function: reads `args` (one RawValue per parameter of `sig`), writes `results` (already
// sized to the result count). Returns std::nullopt to continue the guest, or how to abort it.
using HostFunction = std::function<std::optional<HostAbort>(
    GuestMemory& memory, const RawValue* args, RawValue* results)>;

struct HostImport {
  std::string module;  // e.g. "wasi_snapshot_preview1"
  std::string name;    // e.g. "fd_write"
  FuncSig sig;         // must equal the module's import type, else instantiate fails (kInvalidArgument)
  HostFunction fn;
};

enum class ExternKind { kFunc, kTable, kMemory, kGlobal, kTag };

struct ImportDesc {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // kFunc only
};

struct ExportDesc {
  std::string name;
  ExternKind kind = ExternKind::kFunc;
  FuncSig sig;  // kFunc only
};

// How a running guest is interrupted for request_stop(), max_execution_time and
// max_instructions. Both ways end the run at the next check, at most check_interval instructions
// (or one host call) later.
enum class Preemption {
  kDefault,       // the tier's best: kSliced in the interpreter, kInstrumented in a compiled tier
  kSliced,        // interpreter only: the guest runs in slices of check_interval instructions and
                  // the engine checks between slices (no overhead; exact instruction counts)
  kInstrumented,  // the module is rewritten at load: a budget check at every function entry and
                  // loop header charges the block's instruction count (works in every tier;
                  // ~1.5x slower on the tightest interpreter loops)
};

struct LoadOptions {
  // Label used in error messages (file name, image reference or digest).
  std::string name = "module";
  // Instructions between two budget checks (runtime WasmConfig epoch / spec `epoch_deadline`):
  // smaller = faster stop, more overhead. 0 = the engine's default (10000).
  std::uint64_t check_interval = 0;
  Preemption preemption = Preemption::kDefault;
};

// A decoded, validated and instrumented module. Immutable; share it between instances.
class Module {
 public:
  virtual ~Module() = default;
  [[nodiscard]] virtual const std::vector<ImportDesc>& imports() const = 0;
  [[nodiscard]] virtual const std::vector<ExportDesc>& exports() const = 0;
  // Declared initial / maximum size of memory 0 in bytes (max unset = none declared).
  [[nodiscard]] virtual std::uint64_t initial_memory_bytes() const = 0;
  [[nodiscard]] virtual std::optional<std::uint64_t> declared_max_memory_bytes() const = 0;
};

struct InstanceLimits {
  // Cap on linear-memory growth in bytes; memory.grow beyond it returns -1. Unset = the module's
  // own maximum (or 4 GiB).
  std::optional<std::uint64_t> max_memory_bytes;
  // Instruction budget (spec `wasm.max_fuel`); exhausting it ends the run with kOutOfFuel.
  std::optional<std::uint64_t> max_instructions;
  // Wall-clock bound of one run() (runtime WasmConfig max_execution_time); kTimeout when hit.
  std::optional<std::chrono::milliseconds> max_execution_time;
  // Nested call depth limit (wasm and host frames, the entry function included); deeper
  // recursion traps ("call stack exhausted"), never crashes. The interpreter keeps its frames on
  // the heap (40 bytes each, reserved per run()), so no native stack size is involved.
  std::uint32_t max_call_depth = 10000;
};

// How one run() ended.
struct RunOutcome {
  enum class Kind {
    kReturned,   // the entry function returned normally (exit status 0)
    kExited,     // proc_exit(code) from any depth
    kTrapped,    // a wasm trap or a host trap: `message` says which (e.g. "out of bounds memory access")
    kStopped,    // request_stop() took effect
    kOutOfFuel,  // InstanceLimits::max_instructions exhausted
    kTimeout,    // InstanceLimits::max_execution_time exceeded
  };
  Kind kind = Kind::kReturned;
  std::uint32_t exit_code = 0;  // kExited: the code; kReturned: 0
  std::string message;
  std::vector<RawValue> results;  // kReturned: the entry function's results
};

struct InstanceStats {
  std::uint64_t memory_bytes = 0;        // current linear-memory size
  std::uint64_t instructions = 0;        // executed so far, counted at the checks (at most one
                                         // check_interval ahead of the true count)
  std::chrono::nanoseconds cpu_time{0};  // thread CPU time spent in run() so far
};

class Instance {
 public:
  virtual ~Instance() = default;
  // Calls the exported function `name` with `args` on the calling thread until it ends. Errors
  // (not outcomes): kNotFound (no such export), kInvalidArgument (argument count/type mismatch).
  virtual Result<RunOutcome> run(const std::string& name, const std::vector<RawValue>& args) = 0;
  // Asks a running (or the next) run() to end with kStopped at its next budget check (within
  // check_interval instructions, or when the current host call returns). Any thread.
  virtual void request_stop() = 0;
  [[nodiscard]] virtual InstanceStats stats() const = 0;
};

// Decodes and validates `bytes` — binary wasm, or WAT text when it does not start with "\0asm" —
// and instruments it for budget checks. Errors: kInvalidArgument naming what is wrong (e.g.
// "prog.wasm: invalid module: function 3: type mismatch in i32.add", "prog.wasm: is a WebAssembly
// component (preview 2); only core modules (WASI preview 1) are supported").
Result<std::shared_ptr<const Module>> load_module(const std::vector<std::uint8_t>& bytes,
                                                  const LoadOptions& options);

// Instantiates `module`: resolves every function import from `host` (by module + name + sig),
// runs data/elem initialisation and the start function. Errors: kInvalidArgument naming the first
// unresolved or mistyped import ("unknown import env.foo"), kResourceExhausted (memory), a trap in
// the start function as kFailedPrecondition.
Result<std::unique_ptr<Instance>> instantiate(std::shared_ptr<const Module> module,
                                              const std::vector<HostImport>& host,
                                              const InstanceLimits& limits);

}  // namespace zlayer::wasm
