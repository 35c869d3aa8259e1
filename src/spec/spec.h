// The deployment spec model: C++ values for every field of upstream ZLayer's `zlayer-spec` v1
// format (../shared/reference/spec-schema.md §3), defaults as upstream. spec/parse.h turns YAML
// into these values (and back) and validates them; the ServiceManager consumes them. Field names
// follow the YAML keys. Values only; thread-safe. Changes to these structs are additive.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zlayer::spec {

// Durations are kept to the nanosecond (Go-style strings: "5s", "1h30m", "500ms").
using Duration = std::chrono::nanoseconds;

// ---- enums (YAML spellings in comments; to_string() gives them back) ----

enum class ResourceType { kService, kJob, kCron };  // service | job | cron
// always | newer | if_not_present | never
enum class PullPolicy { kAlways, kNewer, kIfNotPresent, kNever };
enum class SourcePolicy { kLocalFirst, kS3First, kRemoteOnly, kLocalOnly };  // local_first | …
enum class EndpointProtocol { kHttp, kHttps, kTcp, kUdp, kWebsocket };
enum class ExposeType { kPublic, kInternal };  // public | internal
enum class TransportProtocol { kTcp, kUdp };   // tcp | udp (port mappings, tunnels)
enum class ScaleMode { kAdaptive, kFixed, kManual };
enum class DependencyCondition { kStarted, kHealthy, kReady };
enum class TimeoutAction { kFail, kWarn, kContinue };  // depends.on_timeout, init step on_failure
enum class InitFailureAction { kFail, kRestart, kBackoff };
enum class PanicAction { kRestart, kShutdown, kIsolate };
// no | always | unless_stopped | on_failure
enum class RestartPolicyKind { kNo, kAlways, kUnlessStopped, kOnFailure };
enum class Isolation { kAuto, kProcess, kHyperv };  // Windows only
enum class NodeMode { kShared, kDedicated, kExclusive };
enum class AffinityKind { kSpread, kPack, kPin };
enum class PlatformOs { kLinux, kWindows, kMacos };
enum class PlatformArch { kAmd64, kArm64 };
enum class ServiceType {
  kStandard,
  kWasmHttp,
  kWasmPlugin,
  kWasmTransformer,
  kWasmAuthenticator,
  kWasmRateLimiter,
  kWasmMiddleware,
  kWasmRouter,
  kJob,
};
enum class StorageTier { kLocal, kCached, kNetwork };
enum class JoinMode { kOpen, kToken, kClosed };
enum class JoinScope { kService, kGlobal };
enum class OverlayMode { kAuto, kShared, kDedicated };
enum class LocalhostReachability { kAuto, kAlways, kNever };
enum class GpuMode { kNative, kVm };
enum class GpuScheduling { kBestEffort, kGang, kSpread };  // best-effort | gang | spread
enum class GpuSharing { kExclusive, kMps, kTimeSlice };    // exclusive | mps | time-slice
enum class NetworkModeKind { kDefault, kHost, kNone, kBridge, kContainer };

// The YAML spelling of each enumerator ("if_not_present", "unless_stopped", "time-slice", …).
std::string_view to_string(ResourceType v);
std::string_view to_string(PullPolicy v);
std::string_view to_string(SourcePolicy v);
std::string_view to_string(EndpointProtocol v);
std::string_view to_string(ExposeType v);
std::string_view to_string(TransportProtocol v);
std::string_view to_string(ScaleMode v);
std::string_view to_string(DependencyCondition v);
std::string_view to_string(TimeoutAction v);
std::string_view to_string(InitFailureAction v);
std::string_view to_string(PanicAction v);
std::string_view to_string(RestartPolicyKind v);
std::string_view to_string(Isolation v);
std::string_view to_string(NodeMode v);
std::string_view to_string(AffinityKind v);
std::string_view to_string(PlatformOs v);
std::string_view to_string(PlatformArch v);
std::string_view to_string(ServiceType v);
std::string_view to_string(StorageTier v);
std::string_view to_string(JoinMode v);
std::string_view to_string(JoinScope v);
std::string_view to_string(OverlayMode v);
std::string_view to_string(LocalhostReachability v);
std::string_view to_string(GpuMode v);
std::string_view to_string(GpuScheduling v);
std::string_view to_string(GpuSharing v);
std::string_view to_string(NetworkModeKind v);

