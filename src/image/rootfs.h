// A container's root filesystem built from layer snapshots: an overlayfs mount (lowerdirs = the
// snapshots, upper/work in the container's directory) at <container_dir>/rootfs, or — where
// overlayfs is unavailable — a flattened copy of the snapshots. Owns the mount and upper/, work/,
// rootfs/ under container_dir. Any thread may call; one caller per container_dir at a time.
#pragma once

#include <filesystem>
#include <vector>

#include "core/error.h"

namespace zlayer::image {

enum class RootfsMode {
  kOverlay,  // overlayfs over the shared snapshots; writes land in container_dir/upper
  kCopy,     // a private flattened copy in container_dir/rootfs (no overlayfs here)
};

struct RootfsOptions {
  bool force_copy = false;          // skip overlayfs even where it works
  bool force_legacy_mount = false;  // mount(2) with an option string instead of fsconfig(2)
};

struct MountedRootfs {
  std::filesystem::path rootfs;  // container_dir/rootfs
  RootfsMode mode = RootfsMode::kOverlay;
};

// Mounts overlayfs at container_dir/rootfs with lowerdir = `layer_fs_dirs` (bottom layer FIRST
// in this vector; the option order is reversed as overlayfs wants, top first), upperdir and
// workdir = container_dir/upper and /work (created; they must share a filesystem). Uses the new
// mount API (fsopen + fsconfig "lowerdir+" per layer, kernel >= 6.8: no option-length limit),
// else mount(2), whose option string must fit in one page — when it does not, the mount is made
// from a child process that chdir()s to the layers' common parent and passes relative paths.
// When overlayfs is missing or refuses (ENODEV/EINVAL), or with `force_copy`, the snapshots are
// flattened bottom-up into container_dir/rootfs instead (0:0 char devices delete, opaque dirs
// drop lower contents; ownership, modes, xattrs, mtimes, symlinks, hardlinks, devices kept) and a
// warning is logged. Needs root (CAP_SYS_ADMIN).
// Errors: kFailedPrecondition when container_dir/rootfs is already a mount point;
// kInvalidArgument when the options cannot fit even relative; errno-mapped others (the message
// carries overlayfs's own error log when the new API is used).
Result<MountedRootfs> mount_rootfs(const std::vector<std::filesystem::path>& layer_fs_dirs,
                                   const std::filesystem::path& container_dir,
                                   const RootfsOptions& options = {});

// Unmounts container_dir/rootfs if mounted (lazily when busy); idempotent. With `remove_dirs`,
// also deletes rootfs/, upper/ and work/ — never while something is still mounted there.
// Errors: kFailedPrecondition when rootfs is still a mount point and removal was asked;
// errno-mapped others.
Status unmount_rootfs(const std::filesystem::path& container_dir, bool remove_dirs = false);

}  // namespace zlayer::image
