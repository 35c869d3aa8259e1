#include "runtime/linux/linux_runtime.h"

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "image/rootfs.h"
#include "runtime/linux/bundle.h"
#include "runtime/linux/monitor.h"
#include "runtime/linux/netns.h"
#include "runtime/linux/user_resolve.h"
#include "runtime/logs/log_store.h"

namespace zlayer::runtime::linux {
namespace fs = std::filesystem;
using state::Value;

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(::time(nullptr)); }

ExitStatus to_exit_status(const ExitRecord& r) {
  return ExitStatus{r.exit_code, r.signal, r.oom_killed, r.finished_at};
}

Result<nlohmann::json> read_json_object(const fs::path& dir, std::string_view name) {
  ZLAYER_TRY(text, read_file(dir / name));
  auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return errorf(Errc::kInternal, "{}: {} is not a JSON object", dir.string(), name);
  }
  return parsed;
}

std::optional<Clock::WallTime> unix_time(const Value& v) {
  const auto* seconds = std::get_if<std::int64_t>(&v);
  if (seconds == nullptr || *seconds <= 0) return std::nullopt;
  return Clock::WallTime(std::chrono::seconds(*seconds));
}

// The mounts config.json has because a user asked for them: the OCI defaults and the etc files
// the bundle writes are left out (bundle.h lists them).
std::vector<MountDetails> user_mounts(const nlohmann::json& config, const fs::path& volumes_dir,
                                      const fs::path& container_dir) {
  static const std::set<std::string> kDefaults = {
      "/proc",         "/dev",        "/dev/pts",     "/dev/shm",        "/dev/mqueue", "/sys",
      "/sys/fs/cgroup", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"};
  std::vector<MountDetails> mounts;
  for (const auto& m : config.value("mounts", nlohmann::json::array())) {
    if (!m.is_object()) continue;
    MountDetails d;
    d.destination = m.value("destination", std::string());
    if (kDefaults.count(d.destination)) continue;
    d.source = m.value("source", std::string());
    const auto options = m.value("options", std::vector<std::string>{});
    d.readonly = std::find(options.begin(), options.end(), "ro") != options.end();
    const std::string type = m.value("type", std::string());
    if (type == "tmpfs") {
      d.type = "tmpfs";
    } else if (fs::path(d.source).parent_path() == volumes_dir) {
      d.type = "volume";
      d.name = fs::path(d.source).filename().string();
    } else if (fs::path(d.source).parent_path() == container_dir / "volumes") {
      d.type = "anonymous";
    } else {
      d.type = "bind";
    }
    mounts.push_back(std::move(d));
  }
  return mounts;
}

Result<nlohmann::json> read_config(const fs::path& dir) {
  return read_json_object(dir, "config.json");
}

// A bridge container's place on the network, beside its bundle (docs/design.md §10).
constexpr std::string_view kNetworkFile = "network.json";

}  // namespace

LinuxRuntime::LinuxRuntime(LinuxConfig config, image::ImageService& images,
                           RuntimeSelection selection, CgroupLayout layout, state::StateDb db)
    : config_(std::move(config)),
      images_(images),
      oci_(std::move(selection.runtime)),
      rejected_(std::move(selection.rejected)),
      layout_(std::move(layout)),
      db_(std::move(db)) {}

Result<std::unique_ptr<LinuxRuntime>> LinuxRuntime::open(LinuxConfig config,
                                                         image::ImageService& images) {
  const NetworkConfig network_defaults = NetworkConfig::defaults(config.paths);
  if (config.network.ipam_data_dir.empty()) {
    config.network.ipam_data_dir = network_defaults.ipam_data_dir;
  }
  if (config.network.cache_dir.empty()) config.network.cache_dir = network_defaults.cache_dir;
  // The OCI state belongs to config.paths, not to whatever $ZLAYER_RUNTIME_DIR says: another
  // process over the same directories must find the containers.
  ZLAYER_TRY(selection,
             select_oci_runtime(config.oci_runtime,
                                config.oci_state_root.value_or(config.paths.runtime_dir / "oci")));
  ZLAYER_TRY(layout, detect_cgroup_layout());
  ZLAYER_CHECK(make_dirs(config.paths.containers_dir()));
  ZLAYER_TRY(db, state::StateDb::open(config.paths.state_db()));
  return std::unique_ptr<LinuxRuntime>(new LinuxRuntime(
      std::move(config), images, std::move(selection), std::move(layout), std::move(db)));
}

