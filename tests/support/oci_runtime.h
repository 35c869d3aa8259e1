// Test helpers for running OCI bundles under real runc and crun: a busybox-static rootfs, the
// crun hybrid-cgroup workaround (machine-facts.md, workaround 1: a private mount namespace
// without the cgroup2 mount — the host is not changed), `run` with output in files, forced
// deletion, and /proc/self/status-style field lookup. Free functions; no shared state.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::testing {

inline constexpr std::string_view kBusyboxStatic = "/bin/busybox";

// Writes a minimal busybox rootfs into `rootfs` (created): bin/busybox copied from busybox-static
// with `applets` as symlinks, tmp/, etc/passwd (root, app 1000:1000 with home /home/app), etc/group
// (root, app 1000, web 2000 and audio 2001 listing app). Errors: errno-mapped.
Status write_busybox_rootfs(const std::filesystem::path& rootfs,
                            const std::vector<std::string>& applets = {
                                "sh",   "cat",      "wc",   "echo",  "head",     "id",
                                "ls",   "df",       "grep", "touch", "hostname", "mkdir",
                                "test", "readlink", "dd",   "rm",    "sleep",    "tail",
                                "env",  "pwd",      "true", "false", "kill"});

// `runtime args…`; for crun wrapped in `unshare --mount --propagation private sh -c 'umount
// /sys/fs/cgroup/unified; exec "$@"'`.
std::vector<std::string> oci_runtime_argv(std::string_view runtime, std::vector<std::string> args);

// True when `name` is on PATH.
bool have_program(std::string_view name);

// A container id no other test (or test process) uses: "<prefix>-<pid>-<random hex>".
std::string unique_container_id(std::string_view prefix);

struct OciRunResult {
  int exit_code = -1;
  std::string out;  // the container's stdout
  std::string err;  // its stderr plus the runtime's
};

// `runtime run --bundle bundle id` in the foreground; stdout and stderr go to files under
// `scratch` (never a pipe the container could keep open). Errors: the subprocess's (not found,
// 120 s timeout).
Result<OciRunResult> oci_run(std::string_view runtime, const std::filesystem::path& bundle,
                             const std::string& id, const std::filesystem::path& scratch);

// `runtime delete -f id`, then checks `runtime list -q` no longer names it.
// Errors: kInternal when the container is still listed.
Status oci_delete(std::string_view runtime, const std::string& id);

// The value after "Key:" on its own line of /proc/self/status-like text, trimmed ("" if absent).
std::string status_field(const std::string& text, std::string_view key);

}  // namespace zlayer::testing
