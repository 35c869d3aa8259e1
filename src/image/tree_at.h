// Internal helpers of unpack and rootfs: directory-relative file operations that never follow a
// symlink out of a tree (openat2 RESOLVE_BENEATH, no-follow recursive removal). Not a public API.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>

namespace zlayer::image::detail {

// openat2(dirfd, path, flags|O_CLOEXEC) with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS: ".." above
// dirfd, absolute symlinks and magic links fail with EXDEV/ELOOP. Returns the fd or -1 (errno).
int open_beneath(int dirfd, const std::string& path, std::uint64_t flags);

// Removes everything inside the directory open at `dirfd` (consumed), never following symlinks.
// Returns 0 or an errno value.
int remove_contents(int dirfd);

// Removes `name` in `dirfd`, recursively when it is a directory, never following symlinks.
// A missing name is success. Returns 0 or an errno value.
int remove_entry(int dirfd, const std::string& name);

}  // namespace zlayer::image::detail
