// The interpreter tier of engine.h on wabt 1.0.32 (C++17 translation unit; see CMakeLists.txt).
//
// load_module: decode (binary or WAT) → validate → [instrument (instrument.h) → re-validate] →
// encode → ReadBinaryInterp into an interp::ModuleDesc, kept in the immutable ModuleImpl.
// instantiate: one interp::Store per instance (a Store is single-threaded), a copy of the
// ModuleDesc with memory 0's maximum lowered to the cap, host functions wrapped as HostFuncs.
// run: a fresh interp::Thread per call (wabt wants a fresh one after a host trap).
// Preemption (engine.h): kSliced pushes the call onto the thread and runs it with
// Thread::Run(check_interval) in a loop, checking stop / deadline / fuel between slices — the
// start function is taken out of the ModuleDesc and run the same way after instantiation, so it
// is preemptible too. kInstrumented runs the call to completion; the budget check import
// accounts instructions and ends the run.
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <new>
#include <utility>

#include "wabt/binary-reader-ir.h"
#include "wabt/binary-reader.h"
#include "wabt/binary-writer.h"
#include "wabt/cast.h"
#include "wabt/feature.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"
#include "wabt/ir.h"
#include "wabt/stream.h"
#include "wabt/validator.h"
#include "wabt/wast-lexer.h"
#include "wabt/wast-parser.h"
#include "wasm/engine/binary_scan.h"
#include "wasm/engine/engine.h"
#include "wasm/engine/instrument.h"

namespace zlayer::wasm {
namespace {

namespace interp = wabt::interp;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kDefaultCheckInterval = 10000;
constexpr std::uint64_t kPageSize = 65536;
constexpr std::uint64_t kMaxPages32 = 65536;  // 4 GiB

// wabt 1.0.32 makes Thread::Run(n) public but keeps pushing a call onto a thread private (only
// DefinedFunc::DoCall does it, then runs to completion). An explicit instantiation may name private
// members (C++17 [temp.spec]/6), which yields pointers to them without `#define private public`;
// if a later wabt changes these declarations this fails to compile rather than misbehave.
template <class Tag, typename Tag::type Member>
struct PrivateAccess {
  friend typename Tag::type get(Tag) { return Member; }
};
struct PushValuesTag {
  using type = void (interp::Thread::*)(const interp::ValueTypes&, const interp::Values&);
  friend type get(PushValuesTag);
};
struct PushCallTag {
  using type = interp::RunResult (interp::Thread::*)(const interp::DefinedFunc&, interp::Trap::Ptr*);
  friend type get(PushCallTag);
};
struct PopValuesTag {
  using type = void (interp::Thread::*)(const interp::ValueTypes&, interp::Values*);
  friend type get(PopValuesTag);
};
// The call stack: PushCall traps "call stack exhausted" when frames_ is at its capacity, which
// wabt fixes at 64 KiB / sizeof(Frame) (1638 calls); replacing it with an empty vector of
// capacity max_call_depth makes that limit ours. The value stack grows on the heap.
struct FramesTag {
  using type = std::vector<interp::Frame> interp::Thread::*;
  friend type get(FramesTag);
};
template struct PrivateAccess<FramesTag, &interp::Thread::frames_>;
template struct PrivateAccess<PushValuesTag, &interp::Thread::PushValues>;
template struct PrivateAccess<PushCallTag, &interp::Thread::PushCall>;
template struct PrivateAccess<PopValuesTag, &interp::Thread::PopValues>;

// The same feature set everywhere: read, validate, write and ReadBinaryInterp must agree.
wabt::Features engine_features() { return wabt::Features(); }

std::optional<ValType> to_val_type(wabt::Type type) {
  switch (type) {
    case wabt::Type::I32: return ValType::kI32;
    case wabt::Type::I64: return ValType::kI64;
    case wabt::Type::F32: return ValType::kF32;
    case wabt::Type::F64: return ValType::kF64;
    default: return std::nullopt;
  }
}

// The numeric signature of `type`; nullopt when it uses v128 or reference types, which host
// functions and run() do not carry.
std::optional<FuncSig> to_sig(const interp::FuncType& type) {
  FuncSig sig;
  for (wabt::Type t : type.params) {
    auto v = to_val_type(t);
    if (!v) return std::nullopt;
    sig.params.push_back(*v);
  }
  for (wabt::Type t : type.results) {
    auto v = to_val_type(t);
    if (!v) return std::nullopt;
    sig.results.push_back(*v);
  }
  return sig;
}

const char* val_name(ValType t) {
  switch (t) {
    case ValType::kI32: return "i32";
    case ValType::kI64: return "i64";
    case ValType::kF32: return "f32";
    case ValType::kF64: return "f64";
  }
  return "?";
}

std::string sig_text(const FuncSig& sig) {
  std::string out = "(";
  for (std::size_t i = 0; i < sig.params.size(); ++i) out += (i ? ", " : "") + std::string(val_name(sig.params[i]));
  out += ") -> (";
  for (std::size_t i = 0; i < sig.results.size(); ++i) out += (i ? ", " : "") + std::string(val_name(sig.results[i]));
  return out + ")";
}

bool same_sig(const FuncSig& a, const FuncSig& b) { return a.params == b.params && a.results == b.results; }

ExternKind to_kind(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return ExternKind::kFunc;
    case wabt::ExternalKind::Table: return ExternKind::kTable;
    case wabt::ExternalKind::Memory: return ExternKind::kMemory;
    case wabt::ExternalKind::Global: return ExternKind::kGlobal;
    case wabt::ExternalKind::Tag: return ExternKind::kTag;
  }
  return ExternKind::kFunc;
}

const char* kind_name(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return "function";
    case wabt::ExternalKind::Table: return "table";
    case wabt::ExternalKind::Memory: return "memory";
    case wabt::ExternalKind::Global: return "global";
    case wabt::ExternalKind::Tag: return "tag";
  }
  return "extern";
}

