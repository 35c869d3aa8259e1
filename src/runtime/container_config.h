// ContainerConfig: everything a backend needs to create one container, already resolved from the
// deployment spec (env references resolved, sizes parsed to bytes, defaults of the spec applied)
// but not yet turned into a backend's format. The ServiceManager fills it; the Linux backend turns
// it into an OCI bundle (runtime/linux/bundle.h), the Docker backend into a create request.
// Values only; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "image/manifest.h"
#include "runtime/restart_policy.h"

namespace zlayer::runtime {

// Resource limits (spec `resources`). Unset = no limit (the backend's default).
struct ResourceLimits {
  // CPU cores as a float ("cpus", Docker's --cpus): 0.5 = half a core. Must be > 0 and at most
  // the host's online CPUs. Becomes a CFS quota of cpus * 100000 µs per 100000 µs period.
  std::optional<double> cpus;
  // Memory limit in bytes (spec `memory: 512Mi` → 536870912). At least 6 MiB (runc refuses less).
  std::optional<std::uint64_t> memory_bytes;
  // Memory plus swap in bytes, Docker's --memory-swap: ≥ memory_bytes, or -1 for unlimited swap.
  // Needs memory_bytes.
  std::optional<std::int64_t> memory_swap_bytes;
  // Maximum number of tasks (processes + threads) in the container; ≤ 0 = unlimited (Docker).
  std::optional<std::int64_t> pids_limit;
  // CPUs the container may run on, cpuset list syntax: "0-1,3".
  std::optional<std::string> cpuset_cpus;
  // Relative CPU weight (cgroup v1 cpu.shares; Docker default 1024), 2..262144.
  std::optional<std::uint64_t> cpu_shares;
};

// One `ulimits` entry after the spec's fill rule; kept optional so the backend applies it
// (missing hard = soft, missing soft = hard). UINT64_MAX = unlimited.
struct UlimitValue {
  std::optional<std::uint64_t> soft;
  std::optional<std::uint64_t> hard;
};

// Spec `capabilities`/`cap_add`, `cap_drop`, `privileged`. Names with or without "CAP_", any
// case, or "ALL".
struct CapabilityConfig {
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  bool privileged = false;  // all capabilities, no seccomp, no masked paths, all devices rules
};

// Spec `storage` entries. Targets are absolute container paths without "..".
struct BindMount {
  std::string source;  // absolute host path; must exist
  std::string target;
  bool readonly = false;
};
struct NamedVolume {
  std::string name;  // [A-Za-z0-9][A-Za-z0-9_.-]*; lives at $ZLAYER_ROOT_DIR/volumes/<name>
  std::string target;
  bool readonly = false;
};
struct AnonymousVolume {
  std::string target;  // a fresh directory owned by the container, removed with it
};
struct TmpfsMount {
  std::string target;
  std::optional<std::uint64_t> size_bytes;  // unset = the kernel's default (half of RAM)
  std::optional<std::uint32_t> mode;        // permission bits, e.g. 0750; unset = 01777 (tmpfs)
};
using StorageEntry = std::variant<BindMount, NamedVolume, AnonymousVolume, TmpfsMount>;

// Spec `devices`: a host device node passed through.
struct DeviceMapping {
  std::string path;  // host path, e.g. "/dev/fuse"; the same path inside the container
  bool read = true;
  bool write = true;
  bool mknod = false;
};

enum class NetworkMode {
  kNone,    // own network namespace with only loopback
  kBridge,  // a network namespace prepared by the CNI part (netns_path) on the agent's bridge
  kHost,    // the host's network namespace; hostname, /etc/hosts and resolv.conf are the host's
};

// One published port (spec `endpoints`/`port_mappings`, Docker's -p; CNI conventions
// "portMappings" capability): connections to host_ip:host_port on the host reach
// container_port on the container's address. kBridge only.
struct PortMapping {
  std::uint16_t host_port = 0;       // 1..65535
  std::uint16_t container_port = 0;  // 1..65535
  std::string protocol = "tcp";      // tcp | udp | sctp
  std::string host_ip;               // IPv4/IPv6 address; empty = every address of the host
};

struct NetworkConfig {
  NetworkMode mode = NetworkMode::kNone;
  // kBridge, filled by the backend after the CNI ADD (callers leave them empty): the pinned
  // network namespace (must exist when the bundle is built) and the container's IP, which goes
  // into /etc/hosts.
  std::string netns_path;
  std::string address;
  std::vector<PortMapping> port_mappings;  // kBridge only; others refuse a non-empty list
};

// Spec `dns` plus Docker's --dns-search/--dns-option. All empty = derived from the host.
struct DnsConfig {
  std::vector<std::string> servers;  // IPv4/IPv6 addresses
  std::vector<std::string> search;   // domains
  std::vector<std::string> options;  // resolv.conf options, e.g. "ndots:2"
};

// Spec `wasm` block, resolved (WASM backend only; other backends ignore it).
struct WasmPreopen {
  std::string source;  // absolute host directory; must exist
  std::string target;  // the guest path it is preopened as, e.g. "/data"
  bool readonly = false;
};
struct WasmOptions {
  // Cap on linear-memory growth in bytes (`wasm.max_memory`); unset = resources.memory_bytes,
  // else the module's own maximum.
  std::optional<std::uint64_t> max_memory_bytes;
  // Instruction budget (`wasm.max_fuel`); unset or 0 = unlimited.
  std::optional<std::uint64_t> max_fuel;
  // Instructions between two stop/budget checks (`epoch_deadline`); unset = the runtime's.
  std::optional<std::uint64_t> epoch_deadline;
  std::vector<WasmPreopen> preopens;  // `wasm.preopens`, besides `storage`
  // Run-to-completion work (`run`, jobs): the runtime's max_execution_time applies. Services
  // (false) run unbounded.
  bool run_to_completion = false;
};

// Annotation naming the env keys whose values are secrets (comma-separated): the backend keeps
// them in the container's environment but every read-back (inspect) shows "<redacted>".
inline constexpr const char* kSecretEnvAnnotation = "com.zlayer.secret-env";

struct ContainerConfig {
  std::string image_ref;     // the reference as the spec wrote it, for messages and annotations
  image::ImageConfig image;  // the pulled image's config

