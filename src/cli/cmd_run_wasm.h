// `run` of WebAssembly modules (the wasm backend, wasm/wasm_runtime.h) and the backend choice for
// verbs that act on existing containers. `run` calls run_wasm_if_wasm() first; it takes over for
// a local .wasm/.wat file or an image whose kind is "wasm", and declines (nullopt) for container
// images. Main thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/linux/linux_runtime.h"
#include "runtime/runtime.h"

namespace zlayer::cli {

struct WasmRunRequest {
  bool remove = false;
  bool detach = false;
  std::string name;
  std::vector<std::string> env;
  std::string memory;             // --memory: caps linear memory
  std::vector<std::string> rest;  // MODULE|IMAGE [--] ARGS...
  // Container-only flags that were given ("-v", "-p", ...): a module refuses them (125) rather
  // than ignore them.
  std::vector<std::string> container_flags;
};

// Runs the module in the foreground, streaming its stdout/stderr, and returns its exit code:
// the module's own (proc_exit / _start returning: 0), 128+n when stopped by signal n (SIGINT,
// SIGTERM, SIGHUP, SIGQUIT sent to `run` stop the module), 134 after a trap, 137 when its
// instruction budget or $ZLAYER_WASM_MAX_EXECUTION_TIME (a Go duration, e.g. 30s) ran out, 125
// when the agent fails before the module runs, 2 for usage errors. nullopt: not a WASM module.
std::optional<int> run_wasm_if_wasm(const WasmRunRequest& request);

// True when state.db records `name` (NAME or NAME-rep-N) as a container of the wasm backend.
bool is_wasm_container(const std::string& name);

// A wasm backend for verbs on existing containers (logs, stop, rm, ps).
Result<std::unique_ptr<runtime::Runtime>> open_wasm_runtime();

// Every instance of the wasm backend (modules run by `run` or by a deploy, in whichever process),
// as `ps` and `inspect` show containers: id, image, state (a module whose process is gone is
// failed{agent exited}), created/started/finished times, the CRI log path; network "none", no
// pid, no bundle, oci_runtime "wasm". Errors: state.db's.
Result<std::vector<runtime::linux::ContainerDetails>> wasm_container_details();

}  // namespace zlayer::cli
