// cgroup layout detection and container resource statistics for the Linux backend: which cgroup
// hierarchies are mounted where (v1, v2 or hybrid, from /proc/self/mountinfo), the CPU, memory,
// pids and block-I/O counters of one container's cgroup (v1 and v2 files), its OOM-kill counter,
// and removal of its cgroup directories. Owns no state; every function reads the file system when
// called, so any thread may call them. `root` parameters exist so tests can point everything at a
// fixture tree; production callers leave them at "/".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::runtime::linux {

enum class CgroupMode {
  kNone,    // no cgroup file system mounted
  kV1,      // only v1 hierarchies
  kV2,      // only the unified (cgroup2) hierarchy has controllers
  kHybrid,  // v1 controllers plus a cgroup2 mount (systemd's "hybrid"; these machines)
};

// "none", "v1", "v2", "hybrid" — for `zlayer-agent info`.
[[nodiscard]] std::string_view cgroup_mode_name(CgroupMode mode);

// One mounted v1 hierarchy. Co-mounted controllers ("cpu,cpuacct") share one hierarchy.
struct CgroupV1Hierarchy {
  std::vector<std::string> controllers;  // sorted, e.g. {"cpu", "cpuacct"}; empty when named only
  std::string name;                      // "systemd" for name=systemd, else empty
  std::filesystem::path mount_point;     // e.g. /sys/fs/cgroup/memory
  // The cgroup mounted there (mountinfo field 4): "/" normally, a cgroup path inside a cgroup
  // namespace or a bind mount of a sub-tree.
  std::string root = "/";
  bool operator==(const CgroupV1Hierarchy&) const = default;
};

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  std::vector<CgroupV1Hierarchy> v1;  // in mountinfo order, first mount of each hierarchy
  std::optional<std::filesystem::path>
      v2_mount;  // first cgroup2 mount, e.g. /sys/fs/cgroup/unified
  // Controllers available in the cgroup2 root (its cgroup.controllers), sorted. Filled by
  // detect_cgroup_layout() only: the pure parser cannot know them.
  std::vector<std::string> v2_controllers;
  std::string v2_root = "/";  // the cgroup mounted at v2_mount (mountinfo field 4)

  // The v1 hierarchy carrying `controller` ("memory"), or nullptr when it is not mounted as v1.
  [[nodiscard]] const CgroupV1Hierarchy* v1_hierarchy(std::string_view controller) const;
  // Every mount point: the v1 hierarchies in order, then the cgroup2 mount.
  [[nodiscard]] std::vector<std::filesystem::path> mount_points() const;
};

// Parses the text of /proc/<pid>/mountinfo (proc(5), "/proc/pid/mountinfo") and returns the
// cgroup (v1, from the controller names in the super options) and cgroup2 mounts. Mode: v1
// controllers and a cgroup2 mount → kHybrid; v1 controllers only → kV1; cgroup2 only (named v1
// hierarchies such as name=systemd do not count) → kV2; nothing → kNone. Octal escapes in mount
// points (\040) are decoded. Pure. Errors: kInvalidArgument for a line that does not have the
// mountinfo shape, naming its line number.
[[nodiscard]] Result<CgroupLayout> parse_cgroup_layout(std::string_view mountinfo);

// parse_cgroup_layout() of the file `mountinfo`, then v2_controllers read from
// `root`/<v2 mount>/cgroup.controllers (a missing file means none). Errors: those of the parser;
// errno-mapped read errors naming the file.
[[nodiscard]] Result<CgroupLayout> detect_cgroup_layout(
    const std::filesystem::path& mountinfo = "/proc/self/mountinfo",
    const std::filesystem::path& root = "/");

// The directory of the cgroup a process is in for `controller` ("memory"), from the text of
// /proc/<pid>/cgroup (cgroups(7): "id:controllers:path" per hierarchy, "0::path" for cgroup2):
// the v1 hierarchy carrying the controller when mounted, else the cgroup2 mount. The path is
// taken relative to the mount's root (mountinfo field 4), so it also works inside cgroup
// namespaces. Pure. Errors: kNotFound when neither the controller's v1 hierarchy nor a cgroup2
// line and mount exist.
[[nodiscard]] Result<std::filesystem::path> process_cgroup_dir(const CgroupLayout& layout,
                                                               std::string_view proc_pid_cgroup,
                                                               std::string_view controller);