fs::path LinuxRuntime::container_dir(const ContainerId& id) const {
  return config_.paths.containers_dir() / id.str();
}

std::string LinuxRuntime::cgroups_path(const ContainerId& id) const {
  return "/" + config_.cgroup_parent + "/" + id.str();
}

fs::path LinuxRuntime::attach_socket_path(const ContainerId& id) const {
  return config_.paths.runtime_dir / "attach" / (id.str() + ".sock");
}

fs::path LinuxRuntime::log_path(const ContainerId& id) const {
  return container_dir(id) / "container.log";
}

fs::path LinuxRuntime::netns_path(const ContainerId& id) const {
  return container_netns_path(config_.paths, id.str());
}

Result<CniNetwork*> LinuxRuntime::network() {
  if (!network_) {
    ZLAYER_TRY(created, CniNetwork::create(config_.network));
    network_.emplace(std::move(created));
  }
  return &*network_;
}

Status LinuxRuntime::attach_network(const ContainerId& id, runtime::NetworkConfig& net) {
  ZLAYER_TRY(cni, network());
  const fs::path netns = netns_path(id);
  ZLAYER_CHECK(create_netns(netns));
  ZLAYER_TRY(attached, cni->attach(id.str(), netns, net.port_mappings));
  net.netns_path = netns.string();
  net.address = attached.ipv4();
  // The network's configuration too: remove must DEL from the network the container joined,
  // even when a later agent runs with other settings.
  nlohmann::json record = {{"mode", "bridge"},
                           {"network", config_.network.network_name},
                           {"bridge", config_.network.bridge_name},
                           {"subnet", config_.network.subnet},
                           {"ipam_data_dir", config_.network.ipam_data_dir.string()},
                           {"cache_dir", config_.network.cache_dir.string()},
                           {"cni_bin_dir", config_.network.cni_bin_dir.string()},
                           {"netns", netns.string()},
                           {"ip", net.address},
                           {"mac", attached.mac},
                           {"ports", nlohmann::json::array()}};
  if (!attached.addresses.empty()) record["gateway"] = attached.addresses.front().gateway;
  for (const auto& port : net.port_mappings) {
    record["ports"].push_back({{"host_ip", port.host_ip},
                               {"host_port", port.host_port},
                               {"container_port", port.container_port},
                               {"protocol", port.protocol}});
  }
  return atomic_write_file(container_dir(id) / kNetworkFile, record.dump(2) + "\n", 0600);
}

Status LinuxRuntime::detach_network(const ContainerId& id) {
  const fs::path netns = netns_path(id);
  std::error_code ec;
  // The namespace is pinned before ADD and deleted after DEL, so a container without that file
  // and without network.json never reached the network.
  const bool pinned = fs::symlink_status(netns, ec).type() != fs::file_type::not_found;
  auto recorded = read_json_object(container_dir(id), kNetworkFile);
  if (!pinned && !recorded) return {};
  NetworkConfig joined = config_.network;
  if (recorded) {
    joined.network_name = recorded->value("network", joined.network_name);
    joined.bridge_name = recorded->value("bridge", joined.bridge_name);
    joined.subnet = recorded->value("subnet", joined.subnet);
    joined.ipam_data_dir = recorded->value("ipam_data_dir", joined.ipam_data_dir.string());
    joined.cache_dir = recorded->value("cache_dir", joined.cache_dir.string());
    joined.cni_bin_dir = recorded->value("cni_bin_dir", joined.cni_bin_dir.string());
  }
  const auto& ours = config_.network;
  if (joined.network_name == ours.network_name && joined.bridge_name == ours.bridge_name &&
      joined.subnet == ours.subnet && joined.ipam_data_dir == ours.ipam_data_dir &&
      joined.cache_dir == ours.cache_dir && joined.cni_bin_dir == ours.cni_bin_dir) {
    ZLAYER_TRY(cni, network());
    ZLAYER_CHECK(cni->detach(id.str(), netns));
  } else {
    ZLAYER_TRY(other, CniNetwork::create(std::move(joined)));
    ZLAYER_CHECK(other.detach(id.str(), netns));
  }
  return delete_netns(netns);
}

