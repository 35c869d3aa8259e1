#include "spec/to_container_config.h"

#include <limits>

#include "core/quantity.h"

namespace zlayer::spec {
namespace {

Result<std::uint64_t> bytes_of(const std::string& text, std::string_view field) {
  return parse_byte_quantity(text, ByteQuantityForm{.allow_byte_suffix = false})
      .map_error([&](Error e) { return e.wrap(field); });
}

std::optional<std::uint64_t> rlimit_of(const std::optional<std::int64_t>& value) {
  if (!value) return std::nullopt;
  if (*value < 0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(*value);
}

Status apply_resources(const ResourcesSpec& r, runtime::ResourceLimits& out) {
  if (r.cpu) out.cpus = *r.cpu;
  if (r.memory) {
    ZLAYER_TRY(bytes, bytes_of(*r.memory, "resources.memory"));
    out.memory_bytes = bytes;
  }
  if (r.memory_swap) {
    if (*r.memory_swap == "-1") {
      out.memory_swap_bytes = -1;
    } else {
      ZLAYER_TRY(bytes, bytes_of(*r.memory_swap, "resources.memory_swap"));
      out.memory_swap_bytes = static_cast<std::int64_t>(bytes);
    }
  }
  if (r.pids_limit) out.pids_limit = *r.pids_limit;
  if (r.cpuset) out.cpuset_cpus = *r.cpuset;
  if (r.cpu_shares) out.cpu_shares = *r.cpu_shares;
  return {};
}

}  // namespace

std::map<std::string, std::string> merged_env(const ServiceSpec& spec, const ReplicaGroup* group) {
  std::map<std::string, std::string> env = spec.env;
  if (group) {
    for (const auto& [key, value] : group->env) env[key] = value;
  }
  return env;
}

Result<runtime::ContainerConfig> to_container_config(const ContainerConfigInput& in) {
  if (!in.spec) return make_error(Errc::kInvalidArgument, "to_container_config: no service spec");
  const ServiceSpec& s = *in.spec;
  const ReplicaGroup* group = in.group;
  runtime::ContainerConfig c;
  c.image_ref = group && group->image ? group->image->name : s.image.name;
  c.image = in.image;

  const CommandSpec& command = group && group->command ? *group->command : s.command;
  c.entrypoint = command.entrypoint;
  c.args = command.args;
  c.working_dir = command.workdir;
  if (in.env) c.env = in.env->key_values();
  c.user = s.user;
  c.hostname = s.hostname;

  ZLAYER_CHECK(apply_resources(s.resources, c.resources));
  if (group && group->resources) ZLAYER_CHECK(apply_resources(*group->resources, c.resources));

  for (const auto& [name, limit] : s.ulimits) {
    c.ulimits[name] = runtime::UlimitValue{rlimit_of(limit.soft), rlimit_of(limit.hard)};
  }
  c.capabilities.cap_add = s.capabilities;
  c.capabilities.cap_drop = s.cap_drop;
  c.capabilities.privileged = s.privileged;
  c.read_only_root_fs = s.read_only_root_fs;

  for (const auto& entry : s.storage) {
    if (const auto* bind = std::get_if<BindStorage>(&entry)) {
      c.storage.push_back(runtime::BindMount{bind->source, bind->target, bind->readonly});
    } else if (const auto* named = std::get_if<NamedStorage>(&entry)) {
      c.storage.push_back(runtime::NamedVolume{named->name, named->target, named->readonly});
    } else if (const auto* anonymous = std::get_if<AnonymousStorage>(&entry)) {
      c.storage.push_back(runtime::AnonymousVolume{anonymous->target});
    } else if (const auto* tmpfs = std::get_if<TmpfsStorage>(&entry)) {
      runtime::TmpfsMount mount{tmpfs->target, std::nullopt, tmpfs->mode};
      if (tmpfs->size) {
        ZLAYER_TRY(bytes, bytes_of(*tmpfs->size, "storage.size"));
        mount.size_bytes = bytes;
      }
      c.storage.push_back(mount);
    }
    // S3 storage: a cluster feature, warned about at validation and not mounted here.
  }
  for (const auto& device : s.devices) {
    c.devices.push_back(
        runtime::DeviceMapping{device.path, device.read, device.write, device.mknod});
  }

  switch (s.network_mode.kind) {
    case NetworkModeKind::kHost:
      c.network.mode = runtime::NetworkMode::kHost;
      break;
    case NetworkModeKind::kNone:
      c.network.mode = runtime::NetworkMode::kNone;
      break;
    case NetworkModeKind::kDefault:
    case NetworkModeKind::kBridge:
      c.network.mode = runtime::NetworkMode::kBridge;
      break;
    case NetworkModeKind::kContainer:
      return errorf(Errc::kUnsupported,
                    "service {}: network_mode container:{} is not supported by this agent",
                    in.service, s.network_mode.name);
  }
  // Upstream writes resolv.conf from `dns` only when the container has its own network.
  if (c.network.mode != runtime::NetworkMode::kHost) c.dns.servers = s.dns;
  c.extra_hosts = s.extra_hosts;
  c.stop_signal = s.stop_signal;
  c.tty = s.tty;
  c.labels = s.labels;
  c.annotations["com.zlayer.deployment"] = in.deployment;
  c.annotations["com.zlayer.service"] = in.service;
  if (group) c.annotations["com.zlayer.role"] = group->role;
  return c;
}

}  // namespace zlayer::spec
