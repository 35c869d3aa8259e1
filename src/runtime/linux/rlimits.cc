#include "runtime/linux/rlimits.h"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <utility>

namespace zlayer::runtime::linux {

namespace {

struct RlimitName {
  std::string_view docker;  // Docker's --ulimit name
  std::string_view oci;     // OCI config.json type
  int resource;             // getrlimit resource
};

// The resources of getrlimit(2), named as Docker (go-units ulimit.go) and OCI name them.
constexpr std::array<RlimitName, 16> kRlimits = {{
    {"as", "RLIMIT_AS", RLIMIT_AS},
    {"core", "RLIMIT_CORE", RLIMIT_CORE},
    {"cpu", "RLIMIT_CPU", RLIMIT_CPU},
    {"data", "RLIMIT_DATA", RLIMIT_DATA},
    {"fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"locks", "RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"nice", "RLIMIT_NICE", RLIMIT_NICE},
    {"nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"nproc", "RLIMIT_NPROC", RLIMIT_NPROC},
    {"rss", "RLIMIT_RSS", RLIMIT_RSS},
    {"rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"stack", "RLIMIT_STACK", RLIMIT_STACK},
}};

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string show(std::uint64_t value) {
  return value == kRlimitInfinity ? std::string("unlimited") : std::to_string(value);
}

}  // namespace

Result<std::string> rlimit_type(std::string_view name) {
  std::string key = lower(name);
  if (key.rfind("rlimit_", 0) == 0) key.erase(0, 7);
  for (const auto& limit : kRlimits) {
    if (limit.docker == key) return std::string(limit.oci);
  }
  std::string known;
  for (const auto& limit : kRlimits) {
    if (!known.empty()) known += ", ";
    known += limit.docker;
  }
  return errorf(Errc::kInvalidArgument, "ulimit \"{}\" is not one of: {}", name, known);
}

Result<RlimitCeilings> agent_rlimit_ceilings() {
  RlimitCeilings out;
  for (const auto& limit : kRlimits) {
    rlimit value{};
    if (::getrlimit(limit.resource, &value) != 0) {
      return sys_error(fmt::format("getrlimit {}", limit.oci), errno);
    }
    out[std::string(limit.oci)] = value.rlim_max == RLIM_INFINITY
                                      ? kRlimitInfinity
                                      : static_cast<std::uint64_t>(value.rlim_max);
  }
  return out;
}

Result<RlimitPlan> build_rlimits(const std::map<std::string, Ulimit>& ulimits,
                                 const RlimitCeilings& ceilings) {
  // (type → {soft, hard, from_default}) keeps the output sorted by type.
  struct Wanted {
    std::uint64_t soft;
    std::uint64_t hard;
    bool from_default;
    std::string spec_name;
  };
  std::map<std::string, Wanted> wanted;
  for (const auto& [name, limit] : ulimits) {
    ZLAYER_TRY(type, rlimit_type(name));
    if (auto it = wanted.find(type); it != wanted.end()) {
      return errorf(Errc::kInvalidArgument, "ulimits \"{}\" and \"{}\" both set {}",
                    it->second.spec_name, name, type);
    }
    std::uint64_t soft = limit.soft.value_or(limit.hard.value_or(0));
    std::uint64_t hard = limit.hard.value_or(limit.soft.value_or(0));
    if (soft > hard) {
      return errorf(Errc::kInvalidArgument,
                    "ulimit \"{}\": soft limit {} is above the hard limit {}", name, show(soft),
                    show(hard));
    }
    wanted.emplace(type, Wanted{soft, hard, false, name});
  }
  if (!wanted.contains("RLIMIT_NOFILE")) {
    wanted.emplace("RLIMIT_NOFILE", Wanted{kDefaultNofile, kDefaultNofile, true, "nofile"});
  }

  RlimitPlan plan;
  for (const auto& [type, want] : wanted) {
    OciRlimit limit{type, want.soft, want.hard};
    if (auto ceiling = ceilings.find(type); ceiling != ceilings.end()) {
      if (limit.hard > ceiling->second) limit.hard = ceiling->second;
      if (limit.soft > limit.hard) limit.soft = limit.hard;
    }
    if (limit.soft != want.soft || limit.hard != want.hard) {
      plan.warnings.push_back(fmt::format(
          "{} {} {}/{} (soft/hard) is above the agent's own hard limit; using {}/{}", type,
          want.from_default ? "default" : fmt::format("ulimit \"{}\"", want.spec_name),
          show(want.soft), show(want.hard), show(limit.soft), show(limit.hard)));
    }
    plan.rlimits.push_back(std::move(limit));
  }
  return plan;
}

nlohmann::json oci_rlimits(const std::vector<OciRlimit>& rlimits) {
  auto out = nlohmann::json::array();
  for (const auto& limit : rlimits) {
    out.push_back({{"type", limit.type}, {"soft", limit.soft}, {"hard", limit.hard}});
  }
  return out;
}

}  // namespace zlayer::runtime::linux