Status LinuxRuntime::pull_image(std::string_view ref) {
  if (images_.inspect(ref)) return {};
  ZLAYER_TRY(parsed, image::Reference::parse(ref));
  ZLAYER_TRY(pulled, images_.pull(parsed));
  (void)pulled;
  return {};
}

Result<LinuxRuntime::Record> LinuxRuntime::record(const ContainerId& id) {
  ZLAYER_TRY(rows, db_.query("SELECT image, monitor_pid, pid FROM containers WHERE id = ?1 AND "
                             "backend = 'linux'",
                             {id.str()}));
  if (rows.empty()) return errorf(Errc::kNotFound, "no such container: {}", id.str());
  Record rec;
  if (auto* s = std::get_if<std::string>(&rows[0][0])) rec.image = *s;
  if (auto* p = std::get_if<std::int64_t>(&rows[0][1])) rec.monitor_pid = static_cast<pid_t>(*p);
  if (auto* p = std::get_if<std::int64_t>(&rows[0][2])) rec.pid = static_cast<pid_t>(*p);
  return rec;
}

void LinuxRuntime::discard(const ContainerId& id, bool row) {
  // Best effort: each step runs even when an earlier one failed, so nothing is left behind.
  const fs::path dir = container_dir(id);
  (void)oci_.remove(id.str(), /*force=*/true);
  (void)detach_network(id);
  (void)image::unmount_rootfs(dir, /*remove_dirs=*/true);
  (void)remove_cgroup(layout_, cgroups_path(id));
  (void)remove_tree(dir);
  if (row) (void)db_.exec("DELETE FROM containers WHERE id = ?1", {id.str()});
}

