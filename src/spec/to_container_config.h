// The bridge from the deployment spec to a backend: one service (optionally one replica group of
// it) plus its resolved env and pulled image config → runtime::ContainerConfig. Spec defaults and
// fill rules are applied here so the ServiceManager only calls it. Pure; thread-safe.
#pragma once

#include "core/error.h"
#include "image/manifest.h"
#include "runtime/container_config.h"
#include "spec/env.h"
#include "spec/spec.h"

namespace zlayer::spec {

struct ContainerConfigInput {
  std::string deployment;  // recorded as the annotation "com.zlayer.deployment"
  std::string service;     // recorded as the annotation "com.zlayer.service"
  const ServiceSpec* spec = nullptr;
  const ReplicaGroup* group = nullptr;  // its image/command/resources override the service's
  const ResolvedEnv* env = nullptr;     // resolve_env(merged_env(spec, group), …)
  image::ImageConfig image;             // the pulled image's config
};

// The env map a replica sees before resolution: the service's env with the group's on top.
[[nodiscard]] std::map<std::string, std::string> merged_env(const ServiceSpec& spec,
                                                            const ReplicaGroup* group);

// Builds the ContainerConfig: command (entrypoint/args/workdir), env ("KEY=VALUE"), user,
// hostname, resources (cpu cores; memory, memory_swap ("-1" = unlimited) as bytes; pids_limit,
// cpuset, cpu_shares), ulimits (-1 → unlimited), capabilities/cap_drop/privileged,
// read_only_root_fs, storage (bind, named, anonymous, tmpfs with size in bytes and mode; s3 is
// skipped — validation warned), devices, network mode (host → kHost, none → kNone, default and
// bridge → kBridge; the manager fills netns_path), dns (dropped with host networking, as
// upstream), extra_hosts, stop_signal, tty, labels. Fields the ContainerConfig has no place for
// (sysctls, security_opt, pid/ipc/userns modes, extra_groups, cgroup_parent, init_container,
// stdin_open) are left to later work (docs/spec.md lists them).
// Errors: kInvalidArgument (a size that does not parse — only for a spec that skipped
// validation; network_mode container:<id>, which has no single-node meaning yet: kUnsupported).
[[nodiscard]] Result<runtime::ContainerConfig> to_container_config(const ContainerConfigInput& in);

}  // namespace zlayer::spec
