// OCI image-spec and Docker schema-2 documents: descriptors, image manifests, image indexes /
// manifest lists, image configs, and platform selection. Parsing keeps the raw bytes' digest
// (computed by the caller over the bytes received, never over re-serialised JSON).
// Follows OCI image-spec v1.1 (descriptor.md, manifest.md, image-index.md, config.md) and Docker's
// manifest v2 schema 2. Values only; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"
#include "image/digest.h"

namespace zlayer::image {

namespace media_type {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNondistGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
inline constexpr std::string_view kWasmConfigV0 = "application/vnd.wasm.config.v0+json";
inline constexpr std::string_view kWasmConfigV1 = "application/vnd.wasm.config.v1+json";
inline constexpr std::string_view kWasmLayer = "application/vnd.wasm.content.layer.v1+wasm";
inline constexpr std::string_view kWasm = "application/wasm";

// The Accept header value for manifest requests: every manifest and index type we parse.
std::string manifest_accept_header();
}  // namespace media_type

// Layer compression, from the media type (then, when the type says nothing, from magic bytes).
enum class Compression { kNone, kGzip, kZstd, kUnknown };
Compression compression_from_media_type(std::string_view media_type);
// Detects gzip (1f 8b), zstd (28 b5 2f fd) or plain from the first bytes of a blob.
Compression compression_from_magic(std::string_view first_bytes);

struct Platform {
  std::string os;            // "linux", "wasip1"
  std::string architecture;  // GOARCH names: "amd64", "arm64", "arm", "wasm"
  std::string variant;       // "v7", "v8", or empty
  std::string os_version;

  // "os/arch[/variant]". Errors: kInvalidArgument quoting the text.
  static Result<Platform> parse(std::string_view text);
  // The machine we run on (linux/amd64, linux/arm64/v8, …).
  static Platform host();
  [[nodiscard]] std::string str() const;
  bool operator==(const Platform&) const = default;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::int64_t size = 0;  // bytes
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string artifact_type;
};

struct ImageManifest {
  std::string media_type;  // from the body, else from the response's Content-Type
  Descriptor config;
  std::vector<Descriptor> layers;
  std::string artifact_type;
  std::map<std::string, std::string> annotations;
};

struct ImageIndex {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

// The parts of the image config (OCI config.md / Docker image JSON) the agent uses.
struct ImageConfig {
  Platform platform;
  std::string user;
  std::vector<std::string> env;  // "KEY=value"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string stop_signal;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> volumes;        // container paths
  std::map<std::string, std::string> labels;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids, bottom layer first
  std::string created;           // RFC 3339 as given
};

using ManifestDocument = std::variant<ImageManifest, ImageIndex>;

// Parses a manifest or index. `content_type` is the HTTP Content-Type (may be empty or generic:
// then the body's mediaType, else its shape — "manifests" array → index, "config"+"layers" →
// manifest — decides). Errors: kUnsupported for Docker schema 1 ("schema 1 manifests are not
// supported; re-push the image with a current Docker or skopeo"); kInvalidArgument when the body
// is not JSON (e.g. an HTML page: the message quotes its first bytes) or lacks required fields.
Result<ManifestDocument> parse_manifest(std::string_view body, std::string_view content_type);

// Parses an image config blob. Errors: kInvalidArgument naming the bad field.
Result<ImageConfig> parse_image_config(std::string_view body);

// Picks the manifest for `want` from an index, independent of list order: os and architecture
// must match; then an exact variant match wins, else a compatible variant (arm64: "" ≡ "v8";
// arm: the highest variant ≤ wanted), else an entry without variant. Entries of type
// "attestation-manifest" (annotation vnd.docker.reference.type) are ignored.
// Errors: kNotFound listing the platforms the index offers.
Result<Descriptor> select_platform(const ImageIndex& index, const Platform& want);

}  // namespace zlayer::image