Status LinuxRuntime::create_container(const ContainerId& id, const ContainerConfig& config) {
  if (config.network.mode != NetworkMode::kBridge && !config.network.port_mappings.empty()) {
    return errorf(Errc::kInvalidArgument,
                  "container {}: port mappings need the bridge network (network mode {} has no "
                  "address of its own to publish)",
                  id.str(), config.network.mode == NetworkMode::kHost ? "host" : "none");
  }
  ZLAYER_CHECK(ContainerId::validate_service_name(id.service));
  const fs::path dir = container_dir(id);
  ZLAYER_TRY(existing, db_.query("SELECT 1 FROM containers WHERE id = ?1", {id.str()}));
  if (!existing.empty() || fs::exists(dir)) {
    return errorf(Errc::kAlreadyExists, "container {} already exists", id.str());
  }
  ZLAYER_TRY(details, images_.inspect(config.image_ref));
  ZLAYER_TRY(layers, images_.layer_dirs(details));
  ZLAYER_CHECK(make_dirs(dir, 0700));
  // The layers this container's rootfs stacks, so `image prune` keeps them even after the image
  // is untagged (image/image_service.h kContainerSnapshotsFile).
  {
    std::string pinned;
    for (const auto& diff_id : details.config.diff_ids) pinned += diff_id.str() + "\n";
    if (auto wrote = atomic_write_file(dir / image::kContainerSnapshotsFile, pinned); !wrote) {
      discard(id, false);
      return tl::unexpected(wrote.error());
    }
  }

  auto built = [&]() -> Status {
    const ContainerConfig* effective = &config;
    ContainerConfig bridged;
    if (config.network.mode == NetworkMode::kBridge) {
      bridged = config;
      ZLAYER_CHECK(attach_network(id, bridged.network));
      effective = &bridged;
    }
    ZLAYER_TRY(mounted, image::mount_rootfs(layers, dir));
    ZLAYER_TRY(context, BundleContext::for_host(id.str(), dir, mounted.rootfs, config_.paths,
                                                cgroups_path(id)));
    ZLAYER_TRY(plan, build_bundle(*effective, context));
    (void)plan;
    return {};
  }();
  if (!built) {
    discard(id, false);
    return tl::unexpected(built.error());
  }
  auto inserted = db_.exec(
      "INSERT INTO containers (id, deployment, service, replica, backend, image, bundle, status, "
      "created_at) VALUES (?1, '', ?2, ?3, 'linux', ?4, ?5, 'created', ?6)",
      {id.str(), id.service, static_cast<std::int64_t>(id.replica), config.image_ref, dir.string(),
       unix_now()});
  if (!inserted) {
    discard(id, false);
    return tl::unexpected(inserted.error());
  }
  MonitorConfig monitor{.container_id = id.str(),
                        .bundle = dir,
                        .container_dir = dir,
                        .log_path = log_path(id),
                        .runtime = &oci_,
                        .terminal = config.tty,
                        .open_stdin = config.open_stdin,
                        .restart = config.restart};
  if (config.tty || config.open_stdin) {
    monitor.attach_socket = attach_socket_path(id);
    if (auto made = make_dirs(monitor.attach_socket.parent_path(), 0700); !made) {
      discard(id, true);
      return made;
    }
  }
  auto handle = start_monitor(monitor);
  if (!handle) {
    discard(id, true);
    return tl::unexpected(handle.error());
  }
  auto updated = db_.exec("UPDATE containers SET monitor_pid = ?2, pid = ?3 WHERE id = ?1",
                          {id.str(), static_cast<std::int64_t>(handle->monitor_pid),
                           static_cast<std::int64_t>(handle->container_pid)});
  if (!updated) {
    (void)oci_.kill(id.str(), SIGKILL);
    (void)wait_for_exit(dir, handle->monitor_pid, std::chrono::seconds(30));
    discard(id, true);
    return tl::unexpected(updated.error());
  }
  return {};
}

Status LinuxRuntime::start_container(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ZLAYER_CHECK(oci_.start(id.str()));
  (void)db_.exec("UPDATE containers SET status = 'running', started_at = ?2 WHERE id = ?1",
                 {id.str(), unix_now()});
  return {};
}

Result<ExitStatus> LinuxRuntime::wait_exit(const ContainerId& id, const Record& rec,
                                           std::optional<std::chrono::milliseconds> timeout) {
  ZLAYER_TRY(exit, wait_for_exit(container_dir(id), rec.monitor_pid, timeout));
  (void)db_.exec(
      "UPDATE containers SET status = 'exited', exit_code = ?2, exit_signal = ?3, oom_killed = ?4, "
      "finished_at = ?5 WHERE id = ?1",
      {id.str(), static_cast<std::int64_t>(exit.exit_code), static_cast<std::int64_t>(exit.signal),
       static_cast<std::int64_t>(exit.oom_killed ? 1 : 0), unix_now()});
  return to_exit_status(exit);
}

