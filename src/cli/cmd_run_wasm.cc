// `run` for WebAssembly: a local .wasm/.wat file or a WASM artifact, in the foreground, on the
// wasm backend — and the wasm side of ps/logs/stop/rm. The module runs inside this process, so
// there is no -d: when `run` ends, so does the module.
#include "cli/cmd_run_wasm.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/run_support.h"
#include "core/quantity.h"
#include "core/paths.h"
#include "core/time_format.h"
#include "image/image_service.h"
#include "state/state_db.h"
#include "wasm/wasm_runtime.h"

namespace zlayer::cli {
namespace {

using wasm::WasmRuntime;

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed terminal or pipe: the module keeps running, output is logged
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

Result<runtime::WasmConfig> wasm_config() {
  runtime::WasmConfig config{.paths = Paths::from_env()};
  if (const char* limit = std::getenv("ZLAYER_WASM_MAX_EXECUTION_TIME"); limit && *limit) {
    auto parsed = parse_duration(limit);
    if (!parsed) return unexpected(parsed.error().wrap("ZLAYER_WASM_MAX_EXECUTION_TIME"));
    config.max_execution_time = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
  }
  return config;
}

// Docker's sig-proxy, for a module: the signal stops it and becomes its exit status (128+n).
// Blocked before the instance thread starts so only the sigwait thread takes them.
// The thread shares the runtime, so a signal that arrives while `run` is ending never reaches a
// destroyed one.
void stop_on_signals(std::shared_ptr<WasmRuntime> rt, const ContainerId& id) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  std::thread([rt = std::move(rt), id, set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) (void)rt->kill_container(id, sig);
  }).detach();
}

int run_module(const WasmRunRequest& request, image::ImageService* images,
               const runtime::WasmConfig& config) {
  runtime::ContainerConfig container;
  container.image_ref = request.rest.front();
  container.wasm.run_to_completion = true;
  for (const auto& kv : request.env) {
    if (kv.find('=') == std::string::npos || kv.front() == '=') {
      std::fprintf(stderr, "zlayer-agent: -e expects KEY=VALUE, not \"%s\"\n", kv.c_str());
      return 2;
    }
  }
  container.env = request.env;
  if (!request.memory.empty()) {
    auto bytes = parse_byte_quantity(request.memory);
    if (!bytes) return fail_run(bytes.error().wrap("--memory"));
    container.wasm.max_memory_bytes = *bytes;
  }
  // `run prog.wasm -- ARGS`: the `--` only separates the agent's flags from the module's.
  auto first_arg = request.rest.begin() + 1;
  if (first_arg != request.rest.end() && *first_arg == "--") ++first_arg;
  if (first_arg != request.rest.end()) {
    container.args = std::vector<std::string>(first_arg, request.rest.end());
  }
  auto id = container_id_for(request.name);
  if (!id) return fail_run(id.error());

  auto opened = WasmRuntime::open(config, images);
  if (!opened) return fail_run(opened.error());
  std::shared_ptr<WasmRuntime> runtime = std::move(*opened);
  WasmRuntime& rt = *runtime;
  if (auto created = rt.create_container(*id, container); !created) {
    return fail_run(created.error());
  }
  (void)rt.attach(*id, [](bool is_stderr, std::string_view bytes) {
    write_all(is_stderr ? STDERR_FILENO : STDOUT_FILENO, bytes);
  });
  stop_on_signals(runtime, *id);
  auto cleanup = [&] {
    if (!request.remove) return;
    if (auto removed = rt.remove_container(*id); !removed) {
      std::fprintf(stderr, "zlayer-agent: %s\n", removed.error().message.c_str());
    }
  };
  if (auto started = rt.start_container(*id); !started) {
    cleanup();
    return fail_run(started.error());
  }
  auto exit = rt.wait_container(*id);
  auto state = rt.container_state(*id);
  cleanup();
  if (exit) return exit->exit_code;
  if (!state || state->phase != runtime::ContainerState::Phase::kFailed) {
    return fail_run(exit.error());
  }
  std::fprintf(stderr, "zlayer-agent: %s: %s\n", id->str().c_str(), state->reason.c_str());
  // A trap is the module aborting (wasmtime reports 134 too); an exhausted budget or time limit
  // is the runtime killing it.
  return state->reason.rfind("trap", 0) == 0 ? 134 : 137;
}

}  // namespace

