// Persistent network namespaces for containers, without `ip netns`: a namespace is kept alive by
// bind-mounting its nsfs file onto $ZLAYER_RUNTIME_DIR/netns/<container id>, so an OCI config can
// join it by path (runtime-spec `linux.namespaces[{type: network, path}]`) and CNI plugins can be
// given that path as CNI_NETNS. No shared state: callable from any thread; each call that enters a
// namespace does so on a thread of its own, never on the caller's.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "core/error.h"
#include "core/paths.h"

namespace zlayer::runtime::linux {

// $ZLAYER_RUNTIME_DIR/netns/<container_id>: where a container's network namespace is pinned.
[[nodiscard]] std::filesystem::path container_netns_path(const Paths& paths,
                                                         std::string_view container_id);

// Creates a new network namespace with `lo` up (SIOCSIFFLAGS, as the CNI loopback plugin does)
// and pins it at `path` (parent directories created 0755; the file is an empty 0444 mount point).
// The namespace lives until delete_netns(path), independent of any process.
// A leftover plain file at `path` (a crash between creating the file and mounting) is reused.
// Errors: kAlreadyExists when `path` already holds a namespace, kPermissionDenied without
// CAP_SYS_ADMIN, errno-mapped others (message names the path). Nothing is left behind on error.
[[nodiscard]] Status create_netns(const std::filesystem::path& path);

// Unmounts (MNT_DETACH) and unlinks `path`. Idempotent: a missing file or a file that is not a
// mount is fine. The namespace itself disappears once no process or other mount holds it.
// Errors: errno-mapped (naming the path) for anything but "not there / not mounted".
[[nodiscard]] Status delete_netns(const std::filesystem::path& path);

// True when `path` is an nsfs mount of a network namespace (created and not yet deleted).
[[nodiscard]] bool is_netns(const std::filesystem::path& path);

// Runs `fn` on a new thread that has joined the network namespace at `path` (setns), waits for
// it and returns its status. Sockets `fn` opens, and processes it spawns, live in that namespace;
// the caller's thread never changes namespace.
// Errors: kNotFound / kInvalidArgument when `path` is missing or not a network namespace, or
// whatever `fn` returns.
[[nodiscard]] Status run_in_netns(const std::filesystem::path& path,
                                  const std::function<Status()>& fn);

}  // namespace zlayer::runtime::linux