  // Spec `command`: entrypoint replaces ENTRYPOINT and clears CMD; args replace CMD only.
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> args;
  std::optional<std::string> working_dir;  // absolute container path; unset = image WORKDIR
  std::vector<std::string> env;            // resolved "KEY=VALUE", applied over the image env
  std::optional<std::string> user;         // "name", "uid", "name:group", "uid:gid"; unset = image
  std::optional<std::string> hostname;     // unset = the container id ("{service}-rep-{n}")

  ResourceLimits resources;
  std::map<std::string, UlimitValue> ulimits;  // Docker names ("nofile", "nproc", …)
  CapabilityConfig capabilities;
  bool read_only_root_fs = false;
  std::vector<StorageEntry> storage;
  std::vector<DeviceMapping> devices;

  NetworkConfig network;
  DnsConfig dns;
  std::vector<std::string> extra_hosts;  // "host:ip" (the first ':' separates; IPv6 allowed)

  std::optional<std::string> stop_signal;  // "SIGINT", "INT" or "2"; unset = image StopSignal
  bool tty = false;                        // allocate a terminal (Docker -t)
  bool open_stdin = false;                 // keep stdin open for an attached client (Docker -i)
  // Applied by the backend itself (the linux backend's monitor) for standalone containers;
  // deployments keep `no` and let their supervisor restart replicas.
  RestartPolicy restart;

  std::map<std::string, std::string> labels;       // spec `labels`; recorded with the container
  std::map<std::string, std::string> annotations;  // backend metadata (OCI annotations)

  WasmOptions wasm;  // WASM backend only
};

}  // namespace zlayer::runtime
