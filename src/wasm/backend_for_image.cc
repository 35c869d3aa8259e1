#include "wasm/backend_for_image.h"

namespace zlayer::wasm {

std::string_view backend_name(ImageBackend backend) {
  return backend == ImageBackend::kWasm ? "wasm" : "linux";
}

Result<ImageBackend> backend_for_image(image::ImageService& images, std::string_view ref) {
  if (WasmRuntime::is_local_module(ref)) return ImageBackend::kWasm;
  ZLAYER_TRY(details, images.inspect(ref));
  return details.record.kind == "wasm" ? ImageBackend::kWasm : ImageBackend::kLinux;
}

Result<std::unique_ptr<runtime::Runtime>> create_runtime_for_image(
    std::string_view ref, image::ImageService& images, const runtime::WasmConfig& wasm,
    const std::function<Result<std::unique_ptr<runtime::Runtime>>()>& make_container_runtime) {
  ZLAYER_TRY(backend, backend_for_image(images, ref));
  if (backend == ImageBackend::kLinux) return make_container_runtime();
  ZLAYER_TRY(runtime, WasmRuntime::open(wasm, &images));
  return std::unique_ptr<runtime::Runtime>(std::move(runtime));
}

}  // namespace zlayer::wasm
