// The OCI bundle of one container: turns a ContainerConfig into config.json (OCI runtime-spec
// v1.0.2) in the container's directory, plus the files and directories it needs there
// (etc files, anonymous volumes) and named volumes under $ZLAYER_ROOT_DIR/volumes. Uses the
// building blocks of process_spec.h, user_resolve.h, seccomp.h, security_defaults.h, rlimits.h.
// Any thread may call; one caller per container directory at a time.
// Follows Docker (moby daemon/oci_linux.go, container mounts, libnetwork etchosts/resolvconf).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "runtime/container_config.h"
#include "runtime/linux/rlimits.h"
#include "runtime/linux/seccomp.h"

namespace zlayer::runtime::linux {

// Annotation carrying the resolved stop signal ("SIGTERM"), read back by whoever stops the
// container (e.g. after an agent restart).
inline constexpr std::string_view kStopSignalAnnotation = "com.zlayer.stop-signal";
inline constexpr std::string_view kImageAnnotation = "com.zlayer.image";
inline constexpr std::string_view kContainerIdAnnotation = "com.zlayer.container-id";

// Where and on which host the bundle is built.
struct BundleContext {
  std::string container_id;             // "web-rep-1": default hostname, messages, annotations
  std::filesystem::path container_dir;  // the bundle dir: config.json, hosts, resolv.conf,
                                        // hostname, volumes/<n> (anonymous volumes)
  std::filesystem::path rootfs;         // the mounted rootfs (usually container_dir/rootfs)
  Paths paths;                          // volumes_dir() holds named volumes
  std::string cgroups_path;             // linux.cgroupsPath, e.g. "/zlayer/web-rep-1"
  int last_capability = 40;             // /proc/sys/kernel/cap_last_cap
  RlimitCeilings rlimit_ceilings;       // the agent's hard limits (agent_rlimit_ceilings())
  std::filesystem::path seccomp_profile{kDefaultSeccompProfile};
  KernelVersion kernel;           // for the seccomp profile's minKernel rules
  bool cgroup_namespace = false;  // private cgroup ns: Docker does it on cgroup v2 only
  unsigned online_cpus = 1;       // upper bound for `cpus` and cpuset numbers
  std::string host_hostname;      // hostname for NetworkMode::kHost
  std::filesystem::path host_hosts{"/etc/hosts"};              // copied for kHost
  std::filesystem::path host_resolv_conf{"/etc/resolv.conf"};  // source of the default DNS

  // A context with every host-derived field read from this machine (cap_last_cap, getrlimit,
  // uname, cgroup2 on /sys/fs/cgroup, online CPUs, gethostname).
  // Errors: errno-mapped failures of those reads.
  static Result<BundleContext> for_host(std::string container_id,
                                        std::filesystem::path container_dir,
                                        std::filesystem::path rootfs, Paths paths,
                                        std::string cgroups_path);
};

struct BundlePlan {
  nlohmann::json config;              // what config.json holds
  std::filesystem::path config_path;  // container_dir/config.json
  std::string hostname;               // the container's hostname
  std::string stop_signal;            // "SIGTERM": spec stop_signal, else image, else SIGTERM
  int stop_signal_number = 15;
  std::vector<std::string> warnings;  // one sentence each (rlimit clamps, rootfs fixes, DNS)
  // Directories this call created: new named volumes and anonymous volumes. A named volume that
  // already existed is not listed. Anonymous volumes live in container_dir/volumes and go with it.
  std::vector<std::filesystem::path> created_dirs;
};

// Builds and writes the bundle of `config` in `context.container_dir`:
// - process: merge_process (Docker's rules), the user resolved in the rootfs (supplementary
//   groups, HOME), PATH default, HOSTNAME, terminal = tty, capabilities, rlimits (clamped to the
//   ceilings, each clamp a warning), noNewPrivileges unless privileged.
// - mounts: Docker's defaults (one at the same destination as a storage entry is replaced by it),
//   then storage sorted by depth: bind (rbind, rprivate, ro), named volume (created, with a copy
//   of the image's content at the target when new, as Docker does), anonymous (the same, under
//   container_dir/volumes), tmpfs (size, mode); the image's Volumes not covered by a storage
//   target become anonymous volumes; /etc/hosts, /etc/hostname, /etc/resolv.conf bind-mounted
//   from container_dir (read-only with read_only_root_fs).
// - the rootfs: a /dev, /proc or /sys that the image ships as a symlink (or file) is replaced by
//   an empty directory in the rootfs (the container's writable layer) with a warning, so the OCI
//   runtime mounts them inside the rootfs and never through a link. This change to the
//   container's own rootfs is not undone on a later error (it is harmless, and goes with it).
// - namespaces pid, ipc, uts, mount, network (new; the CNI netns path; none for host), cgroup
//   when context.cgroup_namespace; resources (memory, swap, cpu quota/period/shares/cpuset,
//   pids, device rules), cgroupsPath, devices, maskedPaths/readonlyPaths, seccomp (none when
//   privileged), annotations (labels, annotations, com.zlayer.*).
// config.json is written last with atomic_write_file.
// Errors: kInvalidArgument naming the spec field and what was expected (unknown user, bad
// target, missing bind source, memory below 6 MiB, cpus ≤ 0 or above the online CPUs, bad
// cpuset, bad stop signal, bad DNS/extra_hosts address, missing netns path, unknown capability,
// bad ulimit); kNotFound (seccomp profile missing); errno-mapped write failures. On any error
// the directories and files this call created are removed again.
[[nodiscard]] Result<BundlePlan> build_bundle(const ContainerConfig& config,
                                              const BundleContext& context);

// /etc/hosts as Docker writes it: localhost lines, `extra_hosts` ("ip\thost"), then the
// container's own line ("address\thostname"; 127.0.1.1 when the address is unknown).
// Errors: kInvalidArgument for an extra_hosts entry that is not "host:ip".
[[nodiscard]] Result<std::string> render_hosts(const std::vector<std::string>& extra_hosts,
                                               std::string_view hostname, std::string_view address);

// resolv.conf content: from `dns` when it sets anything (servers/search/options, each checked),
// else `host_resolv_conf` (the host file's text) — for private networks without its loopback
// nameservers (127.0.0.0/8, ::1), and Google's 8.8.8.8/8.8.4.4 when none remain, as Docker does.
// Appends a warning to `warnings` when it falls back to the public servers.
// Errors: kInvalidArgument for a server that is not an IP address, an empty or blank entry.
[[nodiscard]] Result<std::string> render_resolv_conf(const DnsConfig& dns,
                                                     std::string_view host_resolv_conf,
                                                     bool host_network,
                                                     std::vector<std::string>& warnings);

}  // namespace zlayer::runtime::linux