interp::Value to_value(wabt::Type type, RawValue raw) {
  switch (type) {
    case wabt::Type::I32: return interp::Value::Make(static_cast<std::uint32_t>(raw));
    case wabt::Type::F32: {
      const auto bits = static_cast<std::uint32_t>(raw);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return interp::Value::Make(f);
    }
    case wabt::Type::F64: {
      double d;
      std::memcpy(&d, &raw, sizeof d);
      return interp::Value::Make(d);
    }
    default: return interp::Value::Make(static_cast<std::uint64_t>(raw));
  }
}

RawValue from_value(wabt::Type type, const interp::Value& value) {
  switch (type) {
    case wabt::Type::I32: return value.Get<std::uint32_t>();
    case wabt::Type::F32: {
      const float f = value.Get<float>();
      std::uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return bits;
    }
    case wabt::Type::F64: {
      const double d = value.Get<double>();
      RawValue bits;
      std::memcpy(&bits, &d, sizeof bits);
      return bits;
    }
    default: return value.Get<std::uint64_t>();
  }
}

// "name: invalid module: code section, function 3: type mismatch in i32.add, ..." from the first
// error; binary offsets are located with binary_scan, text ones are line:column.
Error load_error(const std::string& name, const wabt::Errors& errors, bool binary,
                 const std::vector<std::uint8_t>& bytes) {
  std::string where;
  std::string message = "unknown error";
  for (const wabt::Error& e : errors) {
    if (e.error_level != wabt::ErrorLevel::Error) continue;
    message = e.message;
    if (binary) {
      where = detail::describe_offset(bytes.data(), bytes.size(), e.loc.offset);
    } else if (e.loc.line > 0) {
      where = "line " + std::to_string(e.loc.line) + ", column " + std::to_string(e.loc.first_column);
    }
    break;
  }
  return Error{Errc::kInvalidArgument,
               name + ": invalid module: " + (where.empty() ? "" : where + ": ") + message};
}

class ModuleImpl final : public Module {
 public:
  const std::vector<ImportDesc>& imports() const override { return imports_; }
  const std::vector<ExportDesc>& exports() const override { return exports_; }
  std::uint64_t initial_memory_bytes() const override { return initial_memory_; }
  std::optional<std::uint64_t> declared_max_memory_bytes() const override { return max_memory_; }

  std::string name;
  interp::ModuleDesc desc;
  bool instrumented = false;
  detail::Instrumentation instrumentation;  // when instrumented
  std::uint64_t check_interval = kDefaultCheckInterval;
  std::vector<ImportDesc> imports_;
  std::vector<ExportDesc> exports_;
  std::uint64_t initial_memory_ = 0;
  std::optional<std::uint64_t> max_memory_;
};

