#include "wasm/engine/binary_scan.h"

#include <cstdio>
#include <optional>

namespace zlayer::wasm::detail {
namespace {

constexpr std::uint8_t kMagic[4] = {0x00, 0x61, 0x73, 0x6d};

// Reads without ever leaving [data, data + size).
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size, std::size_t pos = 0)
      : data_(data), size_(size), pos_(pos) {}
  std::size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= size_; }

  std::optional<std::uint8_t> byte() {
    if (pos_ >= size_) return std::nullopt;
    return data_[pos_++];
  }
  // Unsigned LEB128 of at most 32 significant bits (5 bytes), as every length and index is.
  std::optional<std::uint32_t> u32() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      auto b = byte();
      if (!b) return std::nullopt;
      value |= static_cast<std::uint64_t>(*b & 0x7f) << shift;
      if ((*b & 0x80) == 0) {
        if (value > 0xffffffffu) return std::nullopt;
        return static_cast<std::uint32_t>(value);
      }
    }
    return std::nullopt;
  }
  // Unsigned LEB128 up to 64 bits (memory64 limits).
  bool skip_u64() {
    for (int i = 0; i < 10; ++i) {
      auto b = byte();
      if (!b) return false;
      if ((*b & 0x80) == 0) return true;
    }
    return false;
  }
  bool skip(std::size_t n) {
    if (n > size_ - pos_) return false;
    pos_ += n;
    return true;
  }
  std::optional<std::string> name() {
    auto len = u32();
    if (!len || *len > size_ - pos_) return std::nullopt;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), *len);
    pos_ += *len;
    return s;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_;
};

const char* section_name(std::uint8_t id) {
  static const char* const kNames[] = {"custom", "type",   "import", "function", "table",
                                       "memory", "global", "export", "start",    "element",
                                       "code",   "data",   "data count", "tag"};
  return id < sizeof(kNames) / sizeof(kNames[0]) ? kNames[id] : nullptr;
}

bool skip_limits(Reader& r) {
  auto flags = r.byte();
  if (!flags) return false;
  if (!r.skip_u64()) return false;
  if ((*flags & 1) != 0 && !r.skip_u64()) return false;
  return true;
}

// Counts function imports; nullopt when the section cannot be followed.
std::optional<std::uint32_t> count_func_imports(Reader r) {
  auto count = r.u32();
  if (!count) return std::nullopt;
  std::uint32_t funcs = 0;
  for (std::uint32_t i = 0; i < *count; ++i) {
    if (!r.name() || !r.name()) return std::nullopt;
    auto kind = r.byte();
    if (!kind) return std::nullopt;
    switch (*kind) {
      case 0:  // func: type index
        if (!r.u32()) return std::nullopt;
        ++funcs;
        break;
      case 1:  // table: reftype + limits
        if (!r.byte() || !skip_limits(r)) return std::nullopt;
        break;
      case 2:  // memory: limits
        if (!skip_limits(r)) return std::nullopt;
        break;
      case 3:  // global: valtype + mutability
        if (!r.byte() || !r.byte()) return std::nullopt;
        break;
      case 4:  // tag: attribute + type index
        if (!r.byte() || !r.u32()) return std::nullopt;
        break;
      default:
        return std::nullopt;
    }
  }
  return funcs;
}

std::string hex_offset(std::size_t offset) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "offset 0x%zx", offset);
  return buf;
}

}  // namespace

Preamble classify_preamble(const std::uint8_t* data, std::size_t size) {
  if (size < 4 || data[0] != kMagic[0] || data[1] != kMagic[1] || data[2] != kMagic[2] ||
      data[3] != kMagic[3]) {
    return Preamble::kNotBinary;
  }
  if (size < 8) return Preamble::kOtherVersion;
  // Bytes 4-5: version, 6-7: layer (little-endian). Core modules are version 1, layer 0.
  const unsigned version = data[4] | (data[5] << 8);
  const unsigned layer = data[6] | (data[7] << 8);
  if (layer == 1) return Preamble::kComponent;
  if (version == 1 && layer == 0) return Preamble::kCoreModule;
  return Preamble::kOtherVersion;
}

std::string describe_offset(const std::uint8_t* data, std::size_t size, std::size_t offset) {
  if (offset < 8) return "preamble";
  Reader r(data, size, 8);
  std::uint32_t func_imports = 0;
  while (!r.at_end()) {
    const std::size_t header = r.pos();
    auto id = r.byte();
    auto len = r.u32();
    if (!id || !len) break;
    const std::size_t body = r.pos();
    const char* name = section_name(*id);
    if (name == nullptr) return hex_offset(offset);
    const bool truncated = *len > size - body;
    const std::size_t end = truncated ? size : body + *len;
    if (offset >= header && (offset < end || truncated || end == size)) {
      if (*id == 0) {
        Reader cr(data, end, body);
        if (auto custom = cr.name()) return "custom section \"" + *custom + "\"";
        return "custom section";
      }
      std::string where = std::string(name) + " section";
      if (*id == 10) {
        Reader cr(data, end, body);
        auto count = cr.u32();
        for (std::uint32_t i = 0; count && i < *count; ++i) {
          const std::size_t start = cr.pos();
          auto body_len = cr.u32();
          if (!body_len) break;
          const bool last = *body_len > end - cr.pos();
          if ((offset >= start && offset < cr.pos() + *body_len) || last) {
            return where + ", function " + std::to_string(func_imports + i);
          }
          cr.skip(*body_len);
        }
      }
      return where;
    }
    if (*id == 2) {
      if (auto n = count_func_imports(Reader(data, end, body))) func_imports = *n;
    }
    if (truncated) break;
    r.skip(*len);
  }
  return hex_offset(offset);
}

}  // namespace zlayer::wasm::detail
