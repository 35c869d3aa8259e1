// The OCI-runtime CLI driver: picks crun, runc or youki, detects the host's cgroup layout, and
// wraps the runtime's standard commands (state, start, kill, delete, pause, resume, exec, list)
// as containerd and Podman drive them. Every crun invocation runs in a child that first enters a
// private mount namespace without the hybrid layout's cgroup2 mount (machine-facts workaround 1);
// the calling process is never unshared. An OciRuntime is an immutable value: any thread may call
// any method concurrently (each call is one blocking child process).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/subprocess.h"
#include "runtime/linux/cgroups.h"

namespace zlayer::runtime::linux {

// Where the cgroup2 mount of a hybrid layout sits (what workaround 1 unmounts).
inline constexpr std::string_view kHybridUnifiedMount = "/sys/fs/cgroup/unified";

// Lifecycle status as `state` reports it (OCI runtime-spec runtime.md "state").
enum class OciStatus { kCreating, kCreated, kRunning, kPaused, kStopped };

// "creating", "created", "running", "paused", "stopped".
[[nodiscard]] std::string_view oci_status_name(OciStatus status);

struct OciState {
  std::string id;
  OciStatus status = OciStatus::kStopped;
  pid_t pid = 0;  // the container's init on the host; 0 once stopped
  std::filesystem::path bundle;
};

// Parses the JSON of `<runtime> state <id>` (one object) — crun and runc spell it the same way.
// Errors: kInternal naming what is missing or not understood (an unknown status).
[[nodiscard]] Result<OciState> parse_oci_state(std::string_view json_text);

// The process an exec runs (OCI runtime-spec config.md "process", the subset exec needs).
struct ExecProcess {
  std::vector<std::string> args;  // args[0] is looked up in the container's PATH
  std::vector<std::string> env;   // "KEY=value"; the container's own env is NOT inherited
  std::string cwd = "/";          // absolute path inside the container
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  bool no_new_privileges = true;
  std::vector<std::string> capabilities;  // "CAP_…" for every set; empty = none
};

struct ExecResult {
  int exit_code = 0;        // the process's own code, 128+n for signal n, 126/127 as Docker (below)
  std::string stdout_text;  // empty in the streaming form
  std::string stderr_text;  // for 126/127 the runtime's explanation
};

struct ExecStreams {
  std::string input;         // fed to the process's stdin, then closed
  OutputCallback on_stdout;  // called on the calling thread as output arrives
  OutputCallback on_stderr;
};

class OciRuntime {
 public:
  // Builds a driver without probing (the monitor uses this with what the agent selected).
  // name: "crun", "runc" or "youki"; binary: absolute path; state_root: the runtime's --root
  // (created on first use); version: first line of `--version`, informative.
  OciRuntime(std::string name, std::filesystem::path binary, std::filesystem::path state_root,
             CgroupMode layout, std::string version = {});

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::filesystem::path& binary() const { return binary_; }
  [[nodiscard]] const std::filesystem::path& state_root() const { return state_root_; }
  [[nodiscard]] CgroupMode cgroup_layout() const { return layout_; }
  [[nodiscard]] const std::string& version() const { return version_; }
  // True when every invocation runs in a private mount namespace without kHybridUnifiedMount.
  [[nodiscard]] bool uses_hybrid_workaround() const;

  // The full command line for `args` (binary, global options such as --root and the cgroup
  // manager, then args). Run it through spawn()/run() so the hybrid workaround applies.
  [[nodiscard]] std::vector<std::string> command(const std::vector<std::string>& args) const;
  // run_subprocess(command(args)) with the workaround as child_setup.
  [[nodiscard]] Result<SubprocessResult> run(const std::vector<std::string>& args,
                                             SubprocessOptions options = {}) const;
  // spawn_process(command(args)) with the workaround; the caller reaps the pid.
  [[nodiscard]] Result<pid_t> spawn(const std::vector<std::string>& args,
                                    SpawnOptions options) const;