// Memory 0 of the instance that called the host function, resolved per call.
class CallerMemory final : public GuestMemory {
 public:
  explicit CallerMemory(interp::Memory* memory) : memory_(memory) {}
  std::uint8_t* data() override { return memory_ == nullptr ? nullptr : memory_->UnsafeData(); }
  std::uint64_t size() const override { return memory_ == nullptr ? 0 : memory_->ByteSize(); }

 private:
  interp::Memory* memory_;
};

class InstanceImpl final : public Instance {
 public:
  InstanceImpl(std::shared_ptr<const ModuleImpl> module, const InstanceLimits& limits)
      : module_(std::move(module)), limits_(limits), store_(engine_features()) {}

  Status init(const std::vector<HostImport>& host);
  Result<RunOutcome> run(const std::string& name, const std::vector<RawValue>& args) override;
  void request_stop() override { stop_.store(true, std::memory_order_relaxed); }
  InstanceStats stats() const override;

 private:
  enum class Pending { kNone, kStopped, kTimeout, kOutOfFuel, kAbort };

  wabt::Result on_check(interp::Thread& thread, interp::Trap::Ptr* out_trap);
  // Calls `func` on a fresh thread, sliced or to completion (instrumented modules, host funcs).
  wabt::Result call(const interp::Func::Ptr& func, const interp::Values& params,
                    interp::Values& results, interp::Trap::Ptr* out_trap);
  wabt::Result call_sliced(interp::Thread& thread, const interp::DefinedFunc& func,
                           const interp::Values& params, interp::Values& results,
                           interp::Trap::Ptr* out_trap);
  // Between two slices: the reason to end the run, or nullptr to go on.
  const char* check_limits();
  wabt::Result on_host(const HostImport& import, const interp::FuncType& type,
                       interp::Thread& thread, const interp::Values& params,
                       interp::Values& results, interp::Trap::Ptr* out_trap);
  // The calling instance: inst_ is not set yet while the start function runs.
  interp::Instance* caller(interp::Thread& thread) {
    interp::Instance* inst = thread.GetCallerInstance();
    return inst != nullptr ? inst : inst_.get();
  }
  interp::Memory* memory_of(interp::Instance* inst) {
    if (inst == nullptr || inst->memories().empty()) return nullptr;
    return store_.UnsafeGet<interp::Memory>(inst->memories()[0]).get();
  }
  // Budget bookkeeping at the end of a run (the guest may stop between two checks).
  void settle_budget();
  RunOutcome outcome_from_trap(const interp::Trap::Ptr& trap);
  void begin_cpu();
  void end_cpu();

  std::shared_ptr<const ModuleImpl> module_;
  InstanceLimits limits_;
  interp::Store store_;
  interp::Instance::Ptr inst_;
  std::vector<HostImport> host_;                 // owned copies the HostFuncs point into

  std::atomic<bool> stop_{false};
  std::optional<Clock::time_point> deadline_;
  std::uint64_t granted_ = 0;  // instructions granted so far: consumed = granted_ - budget
  std::uint64_t consumed_ = 0;  // sliced: instructions executed so far (slice granularity)
  Pending pending_ = Pending::kNone;
  HostAbort abort_;

  std::atomic<std::uint64_t> instructions_{0};
  std::atomic<std::uint64_t> memory_bytes_{0};
  mutable std::mutex cpu_mu_;
  std::optional<clockid_t> running_clock_;
  timespec cpu_start_{};
  std::chrono::nanoseconds cpu_total_{0};
};

std::chrono::nanoseconds cpu_now(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void InstanceImpl::begin_cpu() {
  clockid_t clock;
  if (pthread_getcpuclockid(pthread_self(), &clock) != 0) clock = CLOCK_THREAD_CPUTIME_ID;
  std::lock_guard<std::mutex> lock(cpu_mu_);
  running_clock_ = clock;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_start_);
}

void InstanceImpl::end_cpu() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  std::lock_guard<std::mutex> lock(cpu_mu_);
  cpu_total_ += std::chrono::seconds(now.tv_sec - cpu_start_.tv_sec) +
                std::chrono::nanoseconds(now.tv_nsec - cpu_start_.tv_nsec);
  running_clock_.reset();
}