// ---- image, resources ----

struct ImageSpec {
  std::string name;  // OCI reference as written ("nginx:alpine"); validated by image/reference.h
  PullPolicy pull_policy = PullPolicy::kIfNotPresent;
  std::optional<SourcePolicy> source_policy;
  bool operator==(const ImageSpec&) const = default;
};

struct GpuDistributed {
  std::string backend = "nccl";
  std::uint16_t master_port = 29500;
  bool operator==(const GpuDistributed&) const = default;
};

// Cluster/GPU hardware: parsed and kept; the single-node agent warns and ignores it.
struct GpuSpec {
  std::uint32_t count = 1;
  std::string vendor = "nvidia";  // nvidia | amd | intel | apple
  std::optional<GpuMode> mode;
  std::optional<std::string> model;
  std::optional<GpuScheduling> scheduling;
  std::optional<GpuDistributed> distributed;
  std::optional<GpuSharing> sharing;
  std::optional<std::string> mps_pipe_dir;
  std::optional<std::string> mps_log_dir;
  std::optional<std::uint32_t> time_slice_index;
  std::optional<std::string> time_slicing_config_path;
  bool operator==(const GpuSpec&) const = default;
};

// `resources`. Sizes stay as written ("512Mi"); core/quantity.h turns them into bytes.
struct ResourcesSpec {
  std::optional<double> cpu;  // cores, > 0
  // <positive int><Ki|Mi|Gi|Ti> upstream; we also take 512m, 1g, plain bytes (docs/spec.md)
  std::optional<std::string> memory;
  std::optional<GpuSpec> gpu;
  std::optional<std::int64_t> pids_limit;
  std::optional<std::string> cpuset;  // "0-1,3"
  std::optional<std::uint32_t> cpu_shares;
  std::optional<std::string> memory_swap;         // size, or "-1" for unlimited
  std::optional<std::string> memory_reservation;  // size
  std::optional<std::uint8_t> memory_swappiness;  // 0–100
  std::optional<std::int32_t> oom_score_adj;
  std::optional<bool> oom_kill_disable;
  std::optional<std::uint16_t> blkio_weight;  // 10–1000
  bool operator==(const ResourcesSpec&) const = default;
};

// `command`: entrypoint replaces ENTRYPOINT (and clears CMD); args replace CMD.
struct CommandSpec {
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> args;
  std::optional<std::string> workdir;
  bool operator==(const CommandSpec&) const = default;
};

// ---- network (cluster overlay settings; kept, warned about when not default) ----

struct OverlaySettings {
  bool enabled = true;
  bool encrypted = true;
  bool isolated = true;
  bool operator==(const OverlaySettings&) const = default;
};
struct OverlayConfig {
  OverlaySettings service{true, true, true};
  OverlaySettings global{true, true, false};
  bool operator==(const OverlayConfig&) const = default;
};
struct JoinPolicy {
  JoinMode mode = JoinMode::kToken;
  JoinScope scope = JoinScope::kService;
  bool operator==(const JoinPolicy&) const = default;
};
struct NetworkSpec {
  OverlayConfig overlays;
  JoinPolicy join;
  bool operator==(const NetworkSpec&) const = default;
};

// ---- endpoints ----