  // `state <id>`. Errors: kNotFound when the runtime does not know `id`; kInternal with the
  // runtime's stderr otherwise.
  [[nodiscard]] Result<OciState> state(std::string_view id) const;
  // `start <id>` (a created container runs its process). Errors: kNotFound, kFailedPrecondition
  // (not in the created state), kInternal.
  [[nodiscard]] Status start(std::string_view id) const;
  // `kill <id> <signal>`: one signal to the init. Errors: kNotFound, kFailedPrecondition (not
  // running), kInternal.
  [[nodiscard]] Status kill(std::string_view id, int signal) const;
  // `delete [--force] <id>`; force kills a running container first. A container the runtime does
  // not know is success (idempotent). With a monitor, wait for its exit file first (monitor.h):
  // delete removes the cgroup whose OOM counter the monitor reads.
  // Errors: kFailedPrecondition (running, without force), kInternal.
  [[nodiscard]] Status remove(std::string_view id, bool force) const;
  // `pause` / `resume` (cgroup freezer). Errors: kNotFound, kFailedPrecondition, kInternal.
  [[nodiscard]] Status pause(std::string_view id) const;
  [[nodiscard]] Status resume(std::string_view id) const;
  // `list --format json`: every container under this runtime's --root.
  [[nodiscard]] Result<std::vector<OciState>> list() const;

  // `exec --process <file> <id>` in the container's namespaces and cgroup; waits for the
  // process. A program that does not exist gives exit 127 and one that cannot be executed 126
  // (Docker's codes), with the runtime's reason in stderr; the container is unaffected.
  // Errors (the exec never ran): kNotFound (no such container), kFailedPrecondition (not
  // running), kInternal. With a `timeout` > 0, a process still running after it is killed
  // (SIGKILL to its host pid, read from `exec --pid-file`, and to the runtime's own process):
  // kDeadlineExceeded.
  [[nodiscard]] Result<ExecResult> exec(std::string_view id, const ExecProcess& process,
                                        std::string input = {},
                                        std::chrono::milliseconds timeout = {}) const;
  // The same, delivering output through callbacks as it arrives; ExecResult has no output.
  [[nodiscard]] Result<ExecResult> exec_streaming(std::string_view id, const ExecProcess& process,
                                                  const ExecStreams& streams) const;

 private:
  [[nodiscard]] Status simple(std::string_view verb, std::vector<std::string> args,
                              std::string_view id) const;
  [[nodiscard]] Result<ExecResult> exec_impl(std::string_view id, const ExecProcess& process,
                                             SubprocessOptions options) const;

  std::string name_;
  std::filesystem::path binary_;
  std::filesystem::path state_root_;
  CgroupMode layout_;
  std::string version_;
};

// A candidate that was not chosen, and why ("not installed", "`crun --version` failed: …").
struct RejectedRuntime {
  std::string name;
  std::string reason;
};

struct RuntimeSelection {
  OciRuntime runtime;
  std::vector<RejectedRuntime> rejected;  // candidates tried before the chosen one
};

// Order of preference: crun (about 3× faster here), runc, youki.
inline constexpr std::string_view kRuntimeCandidates[] = {"crun", "runc", "youki"};

// Picks the first candidate that is installed (in PATH) and passes the probe (`--version` and
// `list` against its state root, both with the hybrid workaround when it applies). `forced`
// (a name from kRuntimeCandidates, or a path to a binary) tries only that one.
// state_root_parent: each runtime gets `<parent>/<name>` as --root, so our containers never
// collide with the host's (default: $ZLAYER_RUNTIME_DIR/oci).
// Errors: kInvalidArgument (forced name unknown), kUnavailable listing every candidate and why
// it was rejected.
[[nodiscard]] Result<RuntimeSelection> select_oci_runtime(
    std::optional<std::string> forced,
    std::optional<std::filesystem::path> state_root_parent = std::nullopt);

}  // namespace zlayer::runtime::linux