InstanceStats InstanceImpl::stats() const {
  InstanceStats s;
  s.memory_bytes = memory_bytes_.load(std::memory_order_relaxed);
  s.instructions = instructions_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(cpu_mu_);
  s.cpu_time = cpu_total_;
  if (running_clock_) {
    s.cpu_time += cpu_now(*running_clock_) -
                  (std::chrono::seconds(cpu_start_.tv_sec) + std::chrono::nanoseconds(cpu_start_.tv_nsec));
  }
  return s;
}

wabt::Result InstanceImpl::on_check(interp::Thread& thread, interp::Trap::Ptr* out_trap) {
  interp::Instance* inst = caller(thread);
  if (inst == nullptr) return wabt::Result::Ok;
  auto budget = store_.UnsafeGet<interp::Global>(inst->globals()[module_->instrumentation.budget_global]);
  const auto remaining = static_cast<std::int64_t>(budget->Get().Get<std::uint64_t>());
  const std::uint64_t consumed = granted_ - static_cast<std::uint64_t>(remaining);
  instructions_.store(consumed, std::memory_order_relaxed);
  if (interp::Memory* memory = memory_of(inst)) memory_bytes_.store(memory->ByteSize(), std::memory_order_relaxed);

  consumed_ = consumed;
  const char* reason = check_limits();
  if (reason != nullptr) {
    // Leave the budget negative so a later run() checks again at its first block.
    *out_trap = interp::Trap::New(store_, reason);
    return wabt::Result::Error;
  }
  std::uint64_t chunk = module_->check_interval;
  if (limits_.max_instructions) chunk = std::min(chunk, *limits_.max_instructions - consumed);
  budget->UnsafeSet(interp::Value::Make(static_cast<std::uint64_t>(chunk)));
  granted_ = consumed + chunk;
  return wabt::Result::Ok;
}

const char* InstanceImpl::check_limits() {
  if (stop_.exchange(false, std::memory_order_relaxed)) {
    pending_ = Pending::kStopped;
    return "stopped";
  }
  if (deadline_ && Clock::now() >= *deadline_) {
    pending_ = Pending::kTimeout;
    return "execution time limit exceeded";
  }
  if (limits_.max_instructions && consumed_ >= *limits_.max_instructions) {
    pending_ = Pending::kOutOfFuel;
    return "instruction budget exhausted";
  }
  return nullptr;
}

wabt::Result InstanceImpl::call_sliced(interp::Thread& thread, const interp::DefinedFunc& func,
                                       const interp::Values& params, interp::Values& results,
                                       interp::Trap::Ptr* out_trap) {
  const interp::FuncType& type = func.type();
  (thread.*get(PushValuesTag{}))(type.params, params);
  interp::RunResult result = (thread.*get(PushCallTag{}))(func, out_trap);
  while (result == interp::RunResult::Ok) {
    if (const char* reason = check_limits()) {
      *out_trap = interp::Trap::New(store_, reason);
      return wabt::Result::Error;
    }
    std::uint64_t slice = module_->check_interval;
    if (limits_.max_instructions) slice = std::min(slice, *limits_.max_instructions - consumed_);
    slice = std::min<std::uint64_t>(slice, std::numeric_limits<int>::max());
    result = thread.Run(static_cast<int>(slice), out_trap);
    consumed_ += slice;
    instructions_.store(consumed_, std::memory_order_relaxed);
    if (interp::Memory* memory = memory_of(inst_.get())) {
      memory_bytes_.store(memory->ByteSize(), std::memory_order_relaxed);
    }
  }
  switch (result) {
    case interp::RunResult::Return:
      (thread.*get(PopValuesTag{}))(type.results, &results);
      return wabt::Result::Ok;
    case interp::RunResult::Exception:
      *out_trap = interp::Trap::New(store_, "uncaught exception");
      return wabt::Result::Error;
    default:
      if (!*out_trap) *out_trap = interp::Trap::New(store_, "trap");
      return wabt::Result::Error;
  }
}

wabt::Result InstanceImpl::call(const interp::Func::Ptr& func, const interp::Values& params,
                                interp::Values& results, interp::Trap::Ptr* out_trap) {
  if (limits_.max_execution_time) deadline_ = Clock::now() + *limits_.max_execution_time;
  pending_ = Pending::kNone;
  begin_cpu();
  wabt::Result result = wabt::Result::Error;
  {
    interp::Thread thread(store_);
    std::vector<interp::Frame> frames;
    frames.reserve(std::max<std::uint32_t>(limits_.max_call_depth, 1));
    (thread.*get(FramesTag{})).swap(frames);
    const auto* defined = wabt::dyn_cast<interp::DefinedFunc>(func.get());
    if (module_->instrumented || defined == nullptr) {
      result = func->Call(thread, params, results, out_trap);
    } else {
      result = call_sliced(thread, *defined, params, results, out_trap);
    }
  }
  end_cpu();
  deadline_.reset();
  settle_budget();
  if (interp::Memory* memory = memory_of(inst_.get())) memory_bytes_.store(memory->ByteSize());
  return result;
}