// Resource counters of one cgroup. A field is empty when its controller is not mounted or not
// enabled for this cgroup (its file does not exist). Limits are also empty when unlimited: a
// caller tells "unlimited" from "unknown" by the matching usage field (memory_usage_bytes,
// pids_current) being set.
struct CgroupStats {
  // CPU time consumed by all tasks, in nanoseconds (v1 cpuacct.usage / cpuacct.stat in USER_HZ
  // ticks converted to ns; v2 cpu.stat *_usec × 1000).
  std::optional<std::uint64_t> cpu_usage_ns;
  std::optional<std::uint64_t> cpu_user_ns;
  std::optional<std::uint64_t> cpu_system_ns;
  // CFS bandwidth control (cpu.stat): enforcement periods, periods throttled, time throttled (ns).
  std::optional<std::uint64_t> cpu_periods;
  std::optional<std::uint64_t> throttled_periods;
  std::optional<std::uint64_t> throttled_ns;
  // Bytes charged to the cgroup, page cache included (v1 memory.usage_in_bytes, v2 memory.current).
  std::optional<std::uint64_t> memory_usage_bytes;
  std::optional<std::uint64_t> memory_limit_bytes;  // empty when unlimited
  std::optional<std::uint64_t> memory_cache_bytes;  // page cache (v1 total_cache, v2 file)
  std::optional<std::uint64_t> memory_inactive_file_bytes;
  // usage − inactive file pages (never below 0): what kubelet/cAdvisor call the working set,
  // the number an OOM decision is closest to.
  std::optional<std::uint64_t> memory_working_set_bytes;
  // Processes killed by the OOM killer in this cgroup (v1 memory.oom_control oom_kill, v2
  // memory.events oom_kill).
  std::optional<std::uint64_t> oom_kill_count;
  std::optional<std::uint64_t> pids_current;
  std::optional<std::uint64_t> pids_limit;  // empty when "max"
  // Block I/O summed over all devices (v1 blkio Read/Write lines, v2 io.stat
  // rbytes/wbytes/rios/wios).
  std::optional<std::uint64_t> blkio_read_bytes;
  std::optional<std::uint64_t> blkio_write_bytes;
  std::optional<std::uint64_t> blkio_read_ops;
  std::optional<std::uint64_t> blkio_write_ops;

  bool operator==(const CgroupStats&) const = default;
};

// Reads the counters of the cgroup `cgroups_path` (the OCI config.json linux.cgroupsPath, e.g.
// "/zlayer/web-rep-1", taken relative to each hierarchy's mount point; cgroupfs driver form, not
// systemd's "slice:prefix:name") under `root`. For each controller group the v1 hierarchy is
// used when mounted, else the cgroup2 mount. Files follow the kernel's
// Documentation/admin-guide/cgroup-v1/{cpuacct,memory,pids,blkio-controller}.rst and
// cgroup-v2.rst. v1 blkio reads blkio.throttle.io_service_bytes_recursive / io_serviced_recursive
// (falling back to the non-recursive throttle files, then to CFQ's and BFQ's
// io_service_bytes_recursive), so I/O of nested cgroups is included.
// Errors: kNotFound naming the path when the cgroup exists in none of the hierarchies read;
// kInvalidArgument when cgroups_path has "." or ".." parts, or when a file holds something that
// is not a number where one is expected (message names the file and the text); errno-mapped read
// errors naming the file.
[[nodiscard]] Result<CgroupStats> read_stats(const CgroupLayout& layout,
                                             std::string_view cgroups_path,
                                             const std::filesystem::path& root = "/");

// The OOM-kill counter of the cgroup (see CgroupStats::oom_kill_count), for the monitor to read
// before the OCI `delete` removes the cgroup. Errors: kNotFound when the cgroup does not exist;
// kUnsupported when the memory controller or its oom_kill counter (Linux ≥ 4.13) is missing;
// kInvalidArgument for a malformed file or path.
[[nodiscard]] Result<std::int64_t> read_oom_kill_count(const CgroupLayout& layout,
                                                       std::string_view cgroups_path,
                                                       const std::filesystem::path& root = "/");

// True when the directory of `cgroups_path` exists in any v1 hierarchy or the cgroup2 mount.
// An invalid path is reported as not existing.
[[nodiscard]] bool cgroup_exists(const CgroupLayout& layout, std::string_view cgroups_path,
                                 const std::filesystem::path& root = "/");

// Removes the cgroup `cgroups_path` (and any child cgroups, deepest first) from every v1
// hierarchy — named ones included, as OCI runtimes create it there too — and from the cgroup2
// mount. rmdir(2) is retried for about 0.3 s on EBUSY, which the kernel returns while
// the last tasks are still exiting. Missing directories are success. Tries every hierarchy even
// after a failure and returns the first error. Errors: kInvalidArgument for an empty or root path
// or "."/".." parts; kUnavailable naming the directory when it stayed busy (tasks still inside);
// errno-mapped others.
[[nodiscard]] Status remove_cgroup(const CgroupLayout& layout, std::string_view cgroups_path,
                                   const std::filesystem::path& root = "/");

}  // namespace zlayer::runtime::linux
