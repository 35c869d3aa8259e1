// Converts a seccomp profile in Docker's format (the one /usr/share/containers/seccomp.json of
// Debian's golang-github-containers-common ships) into the OCI `linux.seccomp` object for one
// container: its architecture, its effective capabilities and the running kernel. The syscall
// lists come from the profile file only. Pure functions on values, except running_kernel() and
// load_seccomp() which read the system. Thread-safe.
// Follows moby profiles/seccomp (setupSeccomp) and OCI runtime-spec v1.1 config-linux.md#seccomp.
#pragma once

#include <compare>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::runtime::linux {

inline constexpr std::string_view kDefaultSeccompProfile = "/usr/share/containers/seccomp.json";

// A kernel release reduced to what profiles compare ("minKernel": "4.8").
struct KernelVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const KernelVersion&) const = default;

  // "6.18.44-fc-v669" → {6, 18}; "4.8" → {4, 8}. Errors: kInvalidArgument quoting the text.
  static Result<KernelVersion> parse(std::string_view release);
};

// uname(2) release of the running kernel. Errors: errno-mapped, kInvalidArgument if unparsable.
[[nodiscard]] Result<KernelVersion> running_kernel();

// libseccomp's name for a GOARCH ("amd64" → "SCMP_ARCH_X86_64", "arm64" → "SCMP_ARCH_AARCH64").
// Errors: kUnsupported for an architecture seccomp has no name for.
[[nodiscard]] Result<std::string> seccomp_arch_name(std::string_view goarch);

struct SeccompTarget {
  std::string architecture = "amd64";     // GOARCH of the container (image platform)
  std::vector<std::string> capabilities;  // effective set, "CAP_*" names
  KernelVersion kernel;                   // usually running_kernel()
};

// Converts `profile` (Docker's format) for `target`:
// - defaultAction, defaultErrnoRet, flags are copied;
// - architectures: the archMap entry whose architecture is the target's libseccomp name, plus
//   its subArchitectures (x86_64 → X86_64, X86, X32); a legacy "architectures" list is copied;
// - each syscall rule is kept when every `includes` condition holds (caps all present, target
//   arch listed, kernel ≥ minKernel) and no `excludes` condition holds (a listed cap present, the
//   arch listed, kernel ≥ minKernel); kept rules become {names, action, errnoRet?, args?}.
// Docker's deprecated single "name" is accepted. String-only "errno"/"defaultErrno" fields are
// ignored (the Debian profile also carries the numeric form).
// Errors: kInvalidArgument naming the field (not JSON, missing defaultAction, a rule with both
// name and names or neither, a bad minKernel, both archMap and architectures); kUnsupported for
// an unknown architecture.
[[nodiscard]] Result<nlohmann::json> convert_seccomp_profile(std::string_view profile,
                                                             const SeccompTarget& target);

enum class SeccompMode {
  kProfile,     // confine with the profile file
  kUnconfined,  // no linux.seccomp at all (Docker's `seccomp=unconfined`, privileged)
};

// The `linux.seccomp` value: std::nullopt for kUnconfined, else the converted profile read from
// `profile_path`. Errors: those of convert_seccomp_profile (wrapped with the path); kNotFound when
// the file is missing (install golang-github-containers-common).
[[nodiscard]] Result<std::optional<nlohmann::json>> load_seccomp(
    SeccompMode mode, const SeccompTarget& target,
    const std::filesystem::path& profile_path = kDefaultSeccompProfile);

}  // namespace zlayer::runtime::linux
