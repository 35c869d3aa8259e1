// Builds OCI images for tests and benchmarks and writes them as OCI image layouts
// (image-spec image-layout.md: oci-layout, index.json, blobs/sha256/<hex>), the way umoci and
// skopeo's `oci:` transport do; pushes a layout tag to a registry with `skopeo copy`. Also the
// example image: a busybox rootfs from Debian's busybox-static. Values and free functions; not
// thread-safe per object, no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"
#include "support/registry_fixture.h"
#include "support/tar_builder.h"

namespace zlayer::testing {

// The runtime part of an image config (OCI config.md "config" object; Docker's names in JSON).
struct OciImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string user;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::vector<std::string> volumes;        // container paths
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::string stop_signal;                 // "SIGTERM"
};

// One platform image: layers (bottom first), config, platform.
class OciImage {
 public:
  // `tar` is the uncompressed layer tar; it is stored compressed with `compression` (media type
  // ...tar, ...tar+gzip or ...tar+zstd). The diff_id is the sha256 of `tar`.
  OciImage& add_layer(std::string tar, TarCompression compression = TarCompression::kGzip);
  OciImage& config(OciImageConfig config);
  OciImage& platform(std::string os, std::string architecture, std::string variant = "");
  // Annotations of the image manifest.
  OciImage& annotation(std::string key, std::string value);

  struct Layer {
    std::string tar;
    TarCompression compression;
  };
  [[nodiscard]] const std::vector<Layer>& layers() const { return layers_; }
  [[nodiscard]] const OciImageConfig& config() const { return config_; }
  [[nodiscard]] const std::string& os() const { return os_; }
  [[nodiscard]] const std::string& architecture() const { return architecture_; }
  [[nodiscard]] const std::string& variant() const { return variant_; }
  [[nodiscard]] const std::map<std::string, std::string>& annotations() const {
    return annotations_;
  }

 private:
  std::vector<Layer> layers_;
  OciImageConfig config_;
  std::string os_ = "linux";
  std::string architecture_ = "amd64";
  std::string variant_;
  std::map<std::string, std::string> annotations_;
};

// A multi-platform image: an OCI image index whose manifests carry their platform.
class OciImageIndex {
 public:
  OciImageIndex& add(OciImage image);
  [[nodiscard]] const std::vector<OciImage>& images() const { return images_; }

 private:
  std::vector<OciImage> images_;
};

// One index.json entry to write: `tag` becomes its org.opencontainers.image.ref.name annotation
// (empty tag: no annotation, as an untagged layout entry).
struct LayoutTag {
  std::string tag;
  std::variant<OciImage, OciImageIndex> image;
};

// What write_layout wrote for one platform image ("sha256:<hex>" strings; sizes in bytes).
struct WrittenManifest {
  std::string digest;  // manifest digest
  std::int64_t size = 0;
  std::string config_digest;
  std::vector<std::string> layer_digests;  // of the stored (compressed) blobs, bottom first
  std::vector<std::int64_t> layer_sizes;   // compressed sizes
  std::vector<std::string> diff_ids;       // sha256 of the uncompressed tars
  std::string platform;                    // "linux/arm/v7"
};

// What write_layout wrote for one tag.
struct WrittenImage {
  std::string media_type;  // OCI manifest or OCI index
  std::string digest;      // the descriptor index.json points at
  std::int64_t size = 0;
  std::vector<WrittenManifest> manifests;  // one for an image, one per platform for an index
};

// Writes the images into the OCI layout `dir` (created if missing): every blob under
// blobs/sha256/<hex>, `oci-layout` = {"imageLayoutVersion":"1.0.0"}, and index.json with one
// descriptor per tag. When `dir` already holds a layout, its index.json entries are kept except
// those whose tag is written again (skopeo's behaviour). Configs get rootfs.diff_ids and one
// history entry per layer; `created` is fixed (2024-01-01T00:00:00Z) so equal inputs give equal
// digests. Returns what was written, by tag. Errors: errno-mapped write errors; kInvalidArgument
// for an index without images.
Result<std::map<std::string, WrittenImage>> write_layout(const std::filesystem::path& dir,
                                                         const std::vector<LayoutTag>& tags);

// A busybox root filesystem as an uncompressed tar: /bin/busybox (from busybox-static) with
// symlinks sh, ls, echo, cat, true, false, sleep, env, id (plus a few more), /etc/passwd and
// /etc/group (root, nobody), and empty /dev, /proc, /sys, /tmp (1777), /root, /var.
// Errors: kNotFound when /bin/busybox is missing (install busybox-static).
Result<std::string> busybox_rootfs_tar();

// The example image: one gzip busybox layer for the host platform, Cmd ["/bin/sh"], a PATH env.
Result<OciImage> busybox_image();

// A tiny layer (one small file) for images of platforms that are never run.
std::string dummy_layer_tar(std::string_view content);

enum class PushFormat {
  kOci,         // the tag's image manifest as is (OCI media types)
  kDockerV2s2,  // converted by skopeo to Docker manifest v2 schema 2 (recompressed layers)
  kAll,         // an image index with every platform (`skopeo copy --all`)
};

// Pushes `layout_dir`:`tag` to `endpoint` as `name` ("ns/repo:tag") with
// `skopeo copy [--all] [--format v2s2] oci:<dir>:<tag> docker://<host:port>/<name>`.
// Plain http endpoints get --dest-tls-verify=false; TLS endpoints are verified against
// endpoint.cert_dir and get --dest-creds. Errors: kNotFound when skopeo is missing; kInternal
// quoting skopeo's stderr when it fails.
Status push(const std::filesystem::path& layout_dir, std::string_view tag,
            const RegistryEndpoint& endpoint, std::string_view name, PushFormat format);
Status push(const std::filesystem::path& layout_dir, std::string_view tag,
            const RegistryFixture& registry, std::string_view name, PushFormat format);

// The raw manifest (or index) bytes of `name` as the registry serves them
// (`skopeo inspect --raw docker://<host:port>/<name>`). Errors as push().
Result<std::string> inspect_raw(const RegistryEndpoint& endpoint, std::string_view name);

// "sha256:<hex>" of `bytes` (OpenSSL; kept here so test support needs no image library).
std::string sha256_digest(std::string_view bytes);

}  // namespace zlayer::testing
