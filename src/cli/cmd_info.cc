// `info [--format json]`: which backend create_runtime(Auto) opens here, the OCI runtime in use
// (path, version, state root), every other candidate (crun, runc, youki) and why it was not
// chosen, the cgroup layout, and the agent's directories.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/container_cli.h"
#include "runtime/factory/runtime_factory.h"

namespace zlayer::cli {
namespace {

using nlohmann::json;
using runtime::linux::LinuxRuntime;

// Each OCI runtime candidate: "chosen", or why it is not the one in use.
json oci_candidates(const LinuxRuntime& rt) {
  const auto& chosen = rt.oci();
  const auto& forced = rt.config().oci_runtime;
  json out = json::array();
  for (std::string_view name : runtime::linux::kRuntimeCandidates) {
    if (name == chosen.name()) {
      out.push_back({{"name", name}, {"status", "chosen"}, {"reason", ""}});
      continue;
    }
    std::string reason;
    for (const auto& rejected : rt.rejected_runtimes()) {
      if (rejected.name == name) reason = rejected.reason;
    }
    std::string status = "rejected";
    if (reason.empty()) {
      // Not tried (a runtime earlier in the order worked, or one was forced): probe it now so
      // the user learns whether it would work.
      auto probe = runtime::linux::select_oci_runtime(std::string(name),
                                                      chosen.state_root().parent_path());
      if (probe) {
        status = "usable";
        reason = forced ? fmt::format("$ZLAYER_OCI_RUNTIME selects {}", *forced)
                        : fmt::format("{} comes first in the order crun, runc, youki",
                                      chosen.name());
      } else {
        reason = probe.error().message;
        // "no usable OCI runtime (cgroup layout …); youki: not installed" → the part after ": ".
        if (auto at = reason.find(fmt::format("; {}: ", name)); at != std::string::npos) {
          reason = reason.substr(at + name.size() + 4);
        }
      }
    }
    out.push_back({{"name", name}, {"status", status}, {"reason", reason}});
  }
  return out;
}

json info_json(const runtime::OpenedRuntime& opened, const Paths& paths) {
  json out = {{"backend", opened.backend},
              {"root_dir", paths.root_dir.string()},
              {"runtime_dir", paths.runtime_dir.string()},
              {"wasm_cache_dir", paths.wasm_cache_dir.string()}};
  json rejected = json::array();
  for (const auto& r : opened.rejected) {
    rejected.push_back({{"backend", r.backend}, {"reason", r.reason}});
  }
  out["rejected_backends"] = std::move(rejected);
  if (opened.linux == nullptr) return out;
  LinuxRuntime& rt = *opened.linux;
  const auto& oci = rt.oci();
  out["oci_runtime"] = {{"name", oci.name()},
                        {"path", oci.binary().string()},
                        {"version", oci.version()},
                        {"state_root", oci.state_root().string()},
                        {"hybrid_cgroup_workaround", oci.uses_hybrid_workaround()}};
  out["oci_candidates"] = oci_candidates(rt);
  const auto& layout = rt.cgroup_layout();
  json v1 = json::array();
  for (const auto& h : layout.v1) {
    std::string controllers;
    for (const auto& c : h.controllers) controllers += (controllers.empty() ? "" : ",") + c;
    if (!h.name.empty()) controllers += (controllers.empty() ? "name=" : ",name=") + h.name;
    v1.push_back({{"controllers", controllers}, {"mount_point", h.mount_point.string()}});
  }
  out["cgroup"] = {
      {"layout", runtime::linux::cgroup_mode_name(layout.mode)},
      {"v1_hierarchies", std::move(v1)},
      {"v2_mount", layout.v2_mount ? json(layout.v2_mount->string()) : json(nullptr)},
      {"v2_controllers", layout.v2_controllers},
      {"parent", rt.config().cgroup_parent}};
  auto ids = rt.list_containers();
  out["containers"] = ids ? json(ids->size()) : json(nullptr);
  return out;
}

void print_text(const json& info) {
  std::printf("Backend:          %s\n", info.value("backend", "").c_str());
  for (const auto& r : info["rejected_backends"]) {
    std::printf("  not %s: %s\n", r.value("backend", "").c_str(), r.value("reason", "").c_str());
  }
  if (info.contains("oci_runtime")) {
    const auto& oci = info["oci_runtime"];
    std::printf("OCI runtime:      %s (%s)\n", oci.value("name", "").c_str(),
                oci.value("path", "").c_str());
    std::printf("  version:        %s\n", oci.value("version", "").c_str());
    std::printf("  state root:     %s\n", oci.value("state_root", "").c_str());
    std::printf("  hybrid cgroup workaround: %s\n",
                oci.value("hybrid_cgroup_workaround", false) ? "yes" : "no");
    std::printf("OCI runtime candidates:\n");
    for (const auto& c : info["oci_candidates"]) {
      std::string status = c.value("status", "");
      std::string reason = c.value("reason", "");
      std::printf("  %-6s %s%s%s\n", c.value("name", "").c_str(), status.c_str(),
                  reason.empty() ? "" : ": ", reason.c_str());
    }
    const auto& cg = info["cgroup"];
    std::printf("Cgroup layout:    %s\n", cg.value("layout", "").c_str());
    for (const auto& h : cg["v1_hierarchies"]) {
      std::printf("  v1 %-28s %s\n", h.value("controllers", "").c_str(),
                  h.value("mount_point", "").c_str());
    }
    if (cg["v2_mount"].is_string()) {
      std::string controllers;
      for (const auto& c : cg["v2_controllers"]) {
        controllers += (controllers.empty() ? "" : ",") + c.get<std::string>();
      }
      std::printf("  v2 %-28s %s\n", controllers.empty() ? "(no controllers)" : controllers.c_str(),
                  cg["v2_mount"].get<std::string>().c_str());
    }
    std::printf("  parent:         /%s\n", cg.value("parent", "").c_str());
  }
  std::printf("Root dir:         %s\n", info.value("root_dir", "").c_str());
  std::printf("Runtime dir:      %s\n", info.value("runtime_dir", "").c_str());
  std::printf("WASM cache dir:   %s\n", info.value("wasm_cache_dir", "").c_str());
  if (info.contains("containers") && info["containers"].is_number()) {
    std::printf("Containers:       %d\n", info["containers"].get<int>());
  }
}

int show_info(const std::string& format) {
  if (!format.empty() && format != "json" && format != "text") {
    std::fprintf(stderr, "zlayer-agent: --format must be json or text, not \"%s\"\n",
                 format.c_str());
    return 2;
  }
  auto config = linux_config();
  const Paths paths = config.paths;
  auto images = image::ImageService::open(paths, image::RegistryOptions::default_options());
  if (!images) return fail(images.error());
  auto opened = runtime::create_runtime(runtime::AutoConfig{std::move(config)}, **images);
  if (!opened) {
    std::printf("Root dir:         %s\nRuntime dir:      %s\n", paths.root_dir.c_str(),
                paths.runtime_dir.c_str());
    return fail(opened.error());
  }
  json info = info_json(*opened, paths);
  if (format == "json") {
    // One JSON array, as every --format json of this CLI prints (docs/cli.md).
    std::printf("%s\n", json::array({info}).dump(2).c_str());
  } else {
    print_text(info);
  }
  return 0;
}

}  // namespace

void register_info(CLI::App& app, Commands& commands) {
  auto* cmd = app.add_subcommand("info", "Show the backend, OCI runtime and cgroup layout in use");
  auto format = std::make_shared<std::string>();
  cmd->add_option("--format", *format, "json: one JSON array with one object (docs/cli.md)");
  cmd->callback([=, &commands] { commands.selected = [=] { return show_info(*format); }; });
}

}  // namespace zlayer::cli
