#include "runtime/linux/security_defaults.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/fs.h"

namespace zlayer::runtime::linux {

namespace {

// Capability names by number, as linux/capability.h defines them (0 … CAP_CHECKPOINT_RESTORE).
// A kernel may know more numbers than this table; those have no name and are left out, as
// Docker does.
constexpr std::array<std::string_view, 41> kCapabilityNames = {"CAP_CHOWN",
                                                               "CAP_DAC_OVERRIDE",
                                                               "CAP_DAC_READ_SEARCH",
                                                               "CAP_FOWNER",
                                                               "CAP_FSETID",
                                                               "CAP_KILL",
                                                               "CAP_SETGID",
                                                               "CAP_SETUID",
                                                               "CAP_SETPCAP",
                                                               "CAP_LINUX_IMMUTABLE",
                                                               "CAP_NET_BIND_SERVICE",
                                                               "CAP_NET_BROADCAST",
                                                               "CAP_NET_ADMIN",
                                                               "CAP_NET_RAW",
                                                               "CAP_IPC_LOCK",
                                                               "CAP_IPC_OWNER",
                                                               "CAP_SYS_MODULE",
                                                               "CAP_SYS_RAWIO",
                                                               "CAP_SYS_CHROOT",
                                                               "CAP_SYS_PTRACE",
                                                               "CAP_SYS_PACCT",
                                                               "CAP_SYS_ADMIN",
                                                               "CAP_SYS_BOOT",
                                                               "CAP_SYS_NICE",
                                                               "CAP_SYS_RESOURCE",
                                                               "CAP_SYS_TIME",
                                                               "CAP_SYS_TTY_CONFIG",
                                                               "CAP_MKNOD",
                                                               "CAP_LEASE",
                                                               "CAP_AUDIT_WRITE",
                                                               "CAP_AUDIT_CONTROL",
                                                               "CAP_SETFCAP",
                                                               "CAP_MAC_OVERRIDE",
                                                               "CAP_MAC_ADMIN",
                                                               "CAP_SYSLOG",
                                                               "CAP_WAKE_ALARM",
                                                               "CAP_BLOCK_SUSPEND",
                                                               "CAP_AUDIT_READ",
                                                               "CAP_PERFMON",
                                                               "CAP_BPF",
                                                               "CAP_CHECKPOINT_RESTORE"};

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

Result<std::vector<std::string>> normalize_all(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    ZLAYER_TRY(normal, normalize_capability(name));
    if (!contains(out, normal)) out.push_back(std::move(normal));
  }
  return out;
}

nlohmann::json mount(std::string_view destination, std::string_view type, std::string_view source,
                     std::vector<std::string> options) {
  return {{"destination", destination},
          {"type", type},
          {"source", source},
          {"options", std::move(options)}};
}

nlohmann::json device_rule(bool allow, std::string_view type, int major, int minor,
                           std::string_view access) {
  nlohmann::json rule = {{"allow", allow}, {"type", type}, {"access", access}};
  // A missing major/minor is the wildcard "*" in runtime-spec.
  if (major >= 0) rule["major"] = major;
  if (minor >= 0) rule["minor"] = minor;
  return rule;
}

}  // namespace

Result<std::string> normalize_capability(std::string_view name) {
  std::string key = upper(name);
  if (key == "ALL") return key;
  if (key.rfind("CAP_", 0) != 0) key = "CAP_" + key;
  if (std::find(kCapabilityNames.begin(), kCapabilityNames.end(), key) == kCapabilityNames.end()) {
    return errorf(Errc::kInvalidArgument, "unknown capability \"{}\"", name);
  }
  return key;
}

Result<int> capability_number(std::string_view name) {
  ZLAYER_TRY(key, normalize_capability(name));
  auto it = std::find(kCapabilityNames.begin(), kCapabilityNames.end(), key);
  if (it == kCapabilityNames.end()) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a single capability", name);
  }
  return static_cast<int>(it - kCapabilityNames.begin());
}

Result<int> kernel_last_capability() {
  constexpr std::string_view kPath = "/proc/sys/kernel/cap_last_cap";
  ZLAYER_TRY(text, read_file(std::filesystem::path(kPath)));
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  int value = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return errorf(Errc::kInvalidArgument, "{}: \"{}\" is not a capability number", kPath, text);
  }
  return value;
}

