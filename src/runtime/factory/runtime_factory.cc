#include "runtime/factory/runtime_factory.h"

#include <fmt/format.h>

namespace zlayer::runtime {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

Result<OpenedRuntime> open_linux(const linux::LinuxConfig& config, image::ImageService& images) {
  ZLAYER_TRY(opened, linux::LinuxRuntime::open(config, images));
  OpenedRuntime result;
  result.linux = opened.get();
  result.runtime = std::move(opened);
  result.backend = "linux";
  return result;
}

tl::unexpected<Error> docker_missing() {
  return errorf(Errc::kUnsupported,
                "the docker backend is not built yet: linux containers run through an OCI "
                "runtime (crun, runc, youki) instead");
}

tl::unexpected<Error> composite_missing() {
  return errorf(Errc::kUnsupported,
                "the composite backend is not built yet: wasm::create_runtime_for_image picks the "
                "linux or wasm backend for each image instead");
}

Result<OpenedRuntime> open_wasm(const WasmConfig& config, image::ImageService& images) {
  ZLAYER_TRY(runtime, wasm::WasmRuntime::open(config, &images));
  OpenedRuntime result;
  result.runtime = std::move(runtime);
  result.backend = "wasm";
  return result;
}

}  // namespace

std::string_view runtime_config_name(const RuntimeConfig& config) {
  return std::visit(Overloaded{[](const AutoConfig&) { return std::string_view("auto"); },
                               [](const linux::LinuxConfig&) { return std::string_view("linux"); },
                               [](const DockerConfig&) { return std::string_view("docker"); },
                               [](const WasmConfig&) { return std::string_view("wasm"); },
                               [](const CompositeConfig&) {
                                 return std::string_view("composite");
                               }},
                    config);
}

Result<OpenedRuntime> create_runtime(const RuntimeConfig& config, image::ImageService& images) {
  return std::visit(
      Overloaded{
          [&](const AutoConfig& automatic) -> Result<OpenedRuntime> {
            std::vector<RejectedBackend> rejected;
            auto linux_backend = open_linux(automatic.linux, images);
            if (linux_backend) return linux_backend;
            rejected.push_back({"linux", linux_backend.error().message});
            // Docker is next in DESIGN.md §2's order; it has no backend to open yet.
            rejected.push_back({"docker", docker_missing().value().message});
            std::string reasons;
            for (const auto& r : rejected) reasons += fmt::format("; {}: {}", r.backend, r.reason);
            return errorf(Errc::kUnavailable, "no container backend works here{}", reasons);
          },
          [&](const linux::LinuxConfig& linux_config) { return open_linux(linux_config, images); },
          [](const DockerConfig&) -> Result<OpenedRuntime> { return docker_missing(); },
          [&](const WasmConfig& wasm_config) { return open_wasm(wasm_config, images); },
          [](const CompositeConfig&) -> Result<OpenedRuntime> {
            return composite_missing();
          }},
      config);
}

}  // namespace zlayer::runtime
