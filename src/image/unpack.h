// Layer unpack: streams one layer blob (tar, possibly gzip/zstd) into a snapshot directory of its
// own, following OCI image-spec layer.md, and computes the layer's diff_id on the way. Whiteouts
// are stored in overlayfs form so that stacking snapshots with overlayfs applies them.
// Owns nothing beyond the call; any thread may call it (one call per snapshot directory).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "image/digest.h"

namespace zlayer::image {

struct LayerStats {
  Digest diff_id;                       // sha256 of the uncompressed tar stream
  std::int64_t uncompressed_bytes = 0;  // length of that stream, bytes
  std::int64_t entries = 0;             // tar entries processed (whiteouts included)
};

// Unpacks the layer blob at `blob_path` into the existing (normally empty) directory
// `snapshot_dir`, following OCI image-spec layer.md:
// - compression from `media_type` (compression_from_media_type), else from the blob's magic
//   bytes; when both speak and disagree, the magic bytes win (as Docker and containerd do);
// - whiteouts in overlayfs form: "d/.wh.x" becomes a 0:0 character device "d/x" (or, when this
//   layer itself creates a directory "d/x", trusted.overlay.opaque=y on it, since the whiteout
//   hides only lower layers); "d/.wh..wh..opq" sets trusted.overlay.opaque=y on "d", wherever it
//   sits in the tar. Whiteouts for names this layer creates as non-directories are no-ops;
// - ownership (numeric), modes incl. setuid/setgid/sticky, xattrs (trusted.overlay.* and
//   user.overlay.* from the tar are dropped: they would steer overlayfs), mtimes of files,
//   symlinks and directories, hardlinks (forward references resolved at the end), fifos, and
//   device nodes when running as root (skipped with a warning otherwise).
// Needs root (CAP_SYS_ADMIN) for trusted.* xattrs, i.e. for opaque whiteouts and for chown.
// Never creates, changes or reads anything outside `snapshot_dir`: every entry is resolved
// beneath it (openat2 RESOLVE_BENEATH), final components are never followed.
// `layer_name` (e.g. the blob digest) names the layer in error messages.
// Errors: kInvalidArgument — an entry escaping the snapshot (absolute name, ".." above the root,
// a symlink or hardlink leading outside, symlink loops), a hardlink whose target never appears,
// a corrupt/truncated archive or bad compression; the message names the layer and the entry.
// kResourceExhausted on ENOSPC/EDQUOT; kPermissionDenied when a needed privilege is missing;
// errno-mapped others. On error `snapshot_dir` holds a partial tree: the caller removes it
// (SnapshotStore does).
[[nodiscard]] Result<LayerStats> unpack_layer(const std::filesystem::path& snapshot_dir,
                                              const std::filesystem::path& blob_path,
                                              std::string_view media_type,
                                              std::string_view layer_name);

}  // namespace zlayer::image
