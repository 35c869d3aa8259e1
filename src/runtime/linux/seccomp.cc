#include "runtime/linux/seccomp.h"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <utility>

#include "core/fs.h"

namespace zlayer::runtime::linux {

namespace {

using nlohmann::json;

// GOARCH → libseccomp architecture (moby's nativeToSeccomp). Architecture names, not syscalls:
// the profile itself says which syscalls each architecture gets.
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kArchNames = {{
    {"amd64", "SCMP_ARCH_X86_64"},
    {"386", "SCMP_ARCH_X86"},
    {"x86", "SCMP_ARCH_X86"},
    {"x32", "SCMP_ARCH_X32"},
    {"arm64", "SCMP_ARCH_AARCH64"},
    {"arm", "SCMP_ARCH_ARM"},
    {"mips", "SCMP_ARCH_MIPS"},
    {"mipsle", "SCMP_ARCH_MIPSEL"},
    {"mips64", "SCMP_ARCH_MIPS64"},
    {"mips64le", "SCMP_ARCH_MIPSEL64"},
    {"ppc64", "SCMP_ARCH_PPC64"},
    {"ppc64le", "SCMP_ARCH_PPC64LE"},
    {"riscv64", "SCMP_ARCH_RISCV64"},
    {"s390", "SCMP_ARCH_S390"},
    {"s390x", "SCMP_ARCH_S390X"},
}};

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// A list of strings at `object[key]`; null or missing → empty.
Result<std::vector<std::string>> string_list(const json& object, std::string_view key,
                                             std::string_view where) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return errorf(Errc::kInvalidArgument, "{}.{} is not a list", where, key);
  for (const auto& item : *it) {
    if (!item.is_string()) {
      return errorf(Errc::kInvalidArgument, "{}.{} has an entry that is not a string", where, key);
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string upper_cap(std::string name) {
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("CAP_", 0) != 0) name = "CAP_" + name;
  return name;
}

// An includes/excludes filter ({caps, arches, minKernel}) of one rule.
struct Filter {
  std::vector<std::string> caps;
  std::vector<std::string> arches;
  std::optional<KernelVersion> min_kernel;
  bool empty() const { return caps.empty() && arches.empty() && !min_kernel; }
};

Result<Filter> parse_filter(const json& rule, std::string_view key, std::string_view where) {
  Filter out;
  auto it = rule.find(key);
  if (it == rule.end() || it->is_null()) return out;
  if (!it->is_object()) return errorf(Errc::kInvalidArgument, "{}.{} is not an object", where, key);
  std::string here = fmt::format("{}.{}", where, key);
  ZLAYER_TRY(caps, string_list(*it, "caps", here));
  ZLAYER_TRY(arches, string_list(*it, "arches", here));
  for (auto& cap : caps) out.caps.push_back(upper_cap(std::move(cap)));
  out.arches = std::move(arches);
  if (auto min = it->find("minKernel"); min != it->end() && !min->is_null()) {
    if (!min->is_string()) {
      return errorf(Errc::kInvalidArgument, "{}.minKernel is not a string", here);
    }
    ZLAYER_TRY(version, KernelVersion::parse(min->get<std::string>()).map_error([&](Error e) {
      return e.wrap(here + ".minKernel");
    }));
    out.min_kernel = version;
  }
  return out;
}

// Docker's setupSeccomp: every include must hold, no exclude may hold.
bool rule_applies(const Filter& includes, const Filter& excludes, const SeccompTarget& target,
                  const std::vector<std::string>& caps) {
  if (!excludes.arches.empty() && contains(excludes.arches, target.architecture)) return false;
  for (const auto& cap : excludes.caps) {
    if (contains(caps, cap)) return false;
  }
  if (excludes.min_kernel && target.kernel >= *excludes.min_kernel) return false;
  if (!includes.arches.empty() && !contains(includes.arches, target.architecture)) return false;
  for (const auto& cap : includes.caps) {
    if (!contains(caps, cap)) return false;
  }
  if (includes.min_kernel && target.kernel < *includes.min_kernel) return false;
  return true;
}

Result<json> convert_rule(const json& rule, std::string_view where) {
  if (!rule.is_object()) return errorf(Errc::kInvalidArgument, "{} is not an object", where);
  ZLAYER_TRY(names, string_list(rule, "names", where));
  if (auto name = rule.find("name"); name != rule.end() && !name->is_null()) {
    if (!name->is_string()) return errorf(Errc::kInvalidArgument, "{}.name is not a string", where);
    if (!names.empty()) {
      return errorf(Errc::kInvalidArgument, "{} sets both name and names", where);
    }
    names.push_back(name->get<std::string>());
  }
  if (names.empty()) return errorf(Errc::kInvalidArgument, "{} names no syscall", where);
  auto action = rule.find("action");
  if (action == rule.end() || !action->is_string()) {
    return errorf(Errc::kInvalidArgument, "{}.action is missing or not a string", where);
  }
  json out = {{"names", std::move(names)}, {"action", *action}};
  if (auto errno_ret = rule.find("errnoRet"); errno_ret != rule.end() && !errno_ret->is_null()) {
    if (!errno_ret->is_number_unsigned()) {
      return errorf(Errc::kInvalidArgument, "{}.errnoRet is not an unsigned number", where);
    }
    out["errnoRet"] = *errno_ret;
  }
  if (auto args = rule.find("args"); args != rule.end() && !args->is_null()) {
    if (!args->is_array()) return errorf(Errc::kInvalidArgument, "{}.args is not a list", where);
    if (!args->empty()) {
      json oci_args = json::array();
      for (const auto& arg : *args) {
        if (!arg.is_object() || !arg.contains("index") || !arg.contains("value") ||
            !arg.contains("op")) {
          return errorf(Errc::kInvalidArgument, "{}.args has an entry without index/value/op",
                        where);
        }
        json oci_arg = {{"index", arg["index"]}, {"value", arg["value"]}, {"op", arg["op"]}};
        if (arg.contains("valueTwo")) oci_arg["valueTwo"] = arg["valueTwo"];
        oci_args.push_back(std::move(oci_arg));
      }
      out["args"] = std::move(oci_args);
    }
  }
  return out;
}

}  // namespace

Result<KernelVersion> KernelVersion::parse(std::string_view release) {
  KernelVersion out;
  const char* begin = release.data();
  const char* end = release.data() + release.size();
  auto major = std::from_chars(begin, end, out.major);
  if (major.ec != std::errc() || major.ptr == end || *major.ptr != '.') {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a kernel version like 4.8", release);
  }
  auto minor = std::from_chars(major.ptr + 1, end, out.minor);
  if (minor.ec != std::errc()) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a kernel version like 4.8", release);
  }
  return out;
}

Result<KernelVersion> running_kernel() {
  utsname name{};
  if (::uname(&name) != 0) return sys_error("uname", errno);
  return KernelVersion::parse(name.release);
}

Result<std::string> seccomp_arch_name(std::string_view goarch) {
  for (const auto& [go, scmp] : kArchNames) {
    if (go == goarch) return std::string(scmp);
  }
  return errorf(Errc::kUnsupported, "architecture \"{}\" has no seccomp name", goarch);
}

Result<json> convert_seccomp_profile(std::string_view profile, const SeccompTarget& target) {
  json doc = json::parse(profile, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return errorf(Errc::kInvalidArgument, "seccomp profile is not a JSON object");
  }
  ZLAYER_TRY(native_arch, seccomp_arch_name(target.architecture));
  std::vector<std::string> caps;
  for (const auto& cap : target.capabilities) caps.push_back(upper_cap(cap));

  auto default_action = doc.find("defaultAction");
  if (default_action == doc.end() || !default_action->is_string()) {
    return errorf(Errc::kInvalidArgument, "seccomp profile: defaultAction is missing");
  }
  json out = {{"defaultAction", *default_action}};
  if (auto ret = doc.find("defaultErrnoRet"); ret != doc.end() && !ret->is_null()) {
    if (!ret->is_number_unsigned()) {
      return errorf(Errc::kInvalidArgument, "seccomp profile: defaultErrnoRet is not a number");
    }
    out["defaultErrnoRet"] = *ret;
  }

  ZLAYER_TRY(legacy_arches, string_list(doc, "architectures", "seccomp profile"));
  std::vector<std::string> arches;
  auto arch_map = doc.find("archMap");
  bool has_arch_map = arch_map != doc.end() && !arch_map->is_null() && !arch_map->empty();
  if (has_arch_map && !legacy_arches.empty()) {
    return errorf(Errc::kInvalidArgument,
                  "seccomp profile sets both architectures and archMap; use archMap");
  }
  if (has_arch_map) {
    if (!arch_map->is_array()) {
      return errorf(Errc::kInvalidArgument, "seccomp profile: archMap is not a list");
    }
    for (const auto& entry : *arch_map) {
      if (!entry.is_object() || !entry.contains("architecture")) {
        return errorf(Errc::kInvalidArgument,
                      "seccomp profile: archMap entry without architecture");
      }
      if (entry["architecture"] != native_arch) continue;
      arches.push_back(native_arch);
      ZLAYER_TRY(sub, string_list(entry, "subArchitectures", "seccomp profile archMap"));
      arches.insert(arches.end(), sub.begin(), sub.end());
    }
  } else {
    arches = std::move(legacy_arches);
  }
  out["architectures"] = std::move(arches);
  if (auto flags = doc.find("flags"); flags != doc.end() && !flags->is_null()) {
    out["flags"] = *flags;
  }

  json rules = json::array();
  auto syscalls = doc.find("syscalls");
  if (syscalls != doc.end() && !syscalls->is_null()) {
    if (!syscalls->is_array()) {
      return errorf(Errc::kInvalidArgument, "seccomp profile: syscalls is not a list");
    }
    for (std::size_t i = 0; i < syscalls->size(); ++i) {
      const json& rule = (*syscalls)[i];
      std::string where = fmt::format("seccomp profile syscalls[{}]", i);
      if (!rule.is_object()) return errorf(Errc::kInvalidArgument, "{} is not an object", where);
      ZLAYER_TRY(includes, parse_filter(rule, "includes", where));
      ZLAYER_TRY(excludes, parse_filter(rule, "excludes", where));
      ZLAYER_TRY(converted, convert_rule(rule, where));
      if (rule_applies(includes, excludes, target, caps)) rules.push_back(std::move(converted));
    }
  }
  out["syscalls"] = std::move(rules);
  return out;
}

Result<std::optional<json>> load_seccomp(SeccompMode mode, const SeccompTarget& target,
                                         const std::filesystem::path& profile_path) {
  if (mode == SeccompMode::kUnconfined) return std::optional<json>{};
  auto text = read_file(profile_path);
  if (!text) {
    auto error = std::move(text).error();
    if (error.code == Errc::kNotFound) {
      error.message += " (the default profile comes with golang-github-containers-common)";
    }
    return unexpected(
        std::move(error).wrap(fmt::format("seccomp profile {}", profile_path.string())));
  }
  ZLAYER_TRY(converted, convert_seccomp_profile(*text, target).map_error([&](Error e) {
    return e.wrap(profile_path.string());
  }));
  return std::optional<json>(std::move(converted));
}

}  // namespace zlayer::runtime::linux
