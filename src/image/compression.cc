// Layer compression detection (manifest.h): from the descriptor's media type first, then from the
// blob's magic bytes when the type says nothing (OCI image-spec media-types.md, Docker schema 2).
#include <string_view>

#include "image/manifest.h"

namespace zlayer::image {

Compression compression_from_media_type(std::string_view type) {
  // Parameters ("; foo=bar") never change the compression.
  if (auto semicolon = type.find(';'); semicolon != std::string_view::npos) {
    type = type.substr(0, semicolon);
  }
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  if (type.ends_with("+gzip") || type.ends_with(".tar.gzip") || type == "application/gzip" ||
      type == "application/x-gzip") {
    return Compression::kGzip;
  }
  if (type.ends_with("+zstd") || type.ends_with(".tar.zstd") || type == "application/zstd") {
    return Compression::kZstd;
  }
  if (type.ends_with(".tar") || type == "application/x-tar") return Compression::kNone;
  return Compression::kUnknown;
}

Compression compression_from_magic(std::string_view first_bytes) {
  auto starts = [&](std::string_view magic) { return first_bytes.starts_with(magic); };
  if (starts(std::string_view("\x1f\x8b", 2))) return Compression::kGzip;
  if (starts(std::string_view("\x28\xb5\x2f\xfd", 4))) return Compression::kZstd;
  return Compression::kNone;
}

}  // namespace zlayer::image
