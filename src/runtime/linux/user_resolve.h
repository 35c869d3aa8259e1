// Resolves a container's `user` string to uid/gid/supplementary gids and home directory from the
// image's own /etc/passwd and /etc/group, read inside the rootfs with openat2(RESOLVE_IN_ROOT) so
// a symlink (absolute or "../..") can never make the agent read a host file. Stateless;
// thread-safe. Follows Docker/runc (moby/sys/user GetExecUser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::runtime::linux {

struct ResolvedUser {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> additional_gids;  // supplementary groups, /etc/group order
  std::string home = "/";                      // passwd home, "/" when there is no entry
  std::string name;                            // passwd name, empty when there is no entry
};

// Resolves `user` ("", "name", "uid", "name:group", "uid:gid", "name:gid", "uid:group") against
// `rootfs`'s etc/passwd and etc/group, with Docker's rules:
// - "" is uid 0 (its passwd entry, if any, gives gid and home);
// - a numeric user is a uid; its passwd entry (if any) gives gid and home, else gid 0, home "/";
// - a name must exist in etc/passwd;
// - an explicit group (name or gid) sets the gid and disables supplementary groups; a group name
//   must exist in etc/group, a numeric one need not;
// - without an explicit group, supplementary gids are the groups whose member list names the
//   user (first passwd match wins).
// A missing etc/passwd or etc/group counts as empty. Files are opened with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so absolute and ".." symlinks stay inside
// `rootfs`; non-regular files are refused (a FIFO would block).
// Errors: kInvalidArgument (`user "app" not found in the image's /etc/passwd`, group not found in
// /etc/group, an id above 2^31-1, etc/passwd not a regular file or a symlink loop);
// kNotFound when `rootfs` itself is missing; errno-mapped others.
[[nodiscard]] Result<ResolvedUser> resolve_user(const std::filesystem::path& rootfs,
                                                std::string_view user);

// The content of a file read inside a root; `found` is false when the file does not exist.
struct InRootFile {
  bool found = false;
  std::string content;
};

// Reads `relative` (e.g. "etc/passwd") below the directory `root_fd` with openat2
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS; used by resolve_user() and by later in-rootfs readers
// (e.g. etc/hosts). Errors: kInvalidArgument (not a regular file, larger than `max_bytes`,
// symlink loop), errno-mapped others; a missing file is not an error.
[[nodiscard]] Result<InRootFile> read_file_in_root(int root_fd, std::string_view relative,
                                                   std::size_t max_bytes = 16u << 20);

}  // namespace zlayer::runtime::linux
