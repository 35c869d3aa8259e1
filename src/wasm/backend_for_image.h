// Which backend runs an image: WASM is chosen per image from its manifest (wasm artifact media
// types, artifactType, or a wasip1/wasi + wasm platform — image/wasm_artifact.h), never by
// guessing from a reference; only local module paths (.wasm/.wat) are recognised by name.
// create_runtime_for_image joins that choice with the container backend the caller builds
// (create_runtime(RuntimeConfig) in src/runtime, or LinuxRuntime::open). Thread-safe as
// ImageService is.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "image/image_service.h"
#include "runtime/runtime.h"
#include "wasm/wasm_runtime.h"

namespace zlayer::wasm {

enum class ImageBackend { kLinux, kWasm };

// "linux" / "wasm".
[[nodiscard]] std::string_view backend_name(ImageBackend backend);

// kWasm for a local module path or a pulled image whose record kind is "wasm"; kLinux for other
// pulled images. Errors: kNotFound when `ref` is not pulled (pull it first), inspect's others.
Result<ImageBackend> backend_for_image(image::ImageService& images, std::string_view ref);

// The backend that can run `ref`: a WasmRuntime opened with `wasm` for WASM, else what
// `make_container_runtime` returns. Errors: backend_for_image's, the chosen backend's open().
Result<std::unique_ptr<runtime::Runtime>> create_runtime_for_image(
    std::string_view ref, image::ImageService& images, const runtime::WasmConfig& wasm,
    const std::function<Result<std::unique_ptr<runtime::Runtime>>()>& make_container_runtime);

}  // namespace zlayer::wasm
