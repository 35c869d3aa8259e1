// What the container verbs (run, ps, exec, logs, stop, kill, rm, inspect, stats, info) share:
// the linux backend's configuration from the environment, opening it, and turning what the user
// typed into a container id (a name, a full id or a unique prefix, docs/design.md §3).
// Main thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/container_id.h"
#include "core/error.h"
#include "image/image_service.h"
#include "runtime/linux/linux_runtime.h"

namespace zlayer::cli {

// Docker's exit code when the agent itself fails before the container runs.
inline constexpr int kAgentFailed = 125;

// Prints "zlayer-agent: <message>" to stderr and returns 1.
int fail(const Error& e);

// LinuxConfig from the environment: Paths::from_env(), $ZLAYER_OCI_RUNTIME (crun, runc, youki or
// a path), $ZLAYER_CGROUP_PARENT (tests give each agent its own) and the bridge network's
// $ZLAYER_BRIDGE_NAME, $ZLAYER_BRIDGE_SUBNET, $ZLAYER_CNI_NETWORK, $ZLAYER_CNI_PLUGIN_DIR.
runtime::linux::LinuxConfig linux_config();

// The image store and the linux backend, for verbs that act on containers.
struct Backend {
  std::unique_ptr<image::ImageService> images;
  std::unique_ptr<runtime::linux::LinuxRuntime> runtime;
};
// Errors: those of ImageService::open and LinuxRuntime::open.
Result<Backend> open_backend();

// The container `text` names among `known`: a full id ("web-rep-2"), else a name (the service
// part, "web", when exactly one replica has it), else a unique prefix of one full id
// that is longer than that id's name ("web-r"; "db" never means "dbbackup-rep-1").
// Errors: kNotFound ("no such container: X"); kInvalidArgument when a name or prefix matches
// several containers (they are listed). Pure.
Result<ContainerId> resolve_container_id(std::string_view text,
                                         const std::vector<ContainerId>& known);

// Docker's verbs that take several containers (`stop a b`, `rm -f a b`, `kill a b`): runs `one`
// (an exit code) for each name in order and goes on after a failure, as Docker does. Returns 0
// when every one returned 0, else the first non-zero code.
int for_each_container(const std::vector<std::string>& names,
                       const std::function<int(const std::string&)>& one);

// Opens the backend, resolves `text` and runs `body`; prints its error and returns 1 on failure,
// else 0.
int with_container(
    const std::string& text,
    const std::function<Status(runtime::linux::LinuxRuntime&, const ContainerId&)>& body);

}  // namespace zlayer::cli
