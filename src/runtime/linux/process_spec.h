// The `process` section of an OCI bundle's config.json: Docker's merge of an image config
// (ENTRYPOINT, CMD, ENV, WORKDIR, USER) with a service's overrides, and the final JSON once the
// user is resolved and capabilities/rlimits are chosen. Pure functions on values; thread-safe.
// Follows Docker (moby daemon `merge` + `CreateDaemonEnvironment`) and OCI runtime-spec v1.0.2
// config.md "process".
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "image/manifest.h"
#include "runtime/linux/rlimits.h"
#include "runtime/linux/user_resolve.h"

namespace zlayer::runtime::linux {

// Docker's PATH for Linux containers whose image sets none.
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// What a service spec may override. Unset optionals fall back to the image.
struct ProcessOverrides {
  // Replaces the image ENTRYPOINT. A non-empty value also drops the image CMD (unless `args` is
  // given). An empty vector clears ENTRYPOINT but keeps the image CMD (Docker's
  // `--entrypoint ""`).
  std::optional<std::vector<std::string>> entrypoint;
  // Replaces the image CMD only.
  std::optional<std::vector<std::string>> args;
  // KEY -> value, applied over the image env in this order (a std::map converts with
  // `{m.begin(), m.end()}`). Keys must be non-empty and contain no '='.
  std::vector<std::pair<std::string, std::string>> env;
  std::optional<std::string> working_dir;  // absolute path inside the container
  std::optional<std::string> user;         // "name", "uid", "name:group", "uid:gid", …
  std::optional<std::string> hostname;     // sets HOSTNAME like Docker when given
  bool tty = false;                        // terminal; Docker then adds TERM=xterm
};

// The merged process before user resolution.
struct ProcessSpec {
  std::vector<std::string> args;  // ENTRYPOINT + CMD after the merge, never empty
  std::vector<std::string> env;   // "KEY=value"
  std::string cwd;                // absolute, "/" when neither side sets one
  std::string user;               // unresolved user string ("" = root); see resolve_user()
  bool terminal = false;
};

// Merges `image` (the image config of `image_name`, used in messages) with `overrides`:
// - argv: overrides.entrypoint replaces ENTRYPOINT (non-empty → image CMD dropped); overrides.args
//   replace CMD; argv = ENTRYPOINT + CMD.
// - env: starts from Docker's daemon env (PATH=kDefaultPath, HOSTNAME=<hostname> when given,
//   TERM=xterm when tty), then the image env, then overrides.env; each later entry replaces an
//   earlier one with the same key in place, new keys are appended (so: image order, then new
//   keys). An image entry without '=' removes that key (Docker's ReplaceOrAppendEnvValues).
//   Values match Docker's; the order differs on purpose: Docker lists spec keys before
//   image-only ones, we keep the image's order so a spec override does not move a variable.
// - cwd: overrides.working_dir, else the image WorkingDir, else "/" (empty strings count as
//   unset, as in Docker).
// - user: overrides.user, else the image User (empty counts as unset).
// Errors: kInvalidArgument when the argv is empty ("image X has no entrypoint or cmd and the spec
// gives none"), when an override env key is empty or contains '=', or when the working dir is not
// absolute.
[[nodiscard]] Result<ProcessSpec> merge_process(const image::ImageConfig& image,
                                                std::string_view image_name,
                                                const ProcessOverrides& overrides);

// Replaces or appends "KEY=value" entries of `overrides` into `env` (Docker's
// ReplaceOrAppendEnvValues): same key → replaced in place; new key → appended; an override
// without '=' deletes the key.
void replace_or_append_env(std::vector<std::string>& env,
                           const std::vector<std::string>& overrides);

// The OCI `process` object: args, env (plus HOME=<user.home> when env has no HOME — runc and
// Docker do the same), cwd, user {uid, gid, additionalGids}, terminal, capabilities (bounding,
// effective, permitted = `capabilities`; inheritable and ambient empty, as Docker since 20.10.14),
// rlimits, noNewPrivileges. `capabilities` are "CAP_*" names (see effective_capabilities()).
[[nodiscard]] nlohmann::json oci_process(const ProcessSpec& process, const ResolvedUser& user,
                                         const std::vector<std::string>& capabilities,
                                         const std::vector<OciRlimit>& rlimits,
                                         bool no_new_privileges);

}  // namespace zlayer::runtime::linux