std::optional<int> run_wasm_if_wasm(const WasmRunRequest& request) {
  const std::string& what = request.rest.front();
  const bool local = WasmRuntime::is_local_module(what);
  std::unique_ptr<image::ImageService> images;
  auto config = wasm_config();
  if (!config) return fail_run(config.error());
  if (!local) {
    // The manifest decides: pull when missing (an index offering only a WASI build yields it).
    auto opened =
        image::ImageService::open(config->paths, image::RegistryOptions::default_options());
    if (!opened) return fail_run(opened.error());
    images = std::move(*opened);
    auto details = images->inspect(what);
    if (!details && details.error().code == Errc::kNotFound) {
      auto ref = image::Reference::parse(what);
      if (!ref) return fail_run(ref.error());
      auto pulled = images->pull(*ref);
      if (!pulled) return fail_run(pulled.error());
      details = std::move(pulled->image);
    }
    if (!details) return fail_run(details.error());
    if (details->record.kind != "wasm") return std::nullopt;
  }
  if (!request.container_flags.empty()) {
    std::string flags;
    for (const auto& f : request.container_flags) flags += (flags.empty() ? "" : ", ") + f;
    std::fprintf(stderr,
                 "zlayer-agent: %s: not supported for WebAssembly modules (they apply to Linux "
                 "containers; a module gets directories through a deployment's storage or "
                 "wasm.preopens)\n",
                 flags.c_str());
    return kAgentFailed;
  }
  if (request.detach) {
    std::fprintf(stderr,
                 "zlayer-agent: -d is not supported for WebAssembly modules: a module runs inside "
                 "the agent process that started it and ends with it\n");
    return kAgentFailed;
  }
  return run_module(request, images.get(), *config);
}

bool is_wasm_container(const std::string& name) {
  auto id = container_id_for(name);
  if (!id) return false;
  auto db = state::StateDb::open(Paths::from_env().state_db());
  if (!db) return false;
  auto rows = db->query("SELECT 1 FROM containers WHERE id = ?1 AND backend = 'wasm'", {id->str()});
  return rows && !rows->empty();
}

Result<std::unique_ptr<runtime::Runtime>> open_wasm_runtime() {
  ZLAYER_TRY(config, wasm_config());
  ZLAYER_TRY(rt, WasmRuntime::open(std::move(config), nullptr));
  return std::unique_ptr<runtime::Runtime>(std::move(rt));
}

Result<std::vector<runtime::linux::ContainerDetails>> wasm_container_details() {
  ZLAYER_TRY(config, wasm_config());
  ZLAYER_TRY(rt, WasmRuntime::open(config, nullptr));
  ZLAYER_TRY(db, state::StateDb::open(config.paths.state_db()));
  ZLAYER_TRY(rows, db.query("SELECT id, image, created_at, started_at, finished_at FROM "
                            "containers WHERE backend = 'wasm' ORDER BY id"));
  const auto time_of = [](const state::Value& v) -> std::optional<Clock::WallTime> {
    if (!std::holds_alternative<std::int64_t>(v)) return std::nullopt;
    return std::chrono::system_clock::from_time_t(static_cast<std::time_t>(state::as_int(v)));
  };
  std::vector<runtime::linux::ContainerDetails> out;
  for (const auto& row : rows) {
    auto id = ContainerId::parse(state::as_string(row[0]));
    if (!id) continue;  // not one of ours
    auto state = rt->container_state(*id);
    if (!state && state.error().code == Errc::kNotFound) continue;  // removed meanwhile
    if (!state) return unexpected(state.error());
    runtime::linux::ContainerDetails d;
    d.id = *id;
    d.image = state::as_string(row[1]);
    d.state = *state;
    d.created_at = time_of(row[2]);
    d.started_at = time_of(row[3]);
    d.finished_at = time_of(row[4]);
    d.network_mode = "none";
    d.log_path = rt->log_path(*id);
    d.oci_runtime = "wasm";
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace zlayer::cli