wabt::Result InstanceImpl::on_host(const HostImport& import, const interp::FuncType& type,
                                   interp::Thread& thread, const interp::Values& params,
                                   interp::Values& results, interp::Trap::Ptr* out_trap) {
  RawValue args[16];
  std::vector<RawValue> big_args;
  RawValue* arg_ptr = args;
  if (params.size() > 16) {
    big_args.resize(params.size());
    arg_ptr = big_args.data();
  }
  for (std::size_t i = 0; i < params.size(); ++i) arg_ptr[i] = from_value(type.params[i], params[i]);
  std::vector<RawValue> raw_results(type.results.size(), 0);
  interp::Instance* inst = caller(thread);
  interp::Memory* memory = memory_of(inst);
  CallerMemory guest(memory);
  std::optional<HostAbort> abort;
  try {
    abort = import.fn(guest, arg_ptr, raw_results.data());
  } catch (const std::exception& e) {
    abort = HostAbort{HostAbort::Kind::kTrap, 0, "host function " + import.module + "." + import.name + " threw: " + e.what()};
  } catch (...) {
    abort = HostAbort{HostAbort::Kind::kTrap, 0, "host function " + import.module + "." + import.name + " threw"};
  }
  if (memory != nullptr) memory_bytes_.store(memory->ByteSize(), std::memory_order_relaxed);
  if (abort) {
    pending_ = Pending::kAbort;
    abort_ = std::move(*abort);
    *out_trap = interp::Trap::New(store_, abort_.message.empty() ? "host abort" : abort_.message);
    return wabt::Result::Error;
  }
  // engine.h: a stop also takes effect when the current host call returns, so a guest woken
  // from a blocking WASI call (poll_oneoff, fd_read) by the stop does not run on to its end.
  if (stop_.exchange(false, std::memory_order_relaxed)) {
    pending_ = Pending::kStopped;
    *out_trap = interp::Trap::New(store_, "stopped");
    return wabt::Result::Error;
  }
  for (std::size_t i = 0; i < results.size(); ++i) results[i] = to_value(type.results[i], raw_results[i]);
  return wabt::Result::Ok;
}