Status LinuxRuntime::stop_container(const ContainerId& id, std::chrono::milliseconds grace) {
  ZLAYER_TRY(rec, record(id));
  ZLAYER_TRY(current, container_state(id));
  if (current.is_finished()) return {};
  int stop_signal = SIGTERM;
  if (auto config = read_config(container_dir(id))) {
    auto annotation = config->value("/annotations"_json_pointer, nlohmann::json::object())
                          .value(std::string(kStopSignalAnnotation), std::string());
    if (!annotation.empty()) {
      if (auto parsed = parse_signal(annotation)) stop_signal = *parsed;
    }
  }
  ZLAYER_CHECK(request_stop(container_dir(id), rec.monitor_pid, "stop"));
  // Waiting to restart (--restart backoff): no process to signal; the monitor sees the request
  // and records the last exit as final.
  if (current.phase == ContainerState::Phase::kPending) {
    ZLAYER_TRY(ended, wait_exit(id, rec, std::max(grace, std::chrono::milliseconds(5000))));
    (void)ended;
    return {};
  }
  if (auto sent = oci_.kill(id.str(), stop_signal); !sent) {
    // Already gone between the state check and the signal: that is a stopped container.
    if (sent.error().code != Errc::kFailedPrecondition && sent.error().code != Errc::kNotFound) {
      return sent;
    }
  }
  auto exited = wait_exit(id, rec, grace);
  if (exited) return {};
  if (exited.error().code != Errc::kDeadlineExceeded) return tl::unexpected(exited.error());
  if (auto sent = oci_.kill(id.str(), SIGKILL); !sent &&
                                                sent.error().code != Errc::kFailedPrecondition &&
                                                sent.error().code != Errc::kNotFound) {
    return sent;
  }
  ZLAYER_TRY(killed, wait_exit(id, rec, std::nullopt));
  (void)killed;
  return {};
}

Status LinuxRuntime::kill_container(const ContainerId& id, int signal) {
  ZLAYER_TRY(rec, record(id));
  // As Docker: only a running container takes signals; one waiting to restart says so (and is
  // not stopped by the attempt).
  ZLAYER_TRY(state, container_state(id));
  if (state.phase == ContainerState::Phase::kPending && !state.reason.empty()) {
    return errorf(Errc::kFailedPrecondition,
                  "container {} is {}; wait until it runs, or stop it", id.str(), state.reason);
  }
  if (!state.can_stop()) {
    return errorf(Errc::kFailedPrecondition, "container {} is not running (it is {})", id.str(),
                  state.phase_name());
  }
  // Docker's rule: a container the user signals is "manually stopped" and not restarted when
  // that signal ends it.
  ZLAYER_CHECK(request_stop(container_dir(id), rec.monitor_pid, "kill"));
  return oci_.kill(id.str(), signal);
}

Status LinuxRuntime::pause_container(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ZLAYER_CHECK(oci_.pause(id.str()));
  (void)db_.exec("UPDATE containers SET status = 'paused' WHERE id = ?1", {id.str()});
  return {};
}

Status LinuxRuntime::unpause_container(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ZLAYER_CHECK(oci_.resume(id.str()));
  (void)db_.exec("UPDATE containers SET status = 'running' WHERE id = ?1", {id.str()});
  return {};
}

Status LinuxRuntime::remove_container(const ContainerId& id) {
  auto rec = record(id);
  if (!rec) {
    if (rec.error().code != Errc::kNotFound) return tl::unexpected(rec.error());
    discard(id, false);  // leftovers of a create that died half-way
    return {};
  }
  if (rec->monitor_pid > 0 && !fs::exists(container_dir(id) / kExitFile)) {
    ZLAYER_CHECK(request_stop(container_dir(id), rec->monitor_pid, "rm"));
    (void)oci_.kill(id.str(), SIGKILL);
  }
  if (rec->monitor_pid > 0) {
    // The monitor reads the OOM counter before delete takes the cgroup away (monitor.h).
    auto exited = wait_exit(id, *rec, std::chrono::seconds(30));
    if (!exited && exited.error().code == Errc::kDeadlineExceeded) {
      return errorf(Errc::kUnavailable, "container {}: its monitor (pid {}) did not finish",
                    id.str(), rec->monitor_pid);
    }
  }
  ZLAYER_CHECK(oci_.remove(id.str(), /*force=*/true));
  if (auto detached = detach_network(id); !detached) {
    // CNI DEL is best effort (CNI spec: DEL should succeed when resources are already gone):
    // a failed teardown — e.g. iptables rules that lived in a network namespace deleted since —
    // must not make the container impossible to remove, as with `podman rm -f`.
    spdlog::warn("container {}: network teardown failed, removing it anyway: {}", id.str(),
                 detached.error().message);
    ZLAYER_CHECK(delete_netns(netns_path(id)));
  }
  ZLAYER_CHECK(image::unmount_rootfs(container_dir(id), /*remove_dirs=*/true));
  ZLAYER_CHECK(remove_cgroup(layout_, cgroups_path(id)));
  ZLAYER_CHECK(remove_tree(container_dir(id)));
  std::error_code ignored;
  fs::remove(attach_socket_path(id), ignored);
  ZLAYER_TRY(deleted, db_.exec("DELETE FROM containers WHERE id = ?1", {id.str()}));
  (void)deleted;
  return {};
}

