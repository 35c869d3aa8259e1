// Docker's security defaults for an OCI bundle: the capability set and its cap_add/cap_drop/
// privileged tweaks, masked and read-only paths, the default mounts, runc's default device
// allow-list and noNewPrivileges. Pure functions on values, except kernel_last_capability() which
// reads /proc. Thread-safe.
// Follows moby oci/defaults.go, oci/caps (TweakCapabilities), runc libcontainer/specconv
// (AllowedDevices) and OCI runtime-spec v1.0.2 config.md/config-linux.md.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::runtime::linux {

// Docker's default capabilities (moby oci/caps DefaultCapabilities), "CAP_" names.
inline constexpr std::array<std::string_view, 14> kDefaultCapabilities = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

// Number of a capability ("CAP_SYS_ADMIN" or "sys_admin" → 21), from linux/capability.h.
// Errors: kInvalidArgument ("unknown capability \"X\"").
[[nodiscard]] Result<int> capability_number(std::string_view name);

// "CAP_SYS_ADMIN" for "sys_admin", "SYS_ADMIN", "cap_sys_admin"; "ALL" stays "ALL".
// Errors: kInvalidArgument for unknown names.
[[nodiscard]] Result<std::string> normalize_capability(std::string_view name);

// Highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap; 40 on
// 6.x). Errors: errno-mapped, kInvalidArgument when the file is not a number.
[[nodiscard]] Result<int> kernel_last_capability();

// Every capability with a number ≤ last_cap that has a name, in number order.
[[nodiscard]] std::vector<std::string> all_capabilities(int last_cap);

// Bit mask of `capabilities` as /proc/<pid>/status prints CapEff (bit n = capability n).
// Errors: kInvalidArgument for an unknown name.
[[nodiscard]] Result<std::uint64_t> capability_mask(const std::vector<std::string>& capabilities);

struct CapabilityOptions {
  std::vector<std::string> cap_add;   // names with or without "CAP_", any case, or "ALL"
  std::vector<std::string> cap_drop;  // same
  bool privileged = false;
};

// Docker's TweakCapabilities over kDefaultCapabilities: privileged → all_capabilities(last_cap);
// cap_add ALL → all but cap_drop; cap_drop ALL → only cap_add; else defaults − drop + add.
// Result: "CAP_*" names, without duplicates, defaults order then added ones.
// Errors: kInvalidArgument naming an unknown capability.
[[nodiscard]] Result<std::vector<std::string>> effective_capabilities(
    const CapabilityOptions& options, int last_cap);

// Docker's masked paths (empty when privileged): /proc/asound, /proc/acpi, /proc/kcore, …
[[nodiscard]] std::vector<std::string> masked_paths(bool privileged);
// Docker's read-only paths (empty when privileged): /proc/bus, /proc/fs, /proc/irq, /proc/sys,
// /proc/sysrq-trigger.
[[nodiscard]] std::vector<std::string> readonly_paths(bool privileged);

struct MountOptions {
  std::uint64_t shm_size_bytes = 64ull << 20;  // /dev/shm tmpfs size (Docker: 64 MiB)
  bool privileged = false;                     // privileged: /sys and cgroups read-write
};

// The OCI `mounts` array of Docker's default spec: /proc (proc), /dev (tmpfs, 64 MiB, mode 755),
// /dev/pts (devpts), /dev/shm (tmpfs, shm_size), /dev/mqueue (mqueue), /sys (sysfs, ro),
// /sys/fs/cgroup (cgroup, ro). Each entry is {destination, type, source, options}.
[[nodiscard]] nlohmann::json default_mounts(const MountOptions& options = {});

// `linux.resources.devices`: deny all, then runc's AllowedDevices (null, random, full, tty, zero,
// urandom rwm; mknod of any c/b device; /dev/pts/*, /dev/ptmx, /dev/net/tun rwm). Privileged: one
// rule allowing everything.
[[nodiscard]] nlohmann::json default_device_rules(bool privileged);

// noNewPrivileges: true unless privileged.
[[nodiscard]] constexpr bool default_no_new_privileges(bool privileged) { return !privileged; }

// OCI `process.capabilities` for `capabilities`: bounding, effective, permitted set; inheritable
// and ambient empty (Docker since 20.10.14, CVE-2022-24769).
[[nodiscard]] nlohmann::json oci_capabilities(const std::vector<std::string>& capabilities);

}  // namespace zlayer::runtime::linux
