// WasmRuntime: the `wasm` backend of the Runtime interface — WebAssembly modules (WASI preview 1)
// run in-process, each instance on its own thread, through the engine (wasm/engine/engine.h) and
// the WASI layer (wasm/wasi/wasi.h). Mapping from ContainerConfig (docs/wasm.md "Backend"):
//   image_ref          a pulled WASM artifact / Docker+Wasm image, or a local .wasm/.wat path
//   argv               argv[0] = the module's name, then entrypoint (or image Entrypoint minus
//                      the module path) and args
//   env                image env, then config.env (later wins)
//   storage + wasm.preopens   preopened directories (bind, named volume, tmpfs → a fresh
//                      directory), read-only honoured
//   memory cap         wasm.max_memory_bytes, else resources.memory_bytes
//   fuel / checks      wasm.max_fuel (instructions), wasm.epoch_deadline (instructions between
//                      stop checks) else WasmConfig::check_interval
//   time limit         WasmConfig::max_execution_time for wasm.run_to_completion instances
// Every instance has a row in state.db `containers` (backend 'wasm', monitor_pid = the owning
// agent process) and a directory $ZLAYER_ROOT_DIR/containers/<id>/ holding container.log (the
// CRI log store shared with containers) and owner.json (owner pid + its start time). Instances
// live in the process that created them: other processes see their rows (ps, logs, state), and
// the next WasmRuntime::open in any process records instances whose owner died as
// failed{agent exited} (the start time guards against pid reuse).
// Thread-safety: every method may be called from any thread (one mutex guards the instance table;
// state.db is used under its own mutex).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/paths.h"
#include "image/image_service.h"
#include "runtime/runtime.h"
#include "state/state_db.h"
#include "wasm/module_cache.h"

namespace zlayer::runtime {

// The runtime's WASM settings (not the spec's `wasm:` block, which is ContainerConfig::wasm).
struct WasmConfig {
  // root_dir holds state.db and containers/<id>/; wasm_cache_dir is the module cache (cache_dir).
  Paths paths;
  // Instructions between two stop / time-limit checks in instrumented code (the "epoch"); smaller
  // stops sooner and costs more. 0 = the engine's default.
  std::uint64_t check_interval = 0;
  // Wall-clock bound of run-to-completion instances (ContainerConfig::wasm.run_to_completion:
  // `run`, jobs); 0 = unlimited. Services are never bounded.
  std::chrono::milliseconds max_execution_time{0};
};

}  // namespace zlayer::runtime

namespace zlayer::wasm {

// Receives an instance's output as the guest writes it (raw bytes, any chunking), besides the log
// store — `run` in the foreground streams through this. Called on the instance's thread.
using OutputTee = std::function<void(bool is_stderr, std::string_view bytes)>;

class WasmRuntime final : public runtime::Runtime {
 public:
  // Opens state.db, makes the containers and cache directories, and records every 'wasm' row
  // whose owner process is gone as failed{agent exited}. `images` may be null (then only local
  // .wasm/.wat paths can be created) and must outlive the runtime.
  // Errors: state.db errors, errno-mapped directory errors.
  static Result<std::unique_ptr<WasmRuntime>> open(runtime::WasmConfig config,
                                                   image::ImageService* images);
  // Stops every instance this runtime holds (request_stop) and joins their threads; the rows of
  // those still created or running become exited (killed by SIGKILL, exit code 137).
  ~WasmRuntime() override;

  // True when `ref` names a local module file: it ends in .wasm or .wat, or starts with '/' or
  // "./" or "../" (then it must exist when created).
  [[nodiscard]] static bool is_local_module(std::string_view ref);