Result<ContainerState> LinuxRuntime::container_state(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ContainerState result;
  auto restarts = read_restart_file(container_dir(id) / kRestartFile);
  if (restarts) result.restart_count = restarts->restart_count;
  auto exit = read_exit_file(container_dir(id) / kExitFile);
  if (!exit && restarts && restarts->restarting) {
    // Between an exit and the restart (backoff, delete, create): Docker's "restarting".
    result.phase = ContainerState::Phase::kPending;
    result.reason = fmt::format("restarting after {} (restart {}, policy {})",
                                to_exit_status(restarts->last_exit).describe(),
                                restarts->restart_count, restarts->policy);
    return result;
  }
  if (exit) {
    result.phase = ContainerState::Phase::kExited;
    result.exit = to_exit_status(*exit);
    return result;
  }
  if (exit.error().code != Errc::kNotFound) return tl::unexpected(exit.error());
  auto oci = oci_.state(id.str());
  if (!oci) {
    if (oci.error().code != Errc::kNotFound) return tl::unexpected(oci.error());
    result.phase = ContainerState::Phase::kFailed;
    result.reason = "the OCI runtime does not know the container and it left no exit status";
    return result;
  }
  switch (oci->status) {
    case OciStatus::kCreating:
      result.phase = ContainerState::Phase::kPending;
      break;
    case OciStatus::kCreated:
      result.phase = ContainerState::Phase::kCreated;
      break;
    case OciStatus::kRunning:
      result.phase = ContainerState::Phase::kRunning;
      break;
    case OciStatus::kPaused:
      result.phase = ContainerState::Phase::kPaused;
      break;
    // Stopped but the monitor has not written exit.json yet: still ending.
    case OciStatus::kStopped:
      result.phase = ContainerState::Phase::kStopping;
      break;
  }
  return result;
}

Result<ExitStatus> LinuxRuntime::wait_container(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  return wait_exit(id, rec, std::nullopt);
}

Result<UniqueFd> LinuxRuntime::exit_fd(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  if (rec.monitor_pid <= 0) {
    return errorf(Errc::kFailedPrecondition, "container {} was never started", id.str());
  }
  return open_exit_fd(container_dir(id), rec.monitor_pid);
}

Status LinuxRuntime::container_logs(const ContainerId& id, const LogOptions& options,
                                    const LogCallback& callback) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  const fs::path exit_file = container_dir(id) / kExitFile;
  logs::LogReadOptions read;
  read.tail = options.tail;
  read.since = options.since;
  read.until = options.until;
  read.timestamps = options.timestamps;
  read.show_stdout = options.streams != LogStreams::kStderr;
  read.show_stderr = options.streams != LogStreams::kStdout;
  read.follow = options.follow;
  // The monitor writes exit.json only after the log is closed (monitor.h protocol step 4).
  read.container_exited = [exit_file] { return fs::exists(exit_file); };
  auto result = logs::read_logs(log_path(id), read, [&](const logs::LogLine& line) {
    return callback(LogEntry{line.stream == logs::Stream::kStderr, line.time, line.text});
  });
  if (!result) {
    // A container that has not written anything yet has no log file.
    if (result.error().code == Errc::kNotFound && !options.follow) return {};
    return tl::unexpected(result.error());
  }
  return {};
}

