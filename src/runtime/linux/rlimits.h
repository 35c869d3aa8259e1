// `process.rlimits` of an OCI bundle: a service's ulimits (Docker names → soft/hard) plus the
// default NOFILE, clamped to the agent's own hard limits — an OCI runtime started by us cannot
// raise a hard limit (no CAP_SYS_RESOURCE here; see machine-facts.md), and setrlimit would fail.
// Pure functions on values, except agent_rlimit_ceilings() which calls getrlimit. Thread-safe.
// Follows OCI runtime-spec v1.0.2 config.md "POSIX process" rlimits and Docker's `--ulimit`.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace zlayer::runtime::linux {

// RLIM_INFINITY as OCI config.json writes it (uint64 max).
inline constexpr std::uint64_t kRlimitInfinity = ~std::uint64_t{0};
// containerd's (hence Docker's) default RLIMIT_NOFILE, soft and hard.
inline constexpr std::uint64_t kDefaultNofile = 1048576;

// One `ulimits` entry of the spec. Fill rule (spec-schema §3.3): missing hard = soft, missing
// soft = hard, both missing = 0/0. kRlimitInfinity means unlimited.
struct Ulimit {
  std::optional<std::uint64_t> soft;
  std::optional<std::uint64_t> hard;
};

struct OciRlimit {
  std::string type;  // "RLIMIT_NOFILE"
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  bool operator==(const OciRlimit&) const = default;
};

// Hard limit per OCI type name ("RLIMIT_NOFILE" → 20000). Types missing from the map are not
// clamped.
using RlimitCeilings = std::map<std::string, std::uint64_t>;

struct RlimitPlan {
  std::vector<OciRlimit> rlimits;     // sorted by type
  std::vector<std::string> warnings;  // one sentence per clamped limit, for the caller to log
};

// The OCI type for a Docker ulimit name: "nofile", "NOFILE", "RLIMIT_NOFILE" → "RLIMIT_NOFILE".
// Errors: kInvalidArgument listing the known names.
[[nodiscard]] Result<std::string> rlimit_type(std::string_view name);

// getrlimit() of this process for every type rlimit_type() knows: the agent's hard limits.
// Errors: errno-mapped (getrlimit cannot really fail for known resources).
[[nodiscard]] Result<RlimitCeilings> agent_rlimit_ceilings();

// Builds process.rlimits from `ulimits` (spec names → values) plus RLIMIT_NOFILE
// kDefaultNofile/kDefaultNofile when the spec sets no nofile. A hard limit above the ceiling is
// lowered to it, and a soft limit above the (new) hard limit is lowered to the hard limit; each
// change adds a warning naming the limit, what was asked and what is used (defaults say
// "default"). Errors: kInvalidArgument for an unknown name, a name given twice (e.g. "nofile" and
// "RLIMIT_NOFILE"), or soft > hard.
[[nodiscard]] Result<RlimitPlan> build_rlimits(const std::map<std::string, Ulimit>& ulimits,
                                               const RlimitCeilings& ceilings);

// [{"type", "soft", "hard"}, …] for config.json.
[[nodiscard]] nlohmann::json oci_rlimits(const std::vector<OciRlimit>& rlimits);

}  // namespace zlayer::runtime::linux
