// A small, bounds-checked reader of the WebAssembly binary layout (preamble, section headers, the
// import and code sections' framing), used only to classify a blob and to turn a decoder or
// validator error offset into "code section, function 3". It never trusts a length: garbage yields
// "unknown" answers, never an out-of-range read. Follows the core specification 1.0, section 5
// (binary format), and the component model's preamble (version 0x0d, layer 1).
// Internal to the engine; C++17.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace zlayer::wasm::detail {

enum class Preamble {
  kCoreModule,    // "\0asm" version 1, layer 0
  kComponent,     // "\0asm" with layer field 1 (component model, WASI preview 2)
  kOtherVersion,  // "\0asm" with any other version
  kNotBinary,     // does not start with "\0asm" (WAT text, or garbage)
};

Preamble classify_preamble(const std::uint8_t* data, std::size_t size);

// Names where byte `offset` of a binary module lies: "type section", "code section, function 3"
// (function index in the module's function index space, imports included), "custom section
// \"name\"", or "offset 0x1f" when the layout cannot be followed that far.
std::string describe_offset(const std::uint8_t* data, std::size_t size, std::size_t offset);

}  // namespace zlayer::wasm::detail