struct StreamHealthCheck {
  enum class Type { kTcpConnect, kUdpProbe } type = Type::kTcpConnect;  // tcp_connect | udp_probe
  std::string request;                                                  // udp_probe only
  std::optional<std::string> expect;                                    // udp_probe only
  bool operator==(const StreamHealthCheck&) const = default;
};
struct StreamEndpointConfig {
  bool tls = false;
  bool proxy_protocol = false;
  std::optional<Duration> session_timeout;
  std::optional<StreamHealthCheck> health_check;
  bool operator==(const StreamEndpointConfig&) const = default;
};
struct TunnelAccess {
  bool enabled = false;
  std::optional<Duration> max_ttl;
  bool audit = false;
  bool operator==(const TunnelAccess&) const = default;
};
// Per-endpoint tunnel (cluster feature; kept and warned about).
struct EndpointTunnelConfig {
  bool enabled = false;
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::uint16_t remote_port = 0;  // 0 = auto
  std::optional<ExposeType> expose;
  std::optional<TunnelAccess> access;
  bool operator==(const EndpointTunnelConfig&) const = default;
};

struct EndpointSpec {
  std::string name;  // unique within the service
  EndpointProtocol protocol = EndpointProtocol::kHttp;
  std::uint16_t port = 0;                    // 1–65535: where the agent publishes it on the host
  std::optional<std::uint16_t> target_port;  // the replicas' port; unset = port
  std::optional<std::string> path;
  std::optional<std::string> host;  // e.g. "*.example.com"
  ExposeType expose = ExposeType::kInternal;
  std::optional<StreamEndpointConfig> stream;
  std::optional<std::string> target_role;  // restricts backends to one replica group
  std::optional<EndpointTunnelConfig> tunnel;

  [[nodiscard]] std::uint16_t effective_target_port() const { return target_port.value_or(port); }
  bool operator==(const EndpointSpec&) const = default;
};

// ---- scale, replica groups, depends ----

struct ScaleTargets {
  std::optional<std::uint8_t> cpu;     // percent
  std::optional<std::uint8_t> memory;  // percent
  std::optional<std::uint32_t> rps;
  bool operator==(const ScaleTargets&) const = default;
};

// `scale`, tagged by `mode`. Only the fields of the chosen mode are meaningful:
// adaptive → min, max, cooldown, targets; fixed → replicas; manual → none.
// The most replicas one service may have on this node (spec and `scale`): every replica is a
// container with its monitor, netns and address; far above what one host runs, far below what
// would make the owner unresponsive while it records them.
inline constexpr std::uint32_t kMaxReplicasPerService = 1000;

struct ScaleSpec {
  ScaleMode mode = ScaleMode::kAdaptive;
  std::uint32_t min = 1;
  std::uint32_t max = 10;
  std::optional<Duration> cooldown = std::chrono::seconds(30);
  ScaleTargets targets;
  std::uint32_t replicas = 1;

  // Replicas to start at deploy time on a single node: fixed → replicas, adaptive → min,
  // manual → 1 (upstream starts manual services at one replica).
  [[nodiscard]] std::uint32_t initial_replicas() const;
  bool operator==(const ScaleSpec&) const = default;
};

struct Affinity {
  AffinityKind kind = AffinityKind::kSpread;
  std::string pin;  // kPin only: "id=2" or "k=v"
  bool operator==(const Affinity&) const = default;
};

struct ReplicaGroup {
  std::string role;  // DNS label ^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$
  std::uint32_t count = 1;
  std::optional<ImageSpec> image;
  std::map<std::string, std::string> env;  // merged over the service env
  std::optional<CommandSpec> command;
  std::optional<ResourcesSpec> resources;
  Affinity affinity;  // default spread
  bool operator==(const ReplicaGroup&) const = default;
};

struct DependsSpec {
  std::string service;
  DependencyCondition condition = DependencyCondition::kHealthy;
  Duration timeout = std::chrono::seconds(300);
  TimeoutAction on_timeout = TimeoutAction::kFail;
  bool operator==(const DependsSpec&) const = default;
};

// ---- health, init, errors ----

struct TcpCheck {
  std::uint16_t port = 0;  // 0 = the first endpoint's target port
  bool operator==(const TcpCheck&) const = default;
};
struct HttpCheck {
  std::string url;
  std::uint16_t expect_status = 200;
  bool operator==(const HttpCheck&) const = default;
};
struct CommandCheck {
  std::string command;  // run with `sh -c` inside the container
  bool operator==(const CommandCheck&) const = default;
};
// Tagged by `type`: tcp | http | command.
using HealthCheck = std::variant<TcpCheck, HttpCheck, CommandCheck>;