std::vector<std::string> all_capabilities(int last_cap) {
  std::vector<std::string> out;
  for (int i = 0; i <= last_cap && i < static_cast<int>(kCapabilityNames.size()); ++i) {
    out.emplace_back(kCapabilityNames[static_cast<std::size_t>(i)]);
  }
  return out;
}

Result<std::uint64_t> capability_mask(const std::vector<std::string>& capabilities) {
  std::uint64_t mask = 0;
  for (const auto& name : capabilities) {
    ZLAYER_TRY(number, capability_number(name));
    mask |= std::uint64_t{1} << number;
  }
  return mask;
}

Result<std::vector<std::string>> effective_capabilities(const CapabilityOptions& options,
                                                        int last_cap) {
  // Validate names even when privileged: a typo in the spec should not pass silently.
  ZLAYER_TRY(add, normalize_all(options.cap_add));
  ZLAYER_TRY(drop, normalize_all(options.cap_drop));
  if (options.privileged) return all_capabilities(last_cap);

  std::vector<std::string> out;
  auto append = [&](const std::string& cap) {
    if (cap != "ALL" && !contains(out, cap)) out.push_back(cap);
  };
  if (contains(add, "ALL")) {
    for (const auto& cap : all_capabilities(last_cap)) {
      if (!contains(drop, cap)) append(cap);
    }
  } else if (contains(drop, "ALL")) {
    for (const auto& cap : add) append(cap);
  } else {
    for (auto cap : kDefaultCapabilities) {
      if (!contains(drop, cap)) append(std::string(cap));
    }
    for (const auto& cap : add) append(cap);
  }
  return out;
}

std::vector<std::string> masked_paths(bool privileged) {
  if (privileged) return {};
  return {"/proc/asound",
          "/proc/acpi",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
          "/sys/devices/virtual/powercap"};
}

std::vector<std::string> readonly_paths(bool privileged) {
  if (privileged) return {};
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

nlohmann::json default_mounts(const MountOptions& options) {
  std::string sys_mode = options.privileged ? "rw" : "ro";
  // tmpfs sizes in KiB as Docker writes them ("size=65536k").
  std::string shm_size = fmt::format("size={}k", options.shm_size_bytes / 1024);
  auto mounts = nlohmann::json::array();
  mounts.push_back(mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(
      mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}));
  mounts.push_back(
      mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}));
  mounts.push_back(
      mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", shm_size}));
  mounts.push_back(mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", sys_mode}));
  mounts.push_back(
      mount("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", sys_mode}));
  return mounts;
}

nlohmann::json default_device_rules(bool privileged) {
  auto rules = nlohmann::json::array();
  if (privileged) {
    rules.push_back({{"allow", true}, {"access", "rwm"}});
    return rules;
  }
  rules.push_back({{"allow", false}, {"access", "rwm"}});
  rules.push_back(device_rule(true, "c", 1, 3, "rwm"));     // /dev/null
  rules.push_back(device_rule(true, "c", 1, 8, "rwm"));     // /dev/random
  rules.push_back(device_rule(true, "c", 1, 7, "rwm"));     // /dev/full
  rules.push_back(device_rule(true, "c", 5, 0, "rwm"));     // /dev/tty
  rules.push_back(device_rule(true, "c", 1, 5, "rwm"));     // /dev/zero
  rules.push_back(device_rule(true, "c", 1, 9, "rwm"));     // /dev/urandom
  rules.push_back(device_rule(true, "c", -1, -1, "m"));     // mknod of any char device
  rules.push_back(device_rule(true, "b", -1, -1, "m"));     // mknod of any block device
  rules.push_back(device_rule(true, "c", 136, -1, "rwm"));  // /dev/pts/*
  rules.push_back(device_rule(true, "c", 5, 2, "rwm"));     // /dev/ptmx
  rules.push_back(device_rule(true, "c", 10, 200, "rwm"));  // /dev/net/tun
  return rules;
}

nlohmann::json oci_capabilities(const std::vector<std::string>& capabilities) {
  return {{"bounding", capabilities},
          {"effective", capabilities},
          {"permitted", capabilities},
          {"inheritable", nlohmann::json::array()},
          {"ambient", nlohmann::json::array()}};
}

}  // namespace zlayer::runtime::linux
