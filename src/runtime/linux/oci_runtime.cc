#include "runtime/linux/oci_runtime.h"

#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/fs.h"
#include "core/paths.h"
#include "core/text.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Machine-facts workaround 1, in the child that execs crun: a private copy of the mount table
// without the hybrid layout's cgroup2 mount, so crun sees pure v1. Raw system calls only (the
// forking process may be multithreaded). The host's mount table is untouched.
int enter_cgroup_v1_view() {
  if (::unshare(CLONE_NEWNS) != 0) return errno;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  // EINVAL: not a mount point (someone already removed it) — nothing to hide.
  if (::umount2(kHybridUnifiedMount.data(), MNT_DETACH) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    return errno;
  }
  return 0;
}

bool contains_ci(std::string_view text, std::string_view needle) {
  auto it = std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  return it != text.end();
}

// Maps a failed runtime command to an Error whose code says what went wrong.
Error runtime_failure(const OciRuntime& runtime, std::string_view verb, std::string_view id,
                      const SubprocessResult& result) {
  std::string text = trim(result.err.empty() ? result.out : result.err);
  Errc code = Errc::kInternal;
  if (contains_ci(text, "does not exist") || contains_ci(text, "no such file or directory") ||
      contains_ci(text, "not found")) {
    code = Errc::kNotFound;
  } else if (contains_ci(text, "not running") || contains_ci(text, "not in") ||
             contains_ci(text, "cannot start") || contains_ci(text, "is running") ||
             contains_ci(text, "not paused") || contains_ci(text, "stopped") ||
             contains_ci(text, "already")) {
    code = Errc::kFailedPrecondition;
  }
  return Error{code,
               fmt::format("{} {} {}: exit {}: {}", runtime.name(), verb, id, result.exit_code,
                           excerpt(text, 400)),
               0};
}

Result<OciStatus> parse_status(std::string_view text) {
  if (text == "creating") return OciStatus::kCreating;
  if (text == "created") return OciStatus::kCreated;
  if (text == "running") return OciStatus::kRunning;
  if (text == "paused") return OciStatus::kPaused;
  if (text == "stopped") return OciStatus::kStopped;
  return errorf(Errc::kInternal, "unknown container status \"{}\"", text);
}

Result<OciState> state_from_json(const json& object) {
  if (!object.is_object()) return make_error(Errc::kInternal, "state is not a JSON object");
  OciState state;
  auto id = object.find("id");
  auto status = object.find("status");
  if (id == object.end() || !id->is_string()) {
    return make_error(Errc::kInternal, "state has no \"id\" string");
  }
  if (status == object.end() || !status->is_string()) {
    return make_error(Errc::kInternal, "state has no \"status\" string");
  }
  state.id = id->get<std::string>();
  ZLAYER_TRY(parsed, parse_status(status->get<std::string>()));
  state.status = parsed;
  if (auto pid = object.find("pid"); pid != object.end() && pid->is_number_integer()) {
    state.pid = pid->get<pid_t>();
  }
  if (auto bundle = object.find("bundle"); bundle != object.end() && bundle->is_string()) {
    state.bundle = bundle->get<std::string>();
  }
  return state;
}

// Classifies an exec the runtime could not start (it exits 255 before the program runs), the way
// Docker reports it: 127 when the program is not there, 126 when it cannot be executed.
std::optional<int> exec_start_failure_code(std::string_view runtime_name, std::string_view err) {
  bool runc_style = contains_ci(err, "exec failed: unable to start container process");
  bool crun_style = runtime_name != "runc" &&
                    (contains_ci(err, "executable file `") || contains_ci(err, "open executable:"));
  if (!runc_style && !crun_style) return std::nullopt;
  if (contains_ci(err, "not found") || contains_ci(err, "no such file or directory")) return 127;
  return 126;
}

std::string random_suffix() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}", random(), random());
}

json process_json(const ExecProcess& process) {
  json user = {{"uid", process.uid}, {"gid", process.gid}};
  if (!process.additional_gids.empty()) user["additionalGids"] = process.additional_gids;
  json caps = process.capabilities;
  return {
      {"terminal", false},
      {"user", user},
      {"args", process.args},
      {"env", process.env},
      {"cwd", process.cwd},
      {"noNewPrivileges", process.no_new_privileges},
      {"capabilities",
       {{"bounding", caps},
        {"effective", caps},
        {"permitted", caps},
        {"inheritable", json::array()},
        {"ambient", json::array()}}},
  };
}

}  // namespace