struct HealthSpec {
  std::optional<Duration> start_grace = std::chrono::seconds(5);
  std::optional<Duration> interval;  // unset: the manager's default (10 s upstream)
  std::optional<Duration> timeout;   // unset: the manager's default (5 s upstream)
  std::uint32_t retries = 3;
  HealthCheck check = TcpCheck{};
  bool operator==(const HealthSpec&) const = default;
};

struct InitStep {
  std::string id;
  std::string uses;  // init.wait_tcp | init.wait_http | init.run | init.s3_push | init.s3_pull | …
  nlohmann::json with = nlohmann::json::object();  // free-form parameters, YAML scalars typed
  std::optional<std::uint32_t> retry;
  std::optional<Duration> timeout;
  TimeoutAction on_failure = TimeoutAction::kFail;
  bool operator==(const InitStep&) const = default;
};
struct InitSpec {
  std::vector<InitStep> steps;
  bool operator==(const InitSpec&) const = default;
};

struct ErrorsSpec {
  InitFailureAction on_init_failure = InitFailureAction::kFail;  // YAML {on_init_failure: {action}}
  PanicAction on_panic = PanicAction::kRestart;                  // YAML {on_panic: {action}}
  bool operator==(const ErrorsSpec&) const = default;
};

struct LifecycleSpec {
  bool delete_on_exit = false;
  bool operator==(const LifecycleSpec&) const = default;
};

// ---- storage, devices, ports ----

struct DeviceSpec {
  std::string path;
  bool read = true;
  bool write = true;
  bool mknod = false;
  bool operator==(const DeviceSpec&) const = default;
};

struct BindStorage {
  std::string source;
  std::string target;
  bool readonly = false;
  bool operator==(const BindStorage&) const = default;
};
struct NamedStorage {
  std::string name;
  std::string target;
  bool readonly = false;
  StorageTier tier = StorageTier::kLocal;
  std::optional<std::string> size;  // "1Gi"
  bool operator==(const NamedStorage&) const = default;
};
struct AnonymousStorage {
  std::string target;
  StorageTier tier = StorageTier::kLocal;
  bool operator==(const AnonymousStorage&) const = default;
};
struct TmpfsStorage {
  std::string target;
  std::optional<std::string> size;    // "64Mi"
  std::optional<std::uint32_t> mode;  // permission bits (YAML: an integer, e.g. 0o1777 or 1023)
  bool operator==(const TmpfsStorage&) const = default;
};
// S3-backed storage (cluster/cloud feature; kept and warned about).
struct S3Storage {
  std::string bucket;
  std::optional<std::string> prefix;
  std::string target;
  bool readonly = false;
  std::optional<std::string> endpoint;
  std::optional<std::string> credentials;
  bool operator==(const S3Storage&) const = default;
};
// Tagged by `type`: bind | named | anonymous | tmpfs | s3.
using StorageSpec =
    std::variant<BindStorage, NamedStorage, AnonymousStorage, TmpfsStorage, S3Storage>;

struct PortMapping {
  std::optional<std::uint16_t> host_port;  // unset or 0 = ephemeral
  std::uint16_t container_port = 0;
  TransportProtocol protocol = TransportProtocol::kTcp;
  std::string host_ip = "0.0.0.0";
  bool operator==(const PortMapping&) const = default;
};

// ---- scheduling, platform, misc ----

struct NodeSelector {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> prefer_labels;
  bool operator==(const NodeSelector&) const = default;
};

struct PlatformSpec {
  PlatformOs os = PlatformOs::kLinux;
  PlatformArch arch = PlatformArch::kAmd64;
  std::optional<std::string> os_version;  // YAML `osVersion`
  bool operator==(const PlatformSpec&) const = default;
};

