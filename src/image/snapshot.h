// The snapshot store: one directory per unpacked layer under Paths::snapshots_dir(), keyed by
// diff_id hex — snapshots/<hex>/fs holds the layer's tree (overlayfs-form whiteouts), ready to be
// a lowerdir. Snapshots are made once (temp dir + per-digest lock + rename), then shared by every
// container. Thread-safe and multi-process-safe; the object holds only paths.
#pragma once

#include <filesystem>
#include <functional>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "image/digest.h"

namespace zlayer::image {

class SnapshotStore {
 public:
  // Unpacks a layer into the given empty directory and returns the diff_id it computed.
  using Producer = std::function<Result<Digest>(const std::filesystem::path& fs_dir)>;

  // snapshots_dir: where snapshots live; locks_dir: where per-digest lock files go.
  SnapshotStore(std::filesystem::path snapshots_dir, std::filesystem::path locks_dir);
  static SnapshotStore from_paths(const Paths& paths);

  // Returns snapshots/<hex>/fs for `diff_id`, running `produce` into snapshots/tmp-<hex>-XXXXXX/fs
  // first when the snapshot does not exist yet. Another process making the same snapshot at the
  // same time is waited for (flock), never duplicated. The produced diff_id must equal `diff_id`.
  // Errors: kInvalidArgument "diff_id mismatch: image config says X, layer unpacks to Y"; the
  // producer's errors (wrapped with the layer's digest); errno-mapped filesystem errors. On any
  // error nothing is left behind.
  Result<std::filesystem::path> ensure(const Digest& diff_id, const Producer& produce) const;

  [[nodiscard]] bool exists(const Digest& diff_id) const;
  // snapshots/<hex>/fs, whether it exists or not.
  [[nodiscard]] std::filesystem::path path(const Digest& diff_id) const;
  // Deletes a snapshot (the caller makes sure no rootfs uses it). Missing is success.
  Status remove(const Digest& diff_id) const;
  // Every complete snapshot, in no particular order. Errors: errno-mapped.
  Result<std::vector<Digest>> list() const;
  // Removes tmp-* directories left by crashed unpacks; skips those whose unpack still runs (its
  // lock is held). Errors: errno-mapped.
  Status clean_temp() const;

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  [[nodiscard]] std::filesystem::path lock_path(const std::string& hex) const;

  std::filesystem::path dir_;
  std::filesystem::path locks_dir_;
};

}  // namespace zlayer::image