Status InstanceImpl::init(const std::vector<HostImport>& host) {
  const ModuleImpl& m = *module_;
  interp::ModuleDesc desc = m.desc;

  // Memory cap: lower memory 0's maximum so memory.grow past it returns -1.
  if (!desc.memories.empty()) {
    wabt::Limits& lim = desc.memories[0].type.limits;
    std::uint64_t cap_pages = lim.has_max ? lim.max : kMaxPages32;
    if (limits_.max_memory_bytes) cap_pages = std::min(cap_pages, *limits_.max_memory_bytes / kPageSize);
    if (lim.initial > cap_pages) {
      return errorf(Errc::kResourceExhausted,
                    "{}: initial linear memory of {} bytes exceeds the memory limit of {} bytes",
                    m.name, lim.initial * kPageSize, cap_pages * kPageSize);
    }
    lim.max = cap_pages;
    lim.has_max = true;
  }

  // Resolve imports in the module's order; keep owned copies of the host functions.
  host_.reserve(desc.imports.size());
  interp::RefVec imports;
  for (std::size_t i = 0; i < desc.imports.size(); ++i) {
    const interp::ImportType& type = desc.imports[i].type;
    if (m.instrumented && i == m.instrumentation.check_import) {
      auto func_type = interp::FuncType({}, {});
      auto fn = interp::HostFunc::New(
          store_, func_type,
          [this](interp::Thread& thread, const interp::Values&, interp::Values&,
                 interp::Trap::Ptr* out_trap) { return on_check(thread, out_trap); });
      imports.push_back(fn.ref());
      continue;
    }
    if (type.type->kind != wabt::ExternalKind::Func) {
      return errorf(Errc::kInvalidArgument, "{}: import {}.{}: {} imports are not supported", m.name,
                    type.module, type.name, kind_name(type.type->kind));
    }
    const auto& func_type = *wabt::cast<interp::FuncType>(type.type.get());
    auto it = std::find_if(host.begin(), host.end(), [&](const HostImport& h) {
      return h.module == type.module && h.name == type.name;
    });
    if (it == host.end()) {
      return errorf(Errc::kInvalidArgument, "{}: unknown import {}.{}", m.name, type.module, type.name);
    }
    auto sig = to_sig(func_type);
    if (!sig || !same_sig(*sig, it->sig)) {
      return errorf(Errc::kInvalidArgument,
                    "{}: import {}.{}: the module expects {}, the host provides {}", m.name, type.module,
                    type.name, sig ? sig_text(*sig) : std::string("a non-numeric signature"),
                    sig_text(it->sig));
    }
    host_.push_back(*it);
    const HostImport* import = &host_.back();
    auto fn = interp::HostFunc::New(
        store_, func_type,
        [this, import, func_type](interp::Thread& thread, const interp::Values& params,
                                  interp::Values& results, interp::Trap::Ptr* out_trap) {
          return on_host(*import, func_type, thread, params, results, out_trap);
        });
    imports.push_back(fn.ref());
  }

  // Sliced: wabt would run the start function to completion inside Instantiate; run it here
  // instead, after the same data and element initialisation, so limits and stop apply to it.
  std::vector<interp::StartDesc> starts;
  if (!m.instrumented) std::swap(starts, desc.starts);
  auto module = interp::Module::New(store_, std::move(desc));
  interp::Trap::Ptr trap;
  if (limits_.max_execution_time) deadline_ = Clock::now() + *limits_.max_execution_time;
  begin_cpu();
  inst_ = interp::Instance::Instantiate(store_, module.ref(), imports, &trap);
  end_cpu();
  deadline_.reset();
  bool failed = !inst_;
  for (std::size_t i = 0; !failed && i < starts.size(); ++i) {
    auto start = store_.UnsafeGet<interp::Func>(inst_->funcs()[starts[i].func_index]);
    interp::Values results;
    failed = wabt::Failed(call(start, {}, results, &trap));
  }
  if (failed) {
    inst_.reset();
    if (!trap) return errorf(Errc::kFailedPrecondition, "{}: instantiation failed", m.name);
    RunOutcome outcome = outcome_from_trap(trap);
    if (outcome.kind == RunOutcome::Kind::kExited) {
      return errorf(Errc::kFailedPrecondition, "{}: start function exited with status {}", m.name,
                    outcome.exit_code);
    }
    return errorf(Errc::kFailedPrecondition, "{}: instantiation failed: {}", m.name, outcome.message);
  }
  if (interp::Memory* memory = memory_of(inst_.get())) memory_bytes_.store(memory->ByteSize());
  settle_budget();
  return {};
}

void InstanceImpl::settle_budget() {
  if (!inst_ || !module_->instrumented) return;
  auto budget = store_.UnsafeGet<interp::Global>(inst_->globals()[module_->instrumentation.budget_global]);
  const auto remaining = static_cast<std::int64_t>(budget->Get().Get<std::uint64_t>());
  instructions_.store(granted_ - static_cast<std::uint64_t>(remaining), std::memory_order_relaxed);
}

RunOutcome InstanceImpl::outcome_from_trap(const interp::Trap::Ptr& trap) {
  RunOutcome out;
  const Pending pending = std::exchange(pending_, Pending::kNone);
  switch (pending) {
    case Pending::kStopped:
      out.kind = RunOutcome::Kind::kStopped;
      out.message = "stopped";
      break;
    case Pending::kTimeout:
      out.kind = RunOutcome::Kind::kTimeout;
      out.message = "execution time limit exceeded";
      break;
    case Pending::kOutOfFuel:
      out.kind = RunOutcome::Kind::kOutOfFuel;
      out.message = "instruction budget exhausted";
      break;
    case Pending::kAbort:
      if (abort_.kind == HostAbort::Kind::kExit) {
        out.kind = RunOutcome::Kind::kExited;
        out.exit_code = abort_.exit_code;
      } else {
        out.kind = RunOutcome::Kind::kTrapped;
        out.message = abort_.message;
      }
      break;
    case Pending::kNone:
      out.kind = RunOutcome::Kind::kTrapped;
      out.message = trap ? trap->message() : "trap";
      break;
  }
  return out;
}

