// LinuxRuntime: the `linux` backend of the Runtime interface. Joins the image store (rootfs
// layers), the overlay rootfs mount, the OCI bundle, the per-container monitor (which runs the OCI
// runtime's `create` and records the exit) and the OCI runtime CLI. Each container lives in
// $ZLAYER_ROOT_DIR/containers/<id>/ (rootfs, upper, work, config.json, container.log, exit.json)
// and has a row in state.db `containers`. Networks: `none`, `host`, and `bridge` (the CNI network
// of cni.h: a pinned network namespace per container, attached on create, detached on remove).
// One LinuxRuntime per thread (it owns a state.db connection); several processes may share the
// same root directory.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/paths.h"
#include "image/image_service.h"
#include "runtime/linux/cgroups.h"
#include "runtime/linux/cni.h"
#include "runtime/linux/oci_runtime.h"
#include "runtime/runtime.h"
#include "state/state_db.h"

namespace zlayer::runtime::linux {

struct LinuxConfig {
  Paths paths;                             // root_dir holds containers/, state.db, volumes/
  std::optional<std::string> oci_runtime;  // "crun", "runc", "youki" or a path; unset = best
  std::optional<std::filesystem::path> oci_state_root;  // unset = $ZLAYER_RUNTIME_DIR/oci
  std::string cgroup_parent = "zlayer";                 // containers go to /<cgroup_parent>/<id>
  // The bridge network (NetworkMode::kBridge). Defaults (docs/design.md §8): network "zlayer",
  // bridge "zlayer0", subnet 10.89.0.0/16, plugins from /usr/lib/cni; an empty ipam_data_dir or
  // cache_dir means $ZLAYER_RUNTIME_DIR/cni/ipam or /cni/results (NetworkConfig::defaults).
  // Agents that run side by side (tests) need their own bridge, subnet and directories.
  NetworkConfig network;
};

// One mount a user asked for (not the OCI defaults such as /proc or the etc files), as
// `inspect` shows it. type: "bind" (host path), "volume" (named, under volumes/<name>),
// "anonymous" (under the container's volumes/), "tmpfs".
struct MountDetails {
  std::string type;
  std::string name;  // volume name for "volume", else empty
  std::string source;
  std::string destination;
  bool readonly = false;
  bool operator==(const MountDetails&) const = default;
};

// What `inspect` and `ps` show about one container, read from state.db, the bundle's
// config.json (what actually runs) and exit.json. Times are wall-clock; state.db keeps whole
// seconds, exit.json nanoseconds.
struct ContainerDetails {
  ContainerId id;
  std::string image;  // the reference it was created from
  ContainerState state;
  int pid = 0;  // the init on the host while created/running/paused, else 0
  std::optional<Clock::WallTime> created_at;
  std::optional<Clock::WallTime> started_at;
  std::optional<Clock::WallTime> finished_at;
  std::vector<std::string> args;  // the process as config.json has it
  std::vector<std::string> env;   // "KEY=VALUE" as the container sees it
  std::string working_dir;
  std::string user;  // "uid:gid"
  std::string hostname;
  std::optional<std::uint64_t> memory_limit_bytes;  // unset = unlimited
  std::optional<double> cpus;                       // CFS quota / period; unset = unlimited
  std::vector<MountDetails> mounts;
  std::string network_mode;       // "none", "host" or "bridge"
  std::optional<std::string> ip;  // the container's address when it has one of its own
  std::filesystem::path log_path;
  std::filesystem::path bundle;
  std::string oci_runtime;                   // "crun", "runc", …
  std::optional<std::int64_t> restart_count;  // set when its service has a restart record
};

class LinuxRuntime final : public Runtime {
 public:
  // Selects the OCI runtime, detects the cgroup layout and opens state.db. `images` must outlive
  // the runtime. Errors: kUnavailable (no usable OCI runtime, with the reasons), state.db errors.
  static Result<std::unique_ptr<LinuxRuntime>> open(LinuxConfig config,
                                                    image::ImageService& images);

  [[nodiscard]] const OciRuntime& oci() const { return oci_; }
  [[nodiscard]] const CgroupLayout& cgroup_layout() const { return layout_; }
  // The candidates tried before the chosen OCI runtime, and why each was not used.
  [[nodiscard]] const std::vector<RejectedRuntime>& rejected_runtimes() const { return rejected_; }
  [[nodiscard]] const LinuxConfig& config() const { return config_; }
  // The container's directory and the OCI cgroupsPath it runs in.
  [[nodiscard]] std::filesystem::path container_dir(const ContainerId& id) const;
  [[nodiscard]] std::string cgroups_path(const ContainerId& id) const;
  // The socket the monitor of a container created with tty or open_stdin serves attach clients
  // on (attach.h): $ZLAYER_RUNTIME_DIR/attach/<id>.sock.
  [[nodiscard]] std::filesystem::path attach_socket_path(const ContainerId& id) const;
  // The CRI log file of a container.
  [[nodiscard]] std::filesystem::path log_path(const ContainerId& id) const;

