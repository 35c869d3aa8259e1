#include "image/wasm_artifact.h"

#include <fmt/format.h>

namespace zlayer::image {

bool is_wasm_media_type(std::string_view t) {
  return t == media_type::kWasmConfigV0 || t == media_type::kWasmConfigV1 ||
         t == media_type::kWasmLayer || t == media_type::kWasm;
}

bool is_wasm_platform(const Platform& platform) {
  return platform.architecture == "wasm" && (platform.os == "wasip1" || platform.os == "wasi");
}

bool is_wasm_artifact(const ImageManifest& m) {
  if (is_wasm_media_type(m.config.media_type) || is_wasm_media_type(m.artifact_type)) return true;
  for (const auto& l : m.layers) {
    if (is_wasm_media_type(l.media_type)) return true;
  }
  return false;
}

Result<Descriptor> wasm_module_layer(const ImageManifest& manifest, std::string_view image) {
  for (const auto& l : manifest.layers) {
    if (is_wasm_media_type(l.media_type)) return l;
  }
  if (manifest.layers.size() == 1) return manifest.layers.front();
  return errorf(Errc::kInvalidArgument,
                "{}: a WASM artifact needs one layer of type {} (it has {} layers, none of a wasm "
                "type)",
                image, media_type::kWasmLayer, manifest.layers.size());
}

const std::vector<Platform>& wasm_platforms() {
  static const std::vector<Platform> platforms{{"wasip1", "wasm", "", ""},
                                               {"wasi", "wasm", "", ""}};
  return platforms;
}

Status check_wasm_preamble(std::string_view bytes, std::string_view name) {
  if (bytes.size() < 8 || bytes.substr(0, 4) != std::string_view("\0asm", 4)) {
    return errorf(Errc::kInvalidArgument,
                  "{} is not a WebAssembly binary (it does not start with \"\\0asm\")", name);
  }
  // Core modules: version 1, layer 0. Components: version 0x0d (pre-1.0 encoding), layer 1.
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (byte(6) == 1 && byte(7) == 0) {
    return errorf(Errc::kUnsupported,
                  "{} is a WebAssembly component (preview 2); only core modules (WASI preview 1) "
                  "are supported: build it for wasm32-wasip1",
                  name);
  }
  if (byte(4) != 1 || byte(5) != 0 || byte(6) != 0 || byte(7) != 0) {
    return errorf(Errc::kInvalidArgument,
                  "{}: unknown WebAssembly binary version {:02x} {:02x} {:02x} {:02x} (expected "
                  "01 00 00 00)",
                  name, byte(4), byte(5), byte(6), byte(7));
  }
  return {};
}

}  // namespace zlayer::image