Result<RunOutcome> InstanceImpl::run(const std::string& name, const std::vector<RawValue>& args) {
  const ModuleImpl& m = *module_;
  const auto& exports = m.desc.exports;
  std::size_t index = exports.size();
  for (std::size_t i = 0; i < exports.size(); ++i) {
    if (exports[i].type.name == name && exports[i].type.type->kind == wabt::ExternalKind::Func) {
      index = i;
      break;
    }
  }
  if (index == exports.size()) {
    return errorf(Errc::kNotFound, "{}: no exported function \"{}\"", m.name, name);
  }
  auto func = store_.UnsafeGet<interp::Func>(inst_->exports()[index]);
  const interp::FuncType& type = func->type();
  if (!to_sig(type)) {
    return errorf(Errc::kInvalidArgument, "{}: export \"{}\" uses types other than i32/i64/f32/f64",
                  m.name, name);
  }
  if (args.size() != type.params.size()) {
    return errorf(Errc::kInvalidArgument, "{}: export \"{}\" takes {} arguments, got {}", m.name, name,
                  type.params.size(), args.size());
  }
  interp::Values params;
  params.reserve(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) params.push_back(to_value(type.params[i], args[i]));

  if (stop_.exchange(false, std::memory_order_relaxed)) {
    RunOutcome out;
    out.kind = RunOutcome::Kind::kStopped;
    out.message = "stopped";
    return out;
  }
  interp::Values results;
  interp::Trap::Ptr trap;
  const wabt::Result result = call(func, params, results, &trap);

  RunOutcome out;
  if (wabt::Succeeded(result)) {
    out.kind = RunOutcome::Kind::kReturned;
    for (std::size_t i = 0; i < results.size() && i < type.results.size(); ++i) {
      out.results.push_back(from_value(type.results[i], results[i]));
    }
  } else {
    out = outcome_from_trap(trap);
  }
  trap.reset();
  store_.Collect();  // traps and host-call garbage of this run
  return out;
}

Result<std::unique_ptr<wabt::Module>> decode(const std::vector<std::uint8_t>& bytes,
                                             const std::string& name, bool* binary) {
  const wabt::Features features = engine_features();
  wabt::Errors errors;
  auto module = std::make_unique<wabt::Module>();
  switch (detail::classify_preamble(bytes.data(), bytes.size())) {
    case detail::Preamble::kComponent:
      return errorf(Errc::kInvalidArgument,
                    "{}: is a WebAssembly component (preview 2); only core modules (WASI preview 1) "
                    "are supported", name);
    case detail::Preamble::kOtherVersion:
      return errorf(Errc::kInvalidArgument,
                    "{}: invalid module: unsupported binary version (only core WebAssembly 1.0 "
                    "modules are supported)", name);
    case detail::Preamble::kCoreModule: {
      *binary = true;
      wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                      /*stop_on_first_error=*/true,
                                      /*fail_on_custom_section_error=*/false);
      if (wabt::Failed(wabt::ReadBinaryIr(name.c_str(), bytes.data(), bytes.size(), options,
                                          &errors, module.get()))) {
        return unexpected(load_error(name, errors, true, bytes));
      }
      break;
    }
    case detail::Preamble::kNotBinary: {
      *binary = false;
      if (std::find(bytes.begin(), bytes.end(), std::uint8_t{0}) != bytes.end()) {
        return errorf(Errc::kInvalidArgument,
                      "{}: invalid module: neither a WebAssembly binary (no \\0asm magic) nor WAT text",
                      name);
      }
      auto lexer = wabt::WastLexer::CreateBufferLexer(name, bytes.data(), bytes.size(), &errors);
      wabt::WastParseOptions options(features);
      std::unique_ptr<wabt::Module> parsed;
      if (wabt::Failed(wabt::ParseWatModule(lexer.get(), &parsed, &errors, &options)) || !parsed) {
        return unexpected(load_error(name, errors, false, bytes));
      }
      module = std::move(parsed);
      break;
    }
  }
  if (wabt::Failed(wabt::ValidateModule(module.get(), &errors, wabt::ValidateOptions(features)))) {
    return unexpected(load_error(name, errors, *binary, bytes));
  }
  return module;
}