  // Pulls `ref` when it is not in the image store. Errors: the pull's.
  Status pull_image(std::string_view ref) override;
  // Image layers → overlay rootfs → bundle → state.db row → monitor (`create`). The image is
  // looked up by config.image_ref in the image store; config.image is used as given.
  // NetworkMode::kBridge first pins a network namespace at netns_path(id) and runs CNI ADD with
  // config.network.port_mappings (config.network.netns_path/address are ignored and filled in);
  // the address goes into the container's /etc/hosts and, with the namespace path, into
  // containers/<id>/network.json. On failure the network (CNI DEL, even after a failed ADD, and
  // the namespace), mount, directory, cgroup and row are removed again.
  // Errors: kAlreadyExists (id in use), kNotFound (image not pulled; a CNI plugin missing),
  // kInvalidArgument (port mappings without the bridge network, a bad port mapping), the CNI
  // errors of CniNetwork::attach (e.g. kInternal "no IP addresses available"), those of
  // build_bundle and start_monitor. A host port already in use is not detected (portmap's DNAT
  // rules take precedence over the listener, as with Docker's userland-proxy off).
  Status create_container(const ContainerId& id, const ContainerConfig& config) override;
  Status start_container(const ContainerId& id) override;
  // Sends the bundle's stop signal (annotation com.zlayer.stop-signal, SIGTERM by default),
  // waits up to `grace` for the exit, then SIGKILL and waits again.
  // stop, kill and remove record the request (monitor.h request_stop) before signalling, so the
  // exit they cause is never taken for a crash by the container's restart policy.
  Status stop_container(const ContainerId& id, std::chrono::milliseconds grace) override;
  Status kill_container(const ContainerId& id, int signal) override;
  // OCI `pause` / `resume` (cgroup freezer).
  Status pause_container(const ContainerId& id) override;
  Status unpause_container(const ContainerId& id) override;
  // Idempotent: SIGKILL if running, waits for the monitor, OCI delete, CNI DEL and deletion of
  // the network namespace (bridge), unmounts the rootfs, removes the cgroup, the directory and
  // the row. When CNI DEL fails the error is returned and the rest is kept, so remove can be
  // retried.
  Status remove_container(const ContainerId& id) override;
  Result<ContainerState> container_state(const ContainerId& id) override;
  Result<ExitStatus> wait_container(const ContainerId& id) override;
  // The monitor's pidfd (monitor.h open_exit_fd).
  Result<UniqueFd> exit_fd(const ContainerId& id) override;
  Status container_logs(const ContainerId& id, const LogOptions& options,
                        const LogCallback& callback) override;
  // Runs with the container's env (options.env added), cwd, user and capabilities. options.user
  // accepts "uid[:gid]" only (names: kUnsupported in this slice). tty: kUnsupported.
  Result<runtime::ExecResult> exec(const ContainerId& id, const ExecOptions& options) override;
  Result<ContainerStats> container_stats(const ContainerId& id) override;
  Result<int> container_pid(const ContainerId& id) override;
  // The IPv4 address CNI gave a bridge container ("10.89.0.2"), from containers/<id>/network.json
  // (no plugin runs). Errors: kNotFound (no such container), kUnsupported (network none or
  // host: no address of its own).
  Result<std::string> container_ip(const ContainerId& id) override;
  // Where a bridge container's network namespace is pinned: $ZLAYER_RUNTIME_DIR/netns/<id>.
  [[nodiscard]] std::filesystem::path netns_path(const ContainerId& id) const;
  Result<std::vector<ContainerId>> list_containers() override;

  // Everything `inspect` shows. Errors: kNotFound; kInternal when config.json is unreadable.
  Result<ContainerDetails> inspect(const ContainerId& id);

 private:
  struct Record {
    std::string image;
    pid_t monitor_pid = 0;
    pid_t pid = 0;
  };
  LinuxRuntime(LinuxConfig config, image::ImageService& images, RuntimeSelection selection,
               CgroupLayout layout, state::StateDb db);
  Result<Record> record(const ContainerId& id);
  Result<ExitStatus> wait_exit(const ContainerId& id, const Record& rec,
                               std::optional<std::chrono::milliseconds> timeout);
  void discard(const ContainerId& id, bool row);
  // The CNI network, created on first use so that hosts without the plugins still run
  // none/host containers. Errors: those of CniNetwork::create.
  Result<CniNetwork*> network();
  // Namespace + CNI ADD for `id`; fills net.netns_path/address and writes network.json into the
  // container directory. On error the caller's discard() undoes it.
  Status attach_network(const ContainerId& id, runtime::NetworkConfig& net);
  // CNI DEL, then the namespace; nothing to do for a container that never had one.
  Status detach_network(const ContainerId& id);

  LinuxConfig config_;
  image::ImageService& images_;
  OciRuntime oci_;
  std::vector<RejectedRuntime> rejected_;
  CgroupLayout layout_;
  state::StateDb db_;
  std::optional<CniNetwork> network_;
};

}  // namespace zlayer::runtime::linux
