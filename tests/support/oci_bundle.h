// Minimal OCI bundles for tests that run real crun/runc: a busybox-static rootfs and a small
// config.json (namespaces, basic mounts, Docker's default capabilities, optional memory limit and
// cgroupsPath), plus helpers to find leftover cgroups. Free functions; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "support/oci_runtime.h"

// Busybox rootfs, have_program and unique ids come from support/oci_runtime.h.
namespace zlayer::testing {

struct TestBundleOptions {
  std::vector<std::string> args = {"sh", "-c", "true"};
  std::vector<std::string> env = {"PATH=/bin:/usr/bin"};
  std::string cwd = "/";
  std::string hostname = "test";
  std::string cgroups_path;                        // "" = the runtime's default
  std::optional<std::int64_t> memory_limit_bytes;  // also caps memory+swap at the same value
};

// config.json (runtime-spec 1.0.2) for the options: pid/ipc/uts/mount/network namespaces, proc,
// /dev tmpfs, devpts, shm, read-only sysfs, Docker's default capabilities, rootfs "rootfs".
nlohmann::json test_bundle_config(const TestBundleOptions& options);

// `bundle`/rootfs (busybox) plus `bundle`/config.json. Errors: errno-mapped.
Status write_test_bundle(const std::filesystem::path& bundle, const TestBundleOptions& options);

// Every existing directory `relative` (e.g. "zlayer-test-1a2b/c1") under each cgroup mount of
// this machine (v1 hierarchies and cgroup2), as /proc/self/mountinfo lists them.
std::vector<std::filesystem::path> cgroup_dirs(std::string_view relative);

// rmdir of `relative` and its subdirectories under every cgroup mount, deepest first. A cgroup
// that still has processes stays (EBUSY) and is returned as an error naming it.
Status remove_cgroup_dirs(std::string_view relative);

}  // namespace zlayer::testing