Result<runtime::ExecResult> LinuxRuntime::exec(const ContainerId& id, const ExecOptions& options) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  if (options.tty) {
    return errorf(Errc::kUnsupported, "exec in {}: a terminal is not supported yet", id.str());
  }
  if (options.command.empty()) {
    return errorf(Errc::kInvalidArgument, "exec in {}: the command is empty", id.str());
  }
  ZLAYER_TRY(config, read_config(container_dir(id)));
  const auto& proc = config.value("process", nlohmann::json::object());
  ExecProcess process;
  process.args = options.command;
  process.env = proc.value("env", std::vector<std::string>{});
  for (const auto& kv : options.env) process.env.push_back(kv);
  process.cwd =
      options.working_dir.empty() ? proc.value("cwd", std::string("/")) : options.working_dir;
  const auto& user = proc.value("user", nlohmann::json::object());
  process.uid = user.value("uid", 0u);
  process.gid = user.value("gid", 0u);
  process.additional_gids = user.value("additionalGids", std::vector<std::uint32_t>{});
  if (!options.user.empty()) {
    ZLAYER_TRY(resolved, resolve_user(container_dir(id) / "rootfs", options.user));
    process.uid = resolved.uid;
    process.gid = resolved.gid;
    process.additional_gids = resolved.additional_gids;
  }
  process.no_new_privileges = proc.value("noNewPrivileges", true);
  process.capabilities =
      proc.value("/capabilities/effective"_json_pointer, std::vector<std::string>{});
  ZLAYER_TRY(result, oci_.exec(id.str(), process, {}, options.timeout));
  return runtime::ExecResult{result.exit_code, std::move(result.stdout_text),
                             std::move(result.stderr_text)};
}

Result<ContainerStats> LinuxRuntime::container_stats(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ZLAYER_TRY(cg, read_stats(layout_, cgroups_path(id)));
  ContainerStats stats;
  stats.cpu_ns = cg.cpu_usage_ns.value_or(0);
  stats.memory_bytes = cg.memory_usage_bytes.value_or(0);
  stats.memory_limit_bytes = cg.memory_limit_bytes;
  stats.pids = cg.pids_current.value_or(0);
  stats.io_read_bytes = cg.blkio_read_bytes.value_or(0);
  stats.io_write_bytes = cg.blkio_write_bytes.value_or(0);
  return stats;
}

Result<int> LinuxRuntime::container_pid(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  ZLAYER_TRY(oci, oci_.state(id.str()));
  if (oci.pid <= 0 || oci.status == OciStatus::kStopped) {
    return errorf(Errc::kFailedPrecondition, "container {} is not running", id.str());
  }
  return static_cast<int>(oci.pid);
}

Result<std::string> LinuxRuntime::container_ip(const ContainerId& id) {
  ZLAYER_TRY(rec, record(id));
  (void)rec;
  auto network = read_json_object(container_dir(id), kNetworkFile);
  if (!network) {
    if (network.error().code != Errc::kNotFound) return unexpected(std::move(network).error());
    return errorf(Errc::kUnsupported,
                  "container {} is on the none or host network, which gives it no address of its "
                  "own",
                  id.str());
  }
  std::string ip = network->value("ip", std::string());
  if (ip.empty()) {
    return errorf(Errc::kInternal, "container {}: {} names no IPv4 address", id.str(),
                  (container_dir(id) / kNetworkFile).string());
  }
  return ip;
}

Result<std::vector<ContainerId>> LinuxRuntime::list_containers() {
  ZLAYER_TRY(rows, db_.query("SELECT id FROM containers WHERE backend = 'linux' ORDER BY id"));
  std::vector<ContainerId> ids;
  for (const auto& row : rows) {
    if (auto* s = std::get_if<std::string>(&row[0])) {
      if (auto parsed = ContainerId::parse(*s)) ids.push_back(*parsed);
    }
  }
  return ids;
}