struct LogsSpec {
  std::string destination = "disk";
  std::uint64_t max_size_bytes = 100ull << 20;
  std::uint64_t retention_secs = 7ull * 24 * 3600;
  bool operator==(const LogsSpec&) const = default;
};

struct RestartPolicySpec {
  RestartPolicyKind kind = RestartPolicyKind::kNo;
  std::optional<std::uint32_t> max_attempts;  // on_failure only
  std::optional<Duration> delay;
  bool operator==(const RestartPolicySpec&) const = default;
};

// One `ulimits` entry as written; to_container_config applies the fill rule.
struct UlimitSpec {
  std::optional<std::int64_t> soft;  // -1 = unlimited
  std::optional<std::int64_t> hard;
  bool operator==(const UlimitSpec&) const = default;
};

// `network_mode` (string form "bridge:<name>"/"container:<id>", or map form {bridge: name}).
// The legacy `host_network: true` folds into kHost.
struct NetworkMode {
  NetworkModeKind kind = NetworkModeKind::kDefault;
  std::string name;  // kBridge: optional network name; kContainer: the container id
  bool operator==(const NetworkMode&) const = default;
};

struct OverlayAttachment {
  OverlayMode mode = OverlayMode::kAuto;
  std::optional<std::string> parent;
  bool operator==(const OverlayAttachment&) const = default;
};

// ---- WASM ----

// Capabilities a WASM service may use; an unset field means "the service type's default"
// (spec-schema.md §3.11). Setting one to true where the type's default is false is an error.
struct WasmCapabilities {
  std::optional<bool> config;
  std::optional<bool> keyvalue;
  std::optional<bool> logging;
  std::optional<bool> secrets;
  std::optional<bool> metrics;
  std::optional<bool> http_client;
  std::optional<bool> cli;
  std::optional<bool> filesystem;
  std::optional<bool> sockets;
  bool operator==(const WasmCapabilities&) const = default;
};

// The capabilities a service type may use (upstream ServiceType::default_wasm_capabilities,
// spec-schema.md §3.11), every field set. kStandard/kJob (upstream: none) get the
// WasmCapabilities defaults — config, keyvalue, logging, metrics — for our extension of WASM
// images on standard services.
WasmCapabilities default_wasm_capabilities(ServiceType type);

struct WasmPreopen {
  std::string source;  // host path
  std::string target;  // guest path
  bool readonly = false;
  bool operator==(const WasmPreopen&) const = default;
};

struct WasmConfig {
  std::uint32_t min_instances = 0;
  std::uint32_t max_instances = 10;
  Duration idle_timeout = std::chrono::seconds(300);
  Duration request_timeout = std::chrono::seconds(30);
  std::optional<std::string> max_memory;  // "64Mi"
  std::uint64_t max_fuel = 0;             // 0 = unlimited
  std::optional<Duration> epoch_interval;
  std::optional<WasmCapabilities> capabilities;
  bool allow_http_outgoing = true;
  std::vector<std::string> allowed_hosts;
  bool allow_tcp = false;
  bool allow_udp = false;
  std::vector<WasmPreopen> preopens;
  bool kv_enabled = true;
  std::optional<std::string> kv_namespace;
  std::uint64_t kv_max_value_size = 1ull << 20;
  std::vector<std::string> secrets;
  bool precompile = true;
  bool operator==(const WasmConfig&) const = default;
};

// ---- the service ----