std::string_view oci_status_name(OciStatus status) {
  switch (status) {
    case OciStatus::kCreating:
      return "creating";
    case OciStatus::kCreated:
      return "created";
    case OciStatus::kRunning:
      return "running";
    case OciStatus::kPaused:
      return "paused";
    case OciStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

Result<OciState> parse_oci_state(std::string_view json_text) {
  json object = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    return errorf(Errc::kInternal, "OCI state is not JSON: {}", excerpt(json_text));
  }
  auto state = state_from_json(object);
  if (!state) return unexpected(state.error().wrap("OCI state"));
  return state;
}

OciRuntime::OciRuntime(std::string name, fs::path binary, fs::path state_root, CgroupMode layout,
                       std::string version)
    : name_(std::move(name)),
      binary_(std::move(binary)),
      state_root_(std::move(state_root)),
      layout_(layout),
      version_(std::move(version)) {}

bool OciRuntime::uses_hybrid_workaround() const {
  // runc handles the hybrid layout itself; crun 1.8.1 refuses it, youki's support is unknown.
  return layout_ == CgroupMode::kHybrid && name_ != "runc";
}

std::vector<std::string> OciRuntime::command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {binary_.string(), "--root", state_root_.string()};
  // No systemd on these hosts: the cgroupfs driver. runc uses it unless --systemd-cgroup.
  if (name_ == "crun") argv.emplace_back("--cgroup-manager=cgroupfs");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<SubprocessResult> OciRuntime::run(const std::vector<std::string>& args,
                                         SubprocessOptions options) const {
  if (uses_hybrid_workaround()) options.child_setup = enter_cgroup_v1_view;
  return run_subprocess(command(args), options);
}

Result<pid_t> OciRuntime::spawn(const std::vector<std::string>& args, SpawnOptions options) const {
  if (uses_hybrid_workaround()) options.child_setup = enter_cgroup_v1_view;
  return spawn_process(command(args), options);
}

Result<OciState> OciRuntime::state(std::string_view id) const {
  ZLAYER_TRY(result, run({"state", std::string(id)}));
  if (result.exit_code != 0) return unexpected(runtime_failure(*this, "state", id, result));
  auto parsed = parse_oci_state(result.out);
  if (!parsed) return unexpected(parsed.error().wrap(fmt::format("{} state {}", name_, id)));
  return parsed;
}

Status OciRuntime::simple(std::string_view verb, std::vector<std::string> args,
                          std::string_view id) const {
  ZLAYER_TRY(result, run(args));
  if (result.exit_code != 0) return unexpected(runtime_failure(*this, verb, id, result));
  return {};
}

Status OciRuntime::start(std::string_view id) const {
  return simple("start", {"start", std::string(id)}, id);
}

Status OciRuntime::kill(std::string_view id, int signal) const {
  return simple("kill", {"kill", std::string(id), std::to_string(signal)}, id);
}

Status OciRuntime::remove(std::string_view id, bool force) const {
  std::vector<std::string> args = {"delete"};
  if (force) args.emplace_back("--force");
  args.emplace_back(id);
  auto status = simple("delete", args, id);
  if (!status && status.error().code == Errc::kNotFound) return {};
  return status;
}

Status OciRuntime::pause(std::string_view id) const {
  return simple("pause", {"pause", std::string(id)}, id);
}

Status OciRuntime::resume(std::string_view id) const {
  return simple("resume", {"resume", std::string(id)}, id);
}

Result<std::vector<OciState>> OciRuntime::list() const {
  ZLAYER_TRY(result, run({"list", "--format", "json"}));
  if (result.exit_code != 0) return unexpected(runtime_failure(*this, "list", "", result));
  json array = json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  std::vector<OciState> states;
  if (array.is_null()) return states;  // runc prints `null` when there is none
  if (!array.is_array()) {
    return errorf(Errc::kInternal, "{} list: expected a JSON array, got: {}", name_,
                  excerpt(result.out));
  }
  for (const auto& object : array) {
    auto state = state_from_json(object);
    if (!state) return unexpected(state.error().wrap(fmt::format("{} list", name_)));
    states.push_back(std::move(*state));
  }
  return states;
}

Result<ExecResult> OciRuntime::exec_impl(std::string_view id, const ExecProcess& process,
                                         SubprocessOptions options) const {
  if (process.args.empty()) {
    return errorf(Errc::kInvalidArgument, "exec in {}: no command given", id);
  }
  // The process description goes in a file (both runtimes read --process); it holds the env,
  // so it is private to root and removed right after.
  fs::path exec_dir = state_root_ / "exec";
  ZLAYER_CHECK(make_dirs(exec_dir, 0700));
  fs::path process_file = exec_dir / fmt::format("{}-{}.json", id, random_suffix());
  ZLAYER_CHECK(atomic_write_file(process_file, process_json(process).dump(), 0600));
  std::vector<std::string> args{"exec", "--process", process_file.string()};
  fs::path pid_file;
  if (options.timeout.count() > 0) {
    // Killing the runtime on timeout would leave the exec'd process running inside the
    // container; its host pid (from --pid-file) lets us kill that too.
    pid_file = exec_dir / fmt::format("{}-{}.pid", id, random_suffix());
    args.insert(args.end(), {"--pid-file", pid_file.string()});
  }
  args.emplace_back(id);
  auto result = run(args, options);
  std::error_code ignored;
  fs::remove(process_file, ignored);
  if (!pid_file.empty()) {
    if (!result && result.error().code == Errc::kDeadlineExceeded) {
      auto text = read_file(pid_file);
      int pid = 0;
      if (text) pid = std::atoi(text->c_str());
      if (pid > 1) ::kill(pid, SIGKILL);
      fs::remove(pid_file, ignored);
      return errorf(Errc::kDeadlineExceeded, "exec in {}: {} still ran after {} ms and was killed",
                    id, process.args[0], options.timeout.count());
    }
    fs::remove(pid_file, ignored);
  }
  if (!result) return unexpected(result.error().wrap(fmt::format("exec in {}", id)));

  ExecResult exec;
  exec.exit_code = result->exit_code;
  exec.stdout_text = std::move(result->out);
  exec.stderr_text = std::move(result->err);
  if (result->exit_code == 255 || result->exit_code == 1) {
    // The runtime itself failed; the program never ran. Tell "not there / cannot run" (Docker's
    // 127/126) from "no such container / not running" (an error: the exec did not happen).
    const std::string& err_text = exec.stderr_text;
    if (auto code = exec_start_failure_code(name_, err_text); code && result->exit_code == 255) {
      exec.exit_code = *code;
      exec.stderr_text = fmt::format("{}: exec {}: {}\n", name_, process.args[0],
                                     *code == 127 ? "executable file not found"
                                                  : "permission denied (cannot execute)") +
                         err_text;
      return exec;
    }
    // runc: "container does not exist", "cannot exec in a stopped container";
    // crun: "error opening file `<root>/<id>/status`: No such file or directory",
    // "the container `<id>` is not running".
    bool runtime_message =
        contains_ci(err_text, "container does not exist") ||
        contains_ci(err_text, "status`: no such file") ||
        contains_ci(err_text, "stopped container") ||
        (contains_ci(err_text, "container") && contains_ci(err_text, "not running"));
    if (runtime_message) {
      result->err = err_text;
      return unexpected(runtime_failure(*this, "exec", id, *result));
    }
  }
  return exec;
}

Result<ExecResult> OciRuntime::exec(std::string_view id, const ExecProcess& process,
                                    std::string input, std::chrono::milliseconds timeout) const {
  return exec_impl(id, process, {.input = std::move(input), .timeout = timeout});
}

Result<ExecResult> OciRuntime::exec_streaming(std::string_view id, const ExecProcess& process,
                                              const ExecStreams& streams) const {
  SubprocessOptions options;
  options.input = streams.input;
  options.on_stdout = streams.on_stdout ? streams.on_stdout : [](std::string_view) {};
  options.on_stderr = streams.on_stderr ? streams.on_stderr : [](std::string_view) {};
  return exec_impl(id, process, std::move(options));
}

Result<RuntimeSelection> select_oci_runtime(std::optional<std::string> forced,
                                            std::optional<fs::path> state_root_parent) {
  fs::path parent = state_root_parent ? *state_root_parent : Paths::from_env().runtime_dir / "oci";
  std::vector<std::string> candidates;
  if (forced) {
    bool known = std::find(std::begin(kRuntimeCandidates), std::end(kRuntimeCandidates), *forced) !=
                 std::end(kRuntimeCandidates);
    if (!known && forced->find('/') == std::string::npos) {
      return errorf(Errc::kInvalidArgument,
                    "OCI runtime \"{}\" is not one of crun, runc, youki (or a path to one)",
                    *forced);
    }
    candidates.push_back(*forced);
  } else {
    candidates.assign(std::begin(kRuntimeCandidates), std::end(kRuntimeCandidates));
  }
  ZLAYER_TRY(cgroups, detect_cgroup_layout());
  CgroupMode layout = cgroups.mode;

  std::vector<RejectedRuntime> rejected;
  for (const auto& candidate : candidates) {
    std::string name = fs::path(candidate).filename().string();
    auto binary = find_program(candidate);
    if (!binary) {
      rejected.push_back({name, "not installed (not found in PATH)"});
      continue;
    }
    OciRuntime probe(name, *binary, parent / name, layout);
    auto version = run_subprocess(
        {*binary, "--version"},
        {.timeout = std::chrono::seconds(30),
         .child_setup = probe.uses_hybrid_workaround() ? enter_cgroup_v1_view : nullptr});
    if (!version || version->exit_code != 0) {
      rejected.push_back({name, fmt::format("failed a probe: `{} --version`: {}", name,
                                            version ? excerpt(version->err + version->out)
                                                    : version.error().message)});
      continue;
    }
    if (auto made = make_dirs(probe.state_root(), 0700); !made) {
      rejected.push_back({name, fmt::format("failed a probe: state root {}: {}",
                                            probe.state_root().string(), made.error().message)});
      continue;
    }
    auto listed = probe.list();
    if (!listed) {
      rejected.push_back({name, fmt::format("failed a probe: {}", listed.error().message)});
      continue;
    }
    std::string first_line = version->out.substr(0, version->out.find('\n'));
    return RuntimeSelection{OciRuntime(name, *binary, probe.state_root(), layout, trim(first_line)),
                            rejected};
  }
  std::string reasons;
  for (const auto& r : rejected) reasons += fmt::format("; {}: {}", r.name, r.reason);
  return errorf(Errc::kUnavailable, "no usable OCI runtime (cgroup layout {}){}",
                cgroup_mode_name(layout), reasons);
}

}  // namespace zlayer::runtime::linux
