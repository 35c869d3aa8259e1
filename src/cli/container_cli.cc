#include "cli/container_cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/paths.h"

namespace zlayer::cli {

using runtime::linux::LinuxConfig;
using runtime::linux::LinuxRuntime;

int fail(const Error& e) {
  std::fprintf(stderr, "zlayer-agent: %s\n", e.message.c_str());
  return 1;
}

LinuxConfig linux_config() {
  LinuxConfig config{.paths = Paths::from_env()};
  // Forcing crun/runc/youki (or a path) until the agent has a configuration file.
  if (const char* forced = std::getenv("ZLAYER_OCI_RUNTIME"); forced && *forced) {
    config.oci_runtime = forced;
  }
  // Tests give each agent its own cgroup parent, so nothing they leave can collide.
  if (const char* parent = std::getenv("ZLAYER_CGROUP_PARENT"); parent && *parent) {
    config.cgroup_parent = parent;
  }
  // The bridge network, until there is a configuration file (docs/cli.md). Tests and agents
  // that run side by side set their own; the IPAM directory follows ZLAYER_RUNTIME_DIR.
  const std::pair<const char*, std::string*> network_env[] = {
      {"ZLAYER_BRIDGE_NAME", &config.network.bridge_name},
      {"ZLAYER_BRIDGE_SUBNET", &config.network.subnet},
      {"ZLAYER_CNI_NETWORK", &config.network.network_name},
  };
  for (const auto& [name, field] : network_env) {
    if (const char* value = std::getenv(name); value && *value) *field = value;
  }
  if (const char* dir = std::getenv("ZLAYER_CNI_PLUGIN_DIR"); dir && *dir) {
    config.network.cni_bin_dir = dir;
  }
  return config;
}

Result<Backend> open_backend() {
  LinuxConfig linux = linux_config();
  ZLAYER_TRY(images,
             image::ImageService::open(linux.paths, image::RegistryOptions::default_options()));
  ZLAYER_TRY(runtime, LinuxRuntime::open(std::move(linux), *images));
  return Backend{std::move(images), std::move(runtime)};
}

Result<ContainerId> resolve_container_id(std::string_view text,
                                         const std::vector<ContainerId>& known) {
  if (text.empty()) return errorf(Errc::kInvalidArgument, "a container name is empty");
  auto pick = [&](auto&& matches, std::string_view how) -> Result<std::optional<ContainerId>> {
    std::vector<ContainerId> found;
    for (const auto& id : known) {
      if (matches(id)) found.push_back(id);
    }
    if (found.empty()) return std::optional<ContainerId>();
    if (found.size() == 1) return std::optional<ContainerId>(found.front());
    std::string names;
    for (const auto& id : found) names += (names.empty() ? "" : ", ") + id.str();
    return errorf(Errc::kInvalidArgument, "\"{}\" is {} of several containers: {}", text, how,
                  names);
  };
  for (auto [matches, how] :
       {std::pair<std::function<bool(const ContainerId&)>, std::string_view>{
            [&](const ContainerId& id) { return id.str() == text; }, "the id"},
        {[&](const ContainerId& id) { return id.service == text; }, "the name"},
        {[&](const ContainerId& id) {
           // A prefix reaches past the whole name ("web-r"), so a removed name ("db") never
           // falls through to another container whose name merely starts with it ("dbbackup").
           return text.size() > id.service.size() && id.str().starts_with(text);
         },
         "a prefix"}}) {
    ZLAYER_TRY(found, pick(matches, how));
    if (found) return *found;
  }
  return errorf(Errc::kNotFound, "no such container: {}", text);
}

int for_each_container(const std::vector<std::string>& names,
                       const std::function<int(const std::string&)>& one) {
  int first_failure = 0;
  for (const auto& name : names) {
    int code = one(name);
    if (code != 0 && first_failure == 0) first_failure = code;
  }
  return first_failure;
}

int with_container(const std::string& text,
                   const std::function<Status(LinuxRuntime&, const ContainerId&)>& body) {
  auto backend = open_backend();
  if (!backend) return fail(backend.error());
  auto known = backend->runtime->list_containers();
  if (!known) return fail(known.error());
  auto id = resolve_container_id(text, *known);
  if (!id) return fail(id.error());
  auto done = body(*backend->runtime, *id);
  if (!done) return fail(done.error());
  return 0;
}

}  // namespace zlayer::cli
