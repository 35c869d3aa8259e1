// create_runtime(): picks and opens a container backend from a RuntimeConfig, the C++ shape of the
// seed's `RuntimeConfig` enum (../shared/DESIGN.md §2): Auto | Linux | Docker | Wasm | Composite.
// Auto on Linux opens the linux backend when an OCI runtime works here, else the Docker backend
// when its socket answers, else fails with every attempt and its reason. Wasm opens the in-process
// WASM backend (wasm/wasm_runtime.h). Backends that do not exist yet (Docker, Composite — for a
// per-image choice use wasm::create_runtime_for_image) return kUnsupported with a sentence.
// Blocking (probes run child processes); any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "image/image_service.h"
#include "runtime/linux/linux_runtime.h"
#include "runtime/runtime.h"
#include "wasm/wasm_runtime.h"  // runtime::WasmConfig

namespace zlayer::runtime {

// Let the machine decide (see create_runtime). `linux` carries the linux backend's settings
// (directories, forced OCI runtime, cgroup parent) for when it is the one chosen.
struct AutoConfig {
  linux::LinuxConfig linux;
};

// The Docker Engine backend (not built yet).
struct DockerConfig {
  std::filesystem::path socket = "/var/run/docker.sock";
};


// Linux containers and WASM modules side by side, the backend chosen per image from its
// manifest (create_runtime_for_image in DESIGN.md §2).
struct CompositeConfig {
  linux::LinuxConfig linux;
  WasmConfig wasm;
};

using RuntimeConfig =
    std::variant<AutoConfig, linux::LinuxConfig, DockerConfig, WasmConfig, CompositeConfig>;

// One backend create_runtime() tried and did not use, and why.
struct RejectedBackend {
  std::string backend;  // "linux", "docker", "wasm"
  std::string reason;   // a sentence
};

struct OpenedRuntime {
  std::unique_ptr<Runtime> runtime;
  std::string backend;                    // "linux", …
  std::vector<RejectedBackend> rejected;  // Auto: what was tried before it
  // The linux backend when that is what was opened (for `info`); owned by `runtime`.
  linux::LinuxRuntime* linux = nullptr;
};

// Opens the backend `config` names. `images` must outlive the runtime.
// Errors: the backend's open errors (LinuxRuntime::open: kUnavailable listing every OCI runtime
// candidate and why it failed); WasmRuntime::open's errors for Wasm; kUnsupported for Docker and
// Composite, which have no backend yet; Auto: kUnavailable listing each backend tried and why it failed.
[[nodiscard]] Result<OpenedRuntime> create_runtime(const RuntimeConfig& config,
                                                   image::ImageService& images);

// "auto", "linux", "docker", "wasm", "composite" (messages, `info`).
[[nodiscard]] std::string_view runtime_config_name(const RuntimeConfig& config);

}  // namespace zlayer::runtime
