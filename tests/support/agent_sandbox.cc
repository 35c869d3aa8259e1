#include "support/agent_sandbox.h"

#include <fmt/format.h>

#include "core/fs.h"
#include "support/image_builder.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"

namespace zlayer::testing {

namespace fs = std::filesystem;

AgentSandbox::AgentSandbox(fs::path agent_bin, std::string oci_runtime)
    : agent_bin_(std::move(agent_bin)),
      oci_runtime_(std::move(oci_runtime)),
      cgroup_parent_(unique_container_id("zlayer-test")) {}

Result<std::unique_ptr<AgentSandbox>> AgentSandbox::create(fs::path agent_bin,
                                                           std::string oci_runtime) {
  std::unique_ptr<AgentSandbox> box(new AgentSandbox(std::move(agent_bin), std::move(oci_runtime)));
  ZLAYER_TRY(busybox, busybox_image());
  const fs::path layout = box->dir_.path() / "layout";
  ZLAYER_TRY(written, write_layout(layout, {LayoutTag{"latest", busybox}}));
  (void)written;
  const std::string ref = "localhost/zlayer-test/busybox:latest";
  ZLAYER_TRY(imported, box->agent({"image", "import", layout.string() + ":latest", ref}));
  if (imported.exit_code != 0) {
    return errorf(Errc::kInternal, "image import exited {}: {}", imported.exit_code, imported.err);
  }
  box->image_ref_ = ref;
  return box;
}

AgentSandbox::~AgentSandbox() {
  // Every container the sandbox's state knows, by name, then the cgroups they used.
  if (auto listed = agent({"ps", "-a", "--format", "json"}); listed && listed->exit_code == 0) {
    auto parsed = nlohmann::json::parse(listed->out, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_array()) {
      for (const auto& row : parsed) {
        if (row.contains("id")) (void)agent({"rm", "-f", row.value("id", std::string())});
      }
    }
  }
  (void)remove_cgroup_dirs(cgroup_parent_);
}

std::map<std::string, std::string> agent_env(const Paths& paths, const fs::path& home,
                                             const std::string& oci_runtime,
                                             const std::string& cgroup_parent) {
  return {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
          {"HOME", home.string()},
          {"ZLAYER_ROOT_DIR", paths.root_dir.string()},
          {"ZLAYER_RUNTIME_DIR", paths.runtime_dir.string()},
          {"ZLAYER_WASM_CACHE_DIR", paths.wasm_cache_dir.string()},
          {"ZLAYER_OCI_RUNTIME", oci_runtime},
          {"ZLAYER_CGROUP_PARENT", cgroup_parent}};
}

std::map<std::string, std::string> AgentSandbox::env() const {
  return agent_env(dir_.paths(), dir_.path(), oci_runtime_, cgroup_parent_);
}

Result<SubprocessResult> AgentSandbox::agent(std::vector<std::string> args,
                                             std::string input) const {
  args.insert(args.begin(), agent_bin_.string());
  return run_subprocess(args, {.input = std::move(input),
                               .env = env(),
                               .timeout = std::chrono::minutes(2)});
}

Result<pid_t> AgentSandbox::spawn_agent(std::vector<std::string> args, int stdout_fd,
                                        int stderr_fd) const {
  args.insert(args.begin(), agent_bin_.string());
  return spawn_process(args, {.stdout_fd = stdout_fd, .stderr_fd = stderr_fd, .env = env()});
}

}  // namespace zlayer::testing
