// ImageService: the image pipeline end to end — resolve a reference at a registry (or in an OCI
// image layout), store manifests/configs/layers in the content store, unpack every layer into
// its snapshot (pull unpacks, so a bad layer fails at pull), and record the tag in state.db.
// It owns one RegistryClient, the ContentStore and the SnapshotStore under Paths. Callable from
// any thread, but one pull at a time per object (each pull uses its own download threads).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "image/content_store.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/registry_client.h"

namespace zlayer::image {

// File in a container's directory listing the diff_ids of the snapshots its rootfs uses (one per
// line); written by the backend at create, read by ImageService::prune.
inline constexpr const char* kContainerSnapshotsFile = "snapshots";

// One step of a pull, for progress displays. Events come from download threads, serialised by
// the service (the callback never runs on two threads at once).
struct PullEvent {
  enum class Phase {
    kResolved,
    kWaiting,
    kDownloading,
    kDownloaded,
    kExists,
    kUnpacking,
    kUnpacked
  };
  Phase phase = Phase::kWaiting;
  std::string id;            // short layer digest (12 hex), or the image reference for kResolved
  std::int64_t current = 0;  // bytes so far (kDownloading)
  std::int64_t total = 0;    // bytes expected
};

struct PullOptions {
  std::optional<Platform> platform;  // default: the host's platform
  int max_concurrent_downloads = 3;
  std::function<void(const PullEvent&)> progress;
};

// A tagged image as state.db records it (table `images`, docs/design.md §4).
struct ImageRecord {
  std::string name;                    // "docker.io/library/busybox:latest" or "repo@sha256:…"
  Digest manifest_digest;              // the platform manifest that was unpacked
  std::optional<Digest> index_digest;  // the index / manifest list it came from, if any
  Digest config_digest;                // the image id, as Docker shows it
  Platform platform;
  std::int64_t size = 0;       // bytes: config + compressed layers
  std::string kind;            // "oci" (a root filesystem) or "wasm" (a WASM artifact)
  std::int64_t pulled_at = 0;  // unix seconds
};

struct ImageDetails {
  ImageRecord record;
  ImageManifest manifest;
  ImageConfig config;  // empty for WASM artifacts whose config is not an image config
};

struct PullResult {
  ImageDetails image;
  std::int64_t bytes_transferred = 0;  // blob bytes received from the registry in this pull
  int layers_downloaded = 0;
  int layers_reused = 0;  // snapshot or blob already present
};

struct PruneReport {
  int blobs_removed = 0;
  int snapshots_removed = 0;
  std::int64_t bytes_freed = 0;  // blobs and partial downloads (snapshot bytes are not counted)
};

class ImageService {
 public:
  // Opens the stores under `paths` (creating directories). Errors: errno-mapped, state.db errors.
  static Result<std::unique_ptr<ImageService>> open(const Paths& paths, RegistryOptions options);
  ~ImageService();

  // Pulls `ref`: manifest (index → platform manifest), config, layers (downloaded in parallel,
  // unpacked strictly bottom-up into snapshots keyed by diff_id; layers whose snapshot exists are
  // not downloaded), then records the tag. On failure nothing is tagged and no partial blob or
  // snapshot is left. Errors: from the registry (kNotFound, kPermissionDenied, kUnavailable),
  // kInvalidArgument (bad manifest/config, digest or diff_id mismatch, unsafe layer entry — the
  // message names the image and layer), kUnsupported (schema 1, WASM component).
  Result<PullResult> pull(const Reference& ref, const PullOptions& options = {});

  // Imports one image from an OCI image layout directory (what umoci/skopeo write). `tag` picks
  // an `org.opencontainers.image.ref.name`; `name` renames it (default: the ref.name annotation
  // resolved as a reference). Errors: kInvalidArgument (bad layout; several tags and no choice —
  // the message lists them), kNotFound (unknown tag), and those of pull.
  Result<PullResult> import_layout(const std::filesystem::path& dir, std::optional<std::string> tag,
                                   std::optional<Reference> name, const PullOptions& options = {});

  // Every tagged image, sorted by name.
  Result<std::vector<ImageRecord>> list();
  // Looks an image up by reference, full config digest, or a unique prefix of its id (≥ 4 hex).
  // Errors: kNotFound naming `what`, kInvalidArgument when a prefix is ambiguous.
  Result<ImageDetails> inspect(std::string_view what);
  // Removes the tag `what` names, or every tag of the image id `what` (with `force` only when there
  // are several, as `docker rmi` does); content stays until prune(). Returns removed names.
  // Errors: kNotFound, kInvalidArgument (ambiguous prefix), kFailedPrecondition (an id with
  // several tags and no force — the message lists them).
  Result<std::vector<std::string>> remove(std::string_view what, bool force = false);
  // Removes blobs and snapshots that no tag references, partial downloads and abandoned unpack
  // directories of killed pulls. Waits for running pulls (in any process) to finish first: pulls
  // hold $ZLAYER_RUNTIME_DIR/locks/content.lock shared, prune holds it exclusively, so prune never
  // deletes what a pull is about to tag.
  //
  // Layers in use by a container are never pruned: every $ZLAYER_ROOT_DIR/containers/<id>/ may
  // hold kContainerSnapshotsFile (one diff_id per line), and those snapshots are kept.
  Result<PruneReport> prune();

  // The snapshot directories (the `fs/` trees) of an image's layers, bottom layer first — the
  // lowerdirs of a container's rootfs. Errors: kNotFound when a snapshot is missing.
  Result<std::vector<std::filesystem::path>> layer_dirs(const ImageDetails& image);

  [[nodiscard]] const ContentStore& content() const;

 private:
  struct Impl;
  explicit ImageService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zlayer::image
