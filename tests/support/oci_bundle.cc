#include "support/oci_bundle.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "core/fs.h"
#include "core/subprocess.h"
#include "runtime/linux/cgroups.h"

namespace zlayer::testing {

namespace fs = std::filesystem;
using nlohmann::json;

json test_bundle_config(const TestBundleOptions& options) {
  json caps = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
               "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
               "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
               "CAP_KILL",    "CAP_AUDIT_WRITE"};
  json linux_section = {
      {"namespaces", json::array({{{"type", "pid"}},
                                  {{"type", "ipc"}},
                                  {{"type", "uts"}},
                                  {{"type", "mount"}},
                                  {{"type", "network"}}})},
      {"maskedPaths", json::array({"/proc/kcore", "/proc/timer_list"})},
      {"readonlyPaths", json::array({"/proc/sys", "/proc/sysrq-trigger"})},
  };
  if (!options.cgroups_path.empty()) linux_section["cgroupsPath"] = options.cgroups_path;
  if (options.memory_limit_bytes) {
    linux_section["resources"] = {
        {"memory",
         {{"limit", *options.memory_limit_bytes}, {"swap", *options.memory_limit_bytes}}}};
  }
  return {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", options.hostname},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", options.args},
        {"env", options.env},
        {"cwd", options.cwd},
        {"noNewPrivileges", true},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", json::array()}}},
      {"mounts",
       json::array({
           {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
           {{"destination", "/dev"},
            {"type", "tmpfs"},
            {"source", "tmpfs"},
            {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
           {{"destination", "/dev/pts"},
            {"type", "devpts"},
            {"source", "devpts"},
            {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
           {{"destination", "/dev/shm"},
            {"type", "tmpfs"},
            {"source", "shm"},
            {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
           {{"destination", "/sys"},
            {"type", "sysfs"},
            {"source", "sysfs"},
            {"options", {"nosuid", "noexec", "nodev", "ro"}}},
       })},
      {"linux", linux_section},
  };
}

Status write_test_bundle(const fs::path& bundle, const TestBundleOptions& options) {
  ZLAYER_CHECK(write_busybox_rootfs(bundle / "rootfs"));
  return atomic_write_file(bundle / "config.json", test_bundle_config(options).dump(2));
}

std::vector<fs::path> cgroup_dirs(std::string_view relative) {
  std::vector<fs::path> found;
  auto layout = runtime::linux::detect_cgroup_layout();
  if (!layout) return found;
  for (const auto& point : layout->mount_points()) {
    fs::path dir = point / relative;
    std::error_code ec;
    if (fs::is_directory(dir, ec)) found.push_back(dir);
  }
  return found;
}

Status remove_cgroup_dirs(std::string_view relative) {
  std::string busy;
  for (const auto& top : cgroup_dirs(relative)) {
    // cgroup directories hold only control files (which rmdir ignores) and child cgroups.
    std::vector<fs::path> dirs = {top};
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(top, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
      return a.string().size() > b.string().size();
    });
    for (const auto& dir : dirs) {
      if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        busy += fmt::format(" {} ({})", dir.string(), ::strerror(errno));
      }
    }
  }
  if (!busy.empty()) return errorf(Errc::kFailedPrecondition, "cgroups left:{}", busy);
  return {};
}

}  // namespace zlayer::testing