Result<std::shared_ptr<const Module>> load_module_impl(const std::vector<std::uint8_t>& bytes,
                                                       const LoadOptions& options) {
  const std::string& name = options.name;
  bool binary = false;
  ZLAYER_TRY(module, decode(bytes, name, &binary));

  auto impl = std::make_shared<ModuleImpl>();
  impl->name = name;
  impl->check_interval = options.check_interval == 0 ? kDefaultCheckInterval : options.check_interval;

  impl->instrumented = options.preemption == Preemption::kInstrumented;
  const wabt::Features features = engine_features();
  wabt::Errors errors;
  if (impl->instrumented) {
    std::string error;
    if (!detail::instrument_module(*module, &impl->instrumentation, &error)) {
      return errorf(Errc::kInvalidArgument, "{}: cannot instrument module: {}", name, error);
    }
    if (wabt::Failed(wabt::ValidateModule(module.get(), &errors, wabt::ValidateOptions(features)))) {
      Error e = load_error(name, errors, false, bytes);
      return errorf(Errc::kInternal, "{} (after instrumentation)", e.message);
    }
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true,
                                         /*relocatable=*/false, /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), write_options))) {
    return errorf(Errc::kInternal, "{}: cannot re-encode the instrumented module", name);
  }
  const std::vector<std::uint8_t>& encoded = stream.output_buffer().data;
  wabt::ReadBinaryOptions read_options(features, nullptr, false, true, false);
  if (wabt::Failed(interp::ReadBinaryInterp(name, encoded.data(), encoded.size(), read_options,
                                            &errors, &impl->desc))) {
    Error e = load_error(name, errors, true, encoded);
    return errorf(Errc::kInternal, "{} (instrumented module)", e.message);
  }

  // What the host sees: the module's own imports (not the budget check) and exports.
  for (std::size_t i = 0; i < impl->desc.imports.size(); ++i) {
    if (impl->instrumented && i == impl->instrumentation.check_import) continue;
    const interp::ImportType& type = impl->desc.imports[i].type;
    ImportDesc d{type.module, type.name, to_kind(type.type->kind), {}};
    if (auto* f = wabt::dyn_cast<interp::FuncType>(type.type.get())) d.sig = to_sig(*f).value_or(FuncSig{});
    impl->imports_.push_back(std::move(d));
  }
  for (const interp::ExportDesc& e : impl->desc.exports) {
    ExportDesc d{e.type.name, to_kind(e.type.type->kind), {}};
    if (auto* f = wabt::dyn_cast<interp::FuncType>(e.type.type.get())) d.sig = to_sig(*f).value_or(FuncSig{});
    impl->exports_.push_back(std::move(d));
  }
  if (!impl->desc.memories.empty()) {
    const wabt::Limits& lim = impl->desc.memories[0].type.limits;
    impl->initial_memory_ = lim.initial * kPageSize;
    if (lim.has_max) impl->max_memory_ = lim.max * kPageSize;
  }
  return std::shared_ptr<const Module>(std::move(impl));
}

}  // namespace

Result<std::shared_ptr<const Module>> load_module(const std::vector<std::uint8_t>& bytes,
                                                  const LoadOptions& options) {
  try {
    return load_module_impl(bytes, options);
  } catch (const std::bad_alloc&) {
    return errorf(Errc::kResourceExhausted, "{}: out of memory while loading the module", options.name);
  } catch (const std::exception& e) {
    return errorf(Errc::kInvalidArgument, "{}: invalid module: {}", options.name, e.what());
  }
}

Result<std::unique_ptr<Instance>> instantiate(std::shared_ptr<const Module> module,
                                              const std::vector<HostImport>& host,
                                              const InstanceLimits& limits) {
  auto impl_module = std::dynamic_pointer_cast<const ModuleImpl>(module);
  if (!impl_module) {
    return errorf(Errc::kInvalidArgument, "instantiate: the module was not loaded by this engine");
  }
  try {
    auto instance = std::make_unique<InstanceImpl>(std::move(impl_module), limits);
    ZLAYER_CHECK(instance->init(host));
    return std::unique_ptr<Instance>(std::move(instance));
  } catch (const std::bad_alloc&) {
    return errorf(Errc::kResourceExhausted, "{}: out of memory while instantiating",
                  std::static_pointer_cast<const ModuleImpl>(module)->name);
  }
}

}  // namespace zlayer::wasm