Result<ContainerDetails> LinuxRuntime::inspect(const ContainerId& id) {
  ZLAYER_TRY(rows, db_.query("SELECT image, created_at, started_at, deployment FROM containers "
                             "WHERE id = ?1 AND backend = 'linux'",
                             {id.str()}));
  if (rows.empty()) return errorf(Errc::kNotFound, "no such container: {}", id.str());
  ContainerDetails d;
  d.id = id;
  d.image = state::as_string(rows[0][0]);
  d.created_at = unix_time(rows[0][1]);
  d.started_at = unix_time(rows[0][2]);
  const std::string deployment = state::as_string(rows[0][3]);
  ZLAYER_TRY(current, container_state(id));
  d.state = current;
  if (current.exit) d.finished_at = current.exit->finished_at;
  if (!current.is_finished()) {
    if (auto oci = oci_.state(id.str()); oci && oci->status != OciStatus::kStopped) {
      d.pid = static_cast<int>(oci->pid);
    }
  }
  const fs::path dir = container_dir(id);
  ZLAYER_TRY(config, read_config(dir));
  const auto& proc = config.value("process", nlohmann::json::object());
  d.args = proc.value("args", std::vector<std::string>{});
  d.env = proc.value("env", std::vector<std::string>{});
  // Env values that came from secrets are shown redacted (ContainerConfig kSecretEnvAnnotation).
  if (auto secret = config.value("/annotations"_json_pointer, nlohmann::json::object())
                        .value(kSecretEnvAnnotation, std::string());
      !secret.empty()) {
    std::set<std::string> keys;
    for (std::size_t start = 0; start <= secret.size();) {
      auto comma = secret.find(',', start);
      if (comma == std::string::npos) comma = secret.size();
      keys.insert(secret.substr(start, comma - start));
      start = comma + 1;
    }
    for (auto& kv : d.env) {
      if (keys.count(kv.substr(0, kv.find('=')))) kv = kv.substr(0, kv.find('=')) + "=<redacted>";
    }
  }
  d.working_dir = proc.value("cwd", std::string("/"));
  const auto& user = proc.value("user", nlohmann::json::object());
  d.user = fmt::format("{}:{}", user.value("uid", 0u), user.value("gid", 0u));
  d.hostname = config.value("hostname", std::string());
  const auto& linux_section = config.value("linux", nlohmann::json::object());
  const auto& resources = linux_section.value("resources", nlohmann::json::object());
  if (auto limit = resources.value("/memory/limit"_json_pointer, std::int64_t{-1}); limit > 0) {
    d.memory_limit_bytes = static_cast<std::uint64_t>(limit);
  }
  const auto quota = resources.value("/cpu/quota"_json_pointer, std::int64_t{-1});
  const auto period = resources.value("/cpu/period"_json_pointer, std::int64_t{0});
  if (quota > 0 && period > 0) d.cpus = static_cast<double>(quota) / static_cast<double>(period);
  d.network_mode = "host";
  for (const auto& ns : linux_section.value("namespaces", nlohmann::json::array())) {
    if (ns.value("type", std::string()) != "network") continue;
    d.network_mode = ns.contains("path") ? "bridge" : "none";
  }
  if (auto ip = container_ip(id)) d.ip = *ip;
  d.mounts = user_mounts(config, config_.paths.volumes_dir(), dir);
  d.log_path = log_path(id);
  d.bundle = dir;
  d.oci_runtime = oci_.name();
  if (auto restarts = db_.query(
          "SELECT restart_count FROM services WHERE deployment = ?1 AND name = ?2",
          {deployment, id.service});
      restarts && !restarts->empty()) {
    d.restart_count = state::as_int((*restarts)[0][0]);
  }
  return d;
}

}  // namespace zlayer::runtime::linux
