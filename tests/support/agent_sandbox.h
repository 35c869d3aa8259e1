// A sandbox for driving the `zlayer-agent` executable in tests: its own ZLAYER_* directories in a
// TempDir, a forced OCI runtime (crun or runc), a cgroup parent of its own, and the busybox image
// imported through `zlayer-agent image import` (no registry). Commands run as child processes, so
// every test also checks that a second process sees what the first one did. The destructor
// removes every container it knows of (`rm -f`) and the cgroup parent. One sandbox per test;
// not thread-safe.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "core/subprocess.h"
#include "support/temp_dir.h"

namespace zlayer::testing {

// The environment of a `zlayer-agent` child process: PATH, HOME=`home`, the ZLAYER_* directories
// of `paths`, ZLAYER_OCI_RUNTIME and ZLAYER_CGROUP_PARENT.
std::map<std::string, std::string> agent_env(const Paths& paths, const std::filesystem::path& home,
                                             const std::string& oci_runtime,
                                             const std::string& cgroup_parent);

class AgentSandbox {
 public:
  // agent_bin: the zlayer-agent executable; oci_runtime: "crun" or "runc".
  // Errors: the layout write or the import (the agent's stderr quoted).
  static Result<std::unique_ptr<AgentSandbox>> create(std::filesystem::path agent_bin,
                                                      std::string oci_runtime);
  ~AgentSandbox();
  AgentSandbox(const AgentSandbox&) = delete;
  AgentSandbox& operator=(const AgentSandbox&) = delete;

  [[nodiscard]] const std::string& image_ref() const { return image_ref_; }
  [[nodiscard]] const std::string& cgroup_parent() const { return cgroup_parent_; }
  [[nodiscard]] Paths paths() const { return dir_.paths(); }
  [[nodiscard]] const std::filesystem::path& path() const { return dir_.path(); }
  // PATH, HOME, the ZLAYER_* directories, ZLAYER_OCI_RUNTIME and ZLAYER_CGROUP_PARENT.
  [[nodiscard]] std::map<std::string, std::string> env() const;

  // `zlayer-agent args…` to completion (2 minute timeout). Errors: the subprocess's.
  [[nodiscard]] Result<SubprocessResult> agent(std::vector<std::string> args,
                                               std::string input = {}) const;
  // `zlayer-agent args…` started in the background with stdout/stderr to the given descriptors
  // (-1 = /dev/null); the caller reaps the pid.
  [[nodiscard]] Result<pid_t> spawn_agent(std::vector<std::string> args, int stdout_fd = -1,
                                          int stderr_fd = -1) const;

 private:
  AgentSandbox(std::filesystem::path agent_bin, std::string oci_runtime);

  TempDir dir_;
  std::filesystem::path agent_bin_;
  std::string oci_runtime_;
  std::string cgroup_parent_;
  std::string image_ref_;
};

}  // namespace zlayer::testing
