// Recognising WebAssembly in the image pipeline: which manifests are WASM artifacts, which layer
// holds the module, and whether a module is a core module (WASI preview 1, which we run) or a
// component (preview 2, which we refuse). Three shapes are recognised:
//   1. wasm-to-oci / wasm OCI artifacts: config `application/vnd.wasm.config.v0+json`/`v1+json`,
//      layer `application/vnd.wasm.content.layer.v1+wasm` or `application/wasm`;
//   2. OCI 1.1 artifacts whose `artifactType` is one of those types;
//   3. Docker+Wasm images: an ordinary image config whose platform is `wasip1`/`wasi` + `wasm`,
//      with tar layers holding the module at the config's entrypoint path.
// Shapes 1 and 2 are stored as blobs and never unpacked; shape 3 is unpacked like any image.
// Sources: CNCF TAG Runtime "OCI artifacts for Wasm" (wasm.config.v0), OCI image-spec v1.1
// manifest.md (artifactType), the WebAssembly binary format §5.5.16 and component-model
// Binary.md (the preamble). Values only; thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "image/manifest.h"

namespace zlayer::image {

// True for the wasm config and layer media types of shape 1 (and shape 2's artifactType).
[[nodiscard]] bool is_wasm_media_type(std::string_view media_type);

// True for `wasip1`/`wasi` + `wasm` (shape 3, and index entries a WASM pull may pick).
[[nodiscard]] bool is_wasm_platform(const Platform& platform);

// True when `manifest` is a WASM artifact of shape 1 or 2 (its blobs are not tar layers).
[[nodiscard]] bool is_wasm_artifact(const ImageManifest& manifest);

// The layer of a shape 1/2 artifact that holds the module: the first layer with a wasm media type,
// else the only layer. Errors: kInvalidArgument naming `image` when there is none or several
// candidates and none has a wasm media type.
Result<Descriptor> wasm_module_layer(const ImageManifest& manifest, std::string_view image);

// The platforms a WASM pull may pick from an index, in order of preference.
[[nodiscard]] const std::vector<Platform>& wasm_platforms();

// Checks the first bytes of a module: the "\0asm" magic and the core-module version 1 (bytes
// 01 00 00 00). A component has version 0x0d with layer 1 (bytes 0d 00 01 00). `name` is used in
// messages. Errors: kUnsupported for a component ("<name> is a WebAssembly component (preview 2);
// only core modules (WASI preview 1) are supported: build for wasm32-wasip1"), kInvalidArgument
// when the bytes are not a WebAssembly binary at all.
Status check_wasm_preamble(std::string_view first_bytes, std::string_view name);

}  // namespace zlayer::image
