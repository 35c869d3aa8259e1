#include "runtime/linux/process_spec.h"

#include <algorithm>

#include "runtime/linux/security_defaults.h"

namespace zlayer::runtime::linux {

namespace {

std::string_view env_key(std::string_view entry) {
  auto eq = entry.find('=');
  return eq == std::string_view::npos ? entry : entry.substr(0, eq);
}

// runc sets HOME when it is unset or empty; an empty value counts as unset.
bool has_nonempty_env(const std::vector<std::string>& env, std::string_view key) {
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) {
    return env_key(e) == key && e.size() > key.size() + 1;
  });
}

}  // namespace

void replace_or_append_env(std::vector<std::string>& env,
                           const std::vector<std::string>& overrides) {
  for (const auto& entry : overrides) {
    auto key = env_key(entry);
    bool removes = entry.find('=') == std::string::npos;
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const std::string& e) { return env_key(e) == key; });
    if (removes) {
      // Docker drops every entry of that key; there is at most one after our own merges.
      env.erase(std::remove_if(env.begin(), env.end(),
                               [&](const std::string& e) { return env_key(e) == key; }),
                env.end());
    } else if (it != env.end()) {
      *it = entry;
    } else {
      env.push_back(entry);
    }
  }
}

Result<ProcessSpec> merge_process(const image::ImageConfig& image, std::string_view image_name,
                                  const ProcessOverrides& overrides) {
  ProcessSpec out;

  // Docker (daemon/create.go merge): an explicit entrypoint, even an empty one, replaces the
  // image's; the image CMD survives only when the spec gives neither args nor a non-empty
  // entrypoint.
  std::vector<std::string> entrypoint = overrides.entrypoint.value_or(image.entrypoint);
  std::vector<std::string> cmd;
  if (overrides.args) {
    cmd = *overrides.args;
  } else if (!overrides.entrypoint || overrides.entrypoint->empty()) {
    cmd = image.cmd;
  }
  out.args = std::move(entrypoint);
  out.args.insert(out.args.end(), cmd.begin(), cmd.end());
  if (out.args.empty()) {
    return errorf(Errc::kInvalidArgument,
                  "image {} has no entrypoint or cmd and the spec gives none", image_name);
  }

  // Docker's CreateDaemonEnvironment puts its own variables first; image and spec values then
  // replace them in place.
  out.env.push_back(fmt::format("PATH={}", kDefaultPath));
  if (overrides.hostname && !overrides.hostname->empty()) {
    out.env.push_back(fmt::format("HOSTNAME={}", *overrides.hostname));
  }
  if (overrides.tty) out.env.emplace_back("TERM=xterm");
  replace_or_append_env(out.env, image.env);
  std::vector<std::string> spec_env;
  spec_env.reserve(overrides.env.size());
  for (const auto& [key, value] : overrides.env) {
    if (key.empty() || key.find('=') != std::string::npos) {
      return errorf(Errc::kInvalidArgument,
                    "env key \"{}\" is not a variable name (empty or contains '=')", key);
    }
    spec_env.push_back(fmt::format("{}={}", key, value));
  }
  replace_or_append_env(out.env, spec_env);

  static const std::string kRootDir = "/";
  const std::string& cwd = overrides.working_dir && !overrides.working_dir->empty()
                               ? *overrides.working_dir
                           : !image.working_dir.empty() ? image.working_dir
                                                        : kRootDir;
  out.cwd = cwd;
  if (out.cwd.front() != '/') {
    return errorf(Errc::kInvalidArgument,
                  "working directory \"{}\" of image {} is not an absolute path", out.cwd,
                  image_name);
  }

  out.user = overrides.user && !overrides.user->empty() ? *overrides.user : image.user;
  out.terminal = overrides.tty;
  return out;
}

nlohmann::json oci_process(const ProcessSpec& process, const ResolvedUser& user,
                           const std::vector<std::string>& capabilities,
                           const std::vector<OciRlimit>& rlimits, bool no_new_privileges) {
  std::vector<std::string> env = process.env;
  if (!has_nonempty_env(env, "HOME"))
    replace_or_append_env(env, {fmt::format("HOME={}", user.home)});

  nlohmann::json oci_user = {{"uid", user.uid}, {"gid", user.gid}};
  if (!user.additional_gids.empty()) oci_user["additionalGids"] = user.additional_gids;

  nlohmann::json out = {
      {"terminal", process.terminal},
      {"user", std::move(oci_user)},
      {"args", process.args},
      {"env", std::move(env)},
      {"cwd", process.cwd},
      {"capabilities", oci_capabilities(capabilities)},
      {"noNewPrivileges", no_new_privileges},
  };
  if (!rlimits.empty()) out["rlimits"] = oci_rlimits(rlimits);
  return out;
}

}  // namespace zlayer::runtime::linux
