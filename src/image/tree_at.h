// Internal helpers of unpack and rootfs: directory-relative file operations that never follow a
// symlink out of a tree (openat2 RESOLVE_BENEATH, no-follow recursive removal). Not a public API.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

#include "core/fs.h"

namespace zlayer::image::detail {

// openat2 RESOLVE_BENEATH (core/fs.h); shared with the WASI layer, which confines guest paths to
// their preopen the same way.
using zlayer::open_beneath;

// Removes everything inside the directory open at `dirfd` (consumed), never following symlinks.
// Returns 0 or an errno value.
int remove_contents(int dirfd);

// Removes `name` in `dirfd`, recursively when it is a directory, never following symlinks.
// A missing name is success. Returns 0 or an errno value.
int remove_entry(int dirfd, const std::string& name);

}  // namespace zlayer::image::detail