  // Pulls `ref` (preferring a WASI entry of an index) when it is not in the image store. Errors:
  // kFailedPrecondition without an image store, the pull's, kInvalidArgument when the image is
  // not a WASM artifact.
  Status pull_image(std::string_view ref) override;
  // Loads the module (module cache: disk by digest, then memory), builds the WASI context,
  // instantiates it (running its start function and, for a reactor, `_initialize`) and records
  // the row. Errors: kAlreadyExists, kNotFound (image not pulled, file missing), kInvalidArgument
  // (not a WASM image, invalid module, unresolved import, a module with neither `_start` nor
  // `main`, bad preopen), kUnsupported (a component); nothing is left behind on failure.
  Status create_container(const ContainerId& id, const runtime::ContainerConfig& config) override;
  // Runs the entry on the instance's own thread. Errors: kNotFound, kFailedPrecondition (not
  // created, or owned by another process).
  Status start_container(const ContainerId& id) override;
  // request_stop (and a WASI interrupt for a guest blocked in poll_oneoff); the module ends at its
  // next check, so `grace` only bounds the wait. Recorded as killed by SIGTERM (exit code 143).
  Status stop_container(const ContainerId& id, std::chrono::milliseconds grace) override;
  // Like stop, recorded as killed by `signal`. Errors: kNotFound, kFailedPrecondition (not
  // running, or owned by another process).
  Status kill_container(const ContainerId& id, int signal) override;
  // kUnsupported: the engine can stop a module but not freeze and resume it.
  Status pause_container(const ContainerId& id) override;
  Status unpause_container(const ContainerId& id) override;
  // Stops (if running in this process), joins, removes the directory and the row. Errors:
  // kFailedPrecondition when another live process runs it.
  Status remove_container(const ContainerId& id) override;
  // running / exited{code} / failed{reason}: from memory for this process's instances, else from
  // state.db (an instance whose owner died is failed{agent exited}).
  Result<runtime::ContainerState> container_state(const ContainerId& id) override;
  // Blocks until the instance ends (another process's: polls state.db every 20 ms).
  Result<runtime::ExitStatus> wait_container(const ContainerId& id) override;
  // From the CRI log store, readable while the module runs.
  Status container_logs(const ContainerId& id, const runtime::LogOptions& options,
                        const runtime::LogCallback& callback) override;
  // kUnsupported: a module is one instance with no process model to start a command in.
  Result<runtime::ExecResult> exec(const ContainerId& id,
                                   const runtime::ExecOptions& options) override;
  // Linear-memory bytes (memory_limit_bytes = the cap), instructions executed, thread CPU time.
  // Errors: kNotFound, kFailedPrecondition (owned by another process).
  Result<runtime::ContainerStats> container_stats(const ContainerId& id) override;
  // kUnsupported: the module runs on a thread of the agent, not in a process of its own.
  Result<int> container_pid(const ContainerId& id) override;
  // kUnsupported: WASI preview 1 has no sockets.
  Result<std::string> container_ip(const ContainerId& id) override;
  // Every 'wasm' row in state.db (all processes').
  Result<std::vector<ContainerId>> list_containers() override;

  // Sends the instance's output to `tee` as well as to the log store. Call before start.
  // Errors: kNotFound (not created in this process).
  Status attach(const ContainerId& id, OutputTee tee);

  // The CRI log file of an instance.
  [[nodiscard]] std::filesystem::path log_path(const ContainerId& id) const;
  [[nodiscard]] const ModuleCache& modules() const { return cache_; }

 private:
  struct Instance;
  WasmRuntime(runtime::WasmConfig config, image::ImageService* images, state::StateDb db);
  [[nodiscard]] std::filesystem::path instance_dir(const ContainerId& id) const;
  std::shared_ptr<Instance> find(const ContainerId& id);
  // The module bytes' digest, name and fetcher for image_ref.
  struct ModuleSource;
  Result<ModuleSource> module_source(const runtime::ContainerConfig& config);
  void run_instance(const std::shared_ptr<Instance>& instance);
  void finish(Instance& instance, runtime::ContainerState state);
  Status end_instance(const ContainerId& id, int signal, std::chrono::milliseconds wait);
  Status sweep_orphans();
  Result<state::Row> row(const ContainerId& id);
  Result<std::int64_t> db_exec(std::string_view sql, const std::vector<state::Value>& params);
  Result<std::vector<state::Row>> db_query(std::string_view sql,
                                           const std::vector<state::Value>& params);

  runtime::WasmConfig config_;
  image::ImageService* images_;
  ModuleCache cache_;
  std::mutex db_mutex_;
  state::StateDb db_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Instance>> instances_;
};

}  // namespace zlayer::wasm