struct ServiceSpec {
  ResourceType rtype = ResourceType::kService;
  std::optional<std::string> schedule;  // cron, 6/7 fields seconds first; only with rtype cron
  ImageSpec image;
  ResourcesSpec resources;
  std::map<std::string, std::string> env;  // values may be "$E:NAME" / "$S:…" (spec/env.h)
  CommandSpec command;
  NetworkSpec network;
  std::vector<EndpointSpec> endpoints;
  ScaleSpec scale;
  std::optional<std::vector<ReplicaGroup>> replica_groups;
  std::vector<DependsSpec> depends;
  HealthSpec health;
  InitSpec init;
  ErrorsSpec errors;
  LifecycleSpec lifecycle;
  std::optional<Isolation> isolation;
  std::vector<DeviceSpec> devices;
  std::vector<StorageSpec> storage;
  std::vector<PortMapping> port_mappings;
  std::vector<std::string> capabilities;  // alias cap_add; "NET_ADMIN" or "CAP_NET_ADMIN"
  std::vector<std::string> cap_drop;
  bool privileged = false;
  NodeMode node_mode = NodeMode::kShared;
  std::optional<NodeSelector> node_selector;
  std::optional<Affinity> affinity;
  std::optional<PlatformSpec> platform;
  ServiceType service_type = ServiceType::kStandard;
  std::optional<WasmConfig> wasm;  // alias wasm_http
  std::optional<LogsSpec> logs;
  std::optional<std::string> hostname;
  std::vector<std::string> dns;
  std::vector<std::string> extra_hosts;  // "host:ip"
  std::optional<RestartPolicySpec> restart_policy;
  std::map<std::string, std::string> labels;
  std::optional<std::string> user;
  std::optional<std::string> stop_signal;
  std::optional<Duration> stop_grace_period;
  std::map<std::string, std::string> sysctls;
  std::map<std::string, UlimitSpec> ulimits;
  std::vector<std::string> security_opt;
  std::optional<std::string> pid_mode;
  std::optional<std::string> ipc_mode;
  std::optional<std::string> userns_mode;
  std::optional<std::string> cgroup_parent;
  NetworkMode network_mode;
  std::vector<std::string> extra_groups;
  bool read_only_root_fs = false;
  std::optional<bool> init_container;
  bool tty = false;
  bool stdin_open = false;
  std::vector<std::string> expose;  // "3000", "8080/tcp"; informational
  std::optional<OverlayAttachment> overlay;
  LocalhostReachability localhost_reachability = LocalhostReachability::kAuto;

  // Upstream ServiceSpec::is_single_member(): with replica_groups → ≤ 1 group and total count
  // ≤ 1; else fixed{replicas ≤ 1}, adaptive{max ≤ 1}; manual → true.
  [[nodiscard]] bool is_single_member() const;
  // Replicas to start at deploy: the sum of replica_groups' counts when present, else
  // scale.initial_replicas(). Jobs and cron services start none at deploy time (0).
  [[nodiscard]] std::uint32_t initial_replicas() const;
  [[nodiscard]] bool is_wasm_type() const {
    return service_type != ServiceType::kStandard && service_type != ServiceType::kJob;
  }
  bool operator==(const ServiceSpec&) const = default;
};

// ---- top level ----

struct ExternalSpec {
  std::vector<std::string> backends;  // "host:port", ≥ 1
  std::vector<EndpointSpec> endpoints;
  std::optional<HealthSpec> health;
  bool operator==(const ExternalSpec&) const = default;
};

// A deployment-level tunnel (cluster feature; kept and warned about).
struct TunnelDefinition {
  std::string from;
  std::string to;
  std::uint16_t local_port = 0;
  std::uint16_t remote_port = 0;
  TransportProtocol protocol = TransportProtocol::kTcp;
  ExposeType expose = ExposeType::kInternal;
  bool operator==(const TunnelDefinition&) const = default;
};

struct ApiSpec {
  bool enabled = true;
  std::string bind = "0.0.0.0:3669";
  std::optional<std::string> jwt_secret;
  bool swagger = true;
  bool operator==(const ApiSpec&) const = default;
};

struct DeploymentSpec {
  std::string version = "v1";
  std::string deployment;                       // 3–63 chars, ASCII alnum and '-', first alnum
  std::map<std::string, ServiceSpec> services;  // by service name (the YAML key)
  std::map<std::string, ExternalSpec> externals;
  std::map<std::string, TunnelDefinition> tunnels;
  ApiSpec api;
  bool operator==(const DeploymentSpec&) const = default;
};

}  // namespace zlayer::spec
