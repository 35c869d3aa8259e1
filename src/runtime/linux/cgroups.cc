#include "runtime/linux/cgroups.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <map>
#include <thread>
#include <utility>

#include "core/fs.h"
#include "core/text.h"

namespace zlayer::runtime::linux {

namespace fs = std::filesystem;

namespace {

// The v1 controllers the kernel knows (Documentation/admin-guide/cgroup-v1); anything else in a
// cgroup mount's super options is an option (rw, xattr, noprefix, release_agent=…).
constexpr std::array<std::string_view, 14> kV1Controllers = {
    "blkio",  "cpu",  "cpuacct", "cpuset",   "devices",    "freezer", "hugetlb",
    "memory", "misc", "net_cls", "net_prio", "perf_event", "pids",    "rdma",
};

// v1 reports "no limit" as PAGE_COUNTER_MAX pages: 0x7FFFFFFFFFFFF000 with 4 KiB pages, a bit
// less with larger pages. No machine has 4 EiB, so anything from 2^62 on means unlimited.
constexpr std::uint64_t kV1UnlimitedFrom = std::uint64_t{1} << 62;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    auto start = line.find_first_not_of(" \t\n", pos);
    if (start == std::string_view::npos) break;
    auto end = line.find_first_of(" \t\n", start);
    if (end == std::string_view::npos) end = line.size();
    out.push_back(line.substr(start, end - start));
    pos = end;
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c).
std::string unescape_octal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() &&
        std::all_of(text.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                    text.begin() + static_cast<std::ptrdiff_t>(i) + 4,
                    [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                      (text[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool is_v1_controller(std::string_view option) {
  return std::find(kV1Controllers.begin(), kV1Controllers.end(), option) != kV1Controllers.end();
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  for (auto word : fields(text)) out.emplace_back(word);
  std::sort(out.begin(), out.end());
  return out;
}

// `cgroups_path` as a path relative to a hierarchy's mount point ("" for the root cgroup).
Result<fs::path> relative_cgroup_path(std::string_view cgroups_path) {
  fs::path relative;
  for (auto part : split(cgroups_path, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..") {
      return errorf(Errc::kInvalidArgument,
                    "cgroup path \"{}\": \".\" and \"..\" components are not allowed",
                    cgroups_path);
    }
    relative /= part;
  }
  return relative;
}

fs::path under_root(const fs::path& root, const fs::path& mount_point) {
  return root / mount_point.relative_path();
}

// A cgroup file's contents; nullopt when the file does not exist (controller not mounted or not
// enabled for this cgroup).
Result<std::optional<std::string>> read_optional(const fs::path& file) {
  auto text = read_file(file);
  if (!text) {
    if (text.error().sys_errno == ENOENT) return std::optional<std::string>();
    return unexpected(std::move(text).error());
  }
  return std::optional<std::string>(std::move(*text));
}

Result<std::uint64_t> parse_u64(std::string_view text, const fs::path& file,
                                std::string_view what) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return errorf(Errc::kInvalidArgument,
                  "cgroup file {}: expected an unsigned integer{}, got \"{}\"", file.string(),
                  what.empty() ? std::string() : fmt::format(" for {}", what), excerpt(text, 60));
  }
  return value;
}

// A file holding one number.
Status read_number(const fs::path& file, std::optional<std::uint64_t>& out) {
  ZLAYER_TRY(text, read_optional(file));
  if (!text) return {};
  ZLAYER_TRY(value, parse_u64(trim(*text), file, ""));
  out = value;
  return {};
}

// A limit file: a number, or "max" (v2, pids) / the v1 page-counter maximum for unlimited, which
// leave `out` empty.
Status read_limit(const fs::path& file, std::optional<std::uint64_t>& out) {
  ZLAYER_TRY(text, read_optional(file));
  if (!text) return {};
  std::string value_text = trim(*text);
  if (value_text == "max") return {};
  ZLAYER_TRY(value, parse_u64(value_text, file, ""));
  if (value >= kV1UnlimitedFrom) return {};
  out = value;
  return {};
}

// A flat-keyed file ("key value" per line: cpu.stat, memory.stat, memory.events, cpuacct.stat,
// memory.oom_control). Sets the wanted keys present in the file; returns false when the file does
// not exist. Keys not wanted are not parsed, so new kernel keys never break us.
struct WantedKey {
  std::string_view key;
  std::optional<std::uint64_t>* out;
};
Result<bool> read_keyed(const fs::path& file, std::initializer_list<WantedKey> wanted) {
  ZLAYER_TRY(text, read_optional(file));
  if (!text) return false;
  for (auto line : split(*text, '\n')) {
    auto parts = fields(line);
    if (parts.empty()) continue;
    for (const auto& want : wanted) {
      if (parts[0] != want.key) continue;
      if (parts.size() != 2) {
        return errorf(Errc::kInvalidArgument,
                      "cgroup file {}: expected \"{} <number>\", got \"{}\"", file.string(),
                      want.key, excerpt(line, 60));
      }
      ZLAYER_TRY(value, parse_u64(parts[1], file, want.key));
      *want.out = value;
    }
  }
  return true;
}

void scale(std::optional<std::uint64_t>& value, std::uint64_t factor) {
  if (value) *value *= factor;
}

// v1 blkio.*io_service_bytes* / *io_serviced* ("8:0 Read 4096" lines plus a "Total N" line):
// the Read and Write lines summed over devices. Returns false when the file does not exist.
Result<bool> read_v1_blkio(const fs::path& file, std::optional<std::uint64_t>& read,
                           std::optional<std::uint64_t>& write) {
  ZLAYER_TRY(text, read_optional(file));
  if (!text) return false;
  std::uint64_t read_sum = 0;
  std::uint64_t write_sum = 0;
  for (auto line : split(*text, '\n')) {
    auto parts = fields(line);
    if (parts.empty() || (parts.size() == 2 && parts[0] == "Total")) continue;
    if (parts.size() != 3 || parts[0].find(':') == std::string_view::npos) {
      return errorf(Errc::kInvalidArgument,
                    "cgroup file {}: expected \"<major>:<minor> <operation> <number>\", got \"{}\"",
                    file.string(), excerpt(line, 60));
    }
    ZLAYER_TRY(value, parse_u64(parts[2], file, fmt::format("{} {}", parts[0], parts[1])));
    if (parts[1] == "Read") read_sum += value;
    if (parts[1] == "Write") write_sum += value;
  }
  read = read_sum;
  write = write_sum;
  return true;
}

// The first of `names` that exists in `dir`.
Result<bool> read_v1_blkio_first(const fs::path& dir, std::initializer_list<std::string_view> names,
                                 std::optional<std::uint64_t>& read,
                                 std::optional<std::uint64_t>& write) {
  for (auto name : names) {
    ZLAYER_TRY(found, read_v1_blkio(dir / name, read, write));
    if (found) return true;
  }
  return false;
}

// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device, summed.
Status read_v2_io(const fs::path& file, CgroupStats& stats) {
  ZLAYER_TRY(text, read_optional(file));
  if (!text) return {};
  std::map<std::string_view, std::uint64_t> sums = {
      {"rbytes", 0}, {"wbytes", 0}, {"rios", 0}, {"wios", 0}};
  for (auto line : split(*text, '\n')) {
    auto parts = fields(line);
    if (parts.empty()) continue;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      auto equals = parts[i].find('=');
      if (equals == std::string_view::npos) {
        return errorf(Errc::kInvalidArgument,
                      "cgroup file {}: expected \"key=value\" after the device, got \"{}\"",
                      file.string(), excerpt(line, 60));
      }
      auto key = parts[i].substr(0, equals);
      auto sum = sums.find(key);
      if (sum == sums.end()) continue;
      ZLAYER_TRY(value,
                 parse_u64(parts[i].substr(equals + 1), file, fmt::format("{} {}", parts[0], key)));
      sum->second += value;
    }
  }
  stats.blkio_read_bytes = sums["rbytes"];
  stats.blkio_write_bytes = sums["wbytes"];
  stats.blkio_read_ops = sums["rios"];
  stats.blkio_write_ops = sums["wios"];
  return {};
}

void derive_working_set(CgroupStats& stats) {
  if (!stats.memory_usage_bytes) return;
  std::uint64_t inactive = stats.memory_inactive_file_bytes.value_or(0);
  stats.memory_working_set_bytes =
      *stats.memory_usage_bytes > inactive ? *stats.memory_usage_bytes - inactive : 0;
}

bool is_cgroup_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec);
}

// Where the stats of one controller group come from: a v1 hierarchy's directory for the cgroup,
// or the cgroup2 directory.
struct Source {
  fs::path dir;
  bool v2 = false;
};

class CgroupDirs {
 public:
  CgroupDirs(const CgroupLayout& layout, const fs::path& relative, const fs::path& root)
      : layout_(layout), relative_(relative), root_(root) {}

  // The directory to read `controller` from: its v1 hierarchy when mounted, else cgroup2.
  std::optional<Source> source(std::string_view controller) {
    if (const auto* hierarchy = layout_.v1_hierarchy(controller)) {
      return remember(Source{under_root(root_, hierarchy->mount_point) / relative_, false});
    }
    if (layout_.v2_mount)
      return remember(Source{under_root(root_, *layout_.v2_mount) / relative_, true});
    return std::nullopt;
  }
  [[nodiscard]] bool any_exists() const { return any_exists_; }
  [[nodiscard]] const std::vector<std::string>& looked_in() const { return looked_in_; }

 private:
  Source remember(Source source) {
    if (is_cgroup_dir(source.dir)) any_exists_ = true;
    auto text = source.dir.string();
    if (std::find(looked_in_.begin(), looked_in_.end(), text) == looked_in_.end())
      looked_in_.push_back(text);
    return source;
  }
  const CgroupLayout& layout_;
  fs::path relative_;
  fs::path root_;
  bool any_exists_ = false;
  std::vector<std::string> looked_in_;
};

tl::unexpected<Error> cgroup_not_found(std::string_view cgroups_path, const CgroupDirs& dirs) {
  if (dirs.looked_in().empty()) {
    return errorf(Errc::kNotFound, "cgroup {} not found: no cgroup hierarchy is mounted",
                  cgroups_path);
  }
  return errorf(Errc::kNotFound, "cgroup {} not found (looked in {})", cgroups_path,
                fmt::join(dirs.looked_in(), ", "));
}

Status read_cpu(CgroupDirs& dirs, CgroupStats& stats) {
  auto cpuacct = dirs.source("cpuacct");
  if (cpuacct && !cpuacct->v2) {
    ZLAYER_CHECK(read_number(cpuacct->dir / "cpuacct.usage", stats.cpu_usage_ns));
    ZLAYER_CHECK(read_keyed(cpuacct->dir / "cpuacct.stat",
                            {{"user", &stats.cpu_user_ns}, {"system", &stats.cpu_system_ns}}));
    // cpuacct.stat counts USER_HZ ticks (sysconf(_SC_CLK_TCK), 100 on every Linux ABI).
    long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    std::uint64_t ns_per_tick =
        1'000'000'000ULL /
        static_cast<std::uint64_t>(ticks_per_second > 0 ? ticks_per_second : 100);
    scale(stats.cpu_user_ns, ns_per_tick);
    scale(stats.cpu_system_ns, ns_per_tick);
  }
  auto cpu = dirs.source("cpu");
  if (!cpu) return {};
  if (!cpu->v2) {
    ZLAYER_CHECK(read_keyed(cpu->dir / "cpu.stat", {{"nr_periods", &stats.cpu_periods},
                                                    {"nr_throttled", &stats.throttled_periods},
                                                    {"throttled_time", &stats.throttled_ns}}));
    return {};
  }
  // v2 cpu.stat always has the usage keys; the throttling ones only with the cpu controller.
  std::optional<std::uint64_t> usage_us;
  std::optional<std::uint64_t> user_us;
  std::optional<std::uint64_t> system_us;
  std::optional<std::uint64_t> throttled_us;
  ZLAYER_CHECK(read_keyed(cpu->dir / "cpu.stat", {{"usage_usec", &usage_us},
                                                  {"user_usec", &user_us},
                                                  {"system_usec", &system_us},
                                                  {"nr_periods", &stats.cpu_periods},
                                                  {"nr_throttled", &stats.throttled_periods},
                                                  {"throttled_usec", &throttled_us}}));
  scale(usage_us, 1000);
  scale(user_us, 1000);
  scale(system_us, 1000);
  scale(throttled_us, 1000);
  // A hybrid host may give cpuacct from v1 and cpu from v2; v1 numbers win where both exist.
  if (!stats.cpu_usage_ns) stats.cpu_usage_ns = usage_us;
  if (!stats.cpu_user_ns) stats.cpu_user_ns = user_us;
  if (!stats.cpu_system_ns) stats.cpu_system_ns = system_us;
  stats.throttled_ns = throttled_us;
  return {};
}

Status read_memory(CgroupDirs& dirs, CgroupStats& stats) {
  auto memory = dirs.source("memory");
  if (!memory) return {};
  if (!memory->v2) {
    ZLAYER_CHECK(read_number(memory->dir / "memory.usage_in_bytes", stats.memory_usage_bytes));
    ZLAYER_CHECK(read_limit(memory->dir / "memory.limit_in_bytes", stats.memory_limit_bytes));
    // total_* include child cgroups, which a container's own nested cgroups would be.
    ZLAYER_CHECK(read_keyed(memory->dir / "memory.stat",
                            {{"total_cache", &stats.memory_cache_bytes},
                             {"total_inactive_file", &stats.memory_inactive_file_bytes}}));
    ZLAYER_CHECK(
        read_keyed(memory->dir / "memory.oom_control", {{"oom_kill", &stats.oom_kill_count}}));
  } else {
    ZLAYER_CHECK(read_number(memory->dir / "memory.current", stats.memory_usage_bytes));
    ZLAYER_CHECK(read_limit(memory->dir / "memory.max", stats.memory_limit_bytes));
    ZLAYER_CHECK(read_keyed(memory->dir / "memory.stat",
                            {{"file", &stats.memory_cache_bytes},
                             {"inactive_file", &stats.memory_inactive_file_bytes}}));
    ZLAYER_CHECK(read_keyed(memory->dir / "memory.events", {{"oom_kill", &stats.oom_kill_count}}));
  }
  derive_working_set(stats);
  return {};
}

Status read_pids(CgroupDirs& dirs, CgroupStats& stats) {
  auto pids = dirs.source("pids");
  if (!pids) return {};
  ZLAYER_CHECK(read_number(pids->dir / "pids.current", stats.pids_current));
  // Without pids.current the controller is off here; a lone pids.max would be meaningless.
  if (stats.pids_current) ZLAYER_CHECK(read_limit(pids->dir / "pids.max", stats.pids_limit));
  return {};
}

Status read_blkio(CgroupDirs& dirs, CgroupStats& stats) {
  auto blkio = dirs.source("blkio");
  if (!blkio) return {};
  if (blkio->v2) return read_v2_io(blkio->dir / "io.stat", stats);
  ZLAYER_CHECK(read_v1_blkio_first(
      blkio->dir,
      {"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes",
       "blkio.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive"},
      stats.blkio_read_bytes, stats.blkio_write_bytes));
  ZLAYER_CHECK(
      read_v1_blkio_first(blkio->dir,
                          {"blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced",
                           "blkio.io_serviced_recursive", "blkio.bfq.io_serviced_recursive"},
                          stats.blkio_read_ops, stats.blkio_write_ops));
  return {};
}

// rmdir with a short retry on EBUSY: the kernel refuses while exiting tasks are still attached.
Status rmdir_retrying(const fs::path& dir) {
  auto delay = std::chrono::milliseconds(5);
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    int err = errno;
    if (err != EBUSY) return sys_error(fmt::format("removing cgroup {}", dir.string()), err);
    if (attempt == 6) {
      return make_error(Errc::kUnavailable,
                        fmt::format("removing cgroup {}: still busy (tasks inside?)", dir.string()),
                        err);
    }
    std::this_thread::sleep_for(delay);  // 5+10+…+160 ms ≈ 0.3 s in all
    delay *= 2;
  }
}

// Removes `dir` and its child cgroups, deepest first. cgroupfs holds only directories and the
// kernel's control files, which rmdir takes away with the directory.
Status remove_cgroup_dir(const fs::path& dir) {
  std::error_code ec;
  fs::directory_iterator children(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return {};
    return sys_error(fmt::format("listing cgroup {}", dir.string()), ec.value());
  }
  for (const auto& child : children) {
    std::error_code type_ec;
    if (child.is_directory(type_ec) && !child.is_symlink(type_ec)) {
      ZLAYER_CHECK(remove_cgroup_dir(child.path()));
    }
  }
  return rmdir_retrying(dir);
}

std::vector<fs::path> all_dirs(const CgroupLayout& layout, const fs::path& relative,
                               const fs::path& root) {
  std::vector<fs::path> dirs;
  for (const auto& hierarchy : layout.v1)
    dirs.push_back(under_root(root, hierarchy.mount_point) / relative);
  if (layout.v2_mount) dirs.push_back(under_root(root, *layout.v2_mount) / relative);
  return dirs;
}

}  // namespace

std::string_view cgroup_mode_name(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kNone:
      return "none";
    case CgroupMode::kV1:
      return "v1";
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
  }
  return "none";
}

const CgroupV1Hierarchy* CgroupLayout::v1_hierarchy(std::string_view controller) const {
  for (const auto& hierarchy : v1) {
    if (std::find(hierarchy.controllers.begin(), hierarchy.controllers.end(), controller) !=
        hierarchy.controllers.end()) {
      return &hierarchy;
    }
  }
  return nullptr;
}

std::vector<fs::path> CgroupLayout::mount_points() const {
  std::vector<fs::path> points;
  for (const auto& hierarchy : v1) points.push_back(hierarchy.mount_point);
  if (v2_mount) points.push_back(*v2_mount);
  return points;
}

namespace {

// `path` (as /proc/<pid>/cgroup shows it) under a mount of the cgroup `mount_root`.
fs::path under_mount(const fs::path& mount_point, std::string_view mount_root,
                     std::string_view path) {
  if (mount_root != "/" && path.substr(0, mount_root.size()) == mount_root) {
    path.remove_prefix(mount_root.size());
  }
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return mount_point / path;
}

}  // namespace

Result<fs::path> process_cgroup_dir(const CgroupLayout& layout, std::string_view proc_pid_cgroup,
                                    std::string_view controller) {
  const CgroupV1Hierarchy* hierarchy = layout.v1_hierarchy(controller);
  std::optional<std::string_view> v2_path;
  for (auto line : split(proc_pid_cgroup, '\n')) {
    auto first = line.find(':');
    auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    auto controllers = line.substr(first + 1, second - first - 1);
    auto path = line.substr(second + 1);
    if (controllers.empty()) {
      v2_path = path;
      continue;
    }
    if (hierarchy == nullptr) continue;
    auto names = split(controllers, ',');
    if (std::find(names.begin(), names.end(), controller) != names.end()) {
      return under_mount(hierarchy->mount_point, hierarchy->root, path);
    }
  }
  if (v2_path && layout.v2_mount) return under_mount(*layout.v2_mount, layout.v2_root, *v2_path);
  return errorf(Errc::kNotFound, "no {} cgroup for the process (neither a v1 hierarchy nor cgroup2)",
                controller);
}

Result<CgroupLayout> parse_cgroup_layout(std::string_view mountinfo) {
  CgroupLayout layout;
  int line_number = 0;
  for (auto line : split(mountinfo, '\n')) {
    ++line_number;
    auto parts = fields(line);
    if (parts.empty()) continue;
    // id parent major:minor root mount-point options [optional…] - fstype source super-options
    auto separator = std::find(parts.begin(), parts.end(), "-");
    if (parts.size() < 7 || separator - parts.begin() < 6 || parts.end() - separator < 3) {
      return errorf(Errc::kInvalidArgument,
                    "mountinfo line {}: expected \"id parent major:minor root mount-point options "
                    "[optional fields] - fstype source super-options\", got \"{}\"",
                    line_number, excerpt(line, 100));
    }
    std::string_view fstype = separator[1];
    std::string_view super_options = separator + 3 < parts.end() ? separator[3] : "";
    fs::path mount_point = unescape_octal(parts[4]);
    std::string mount_root = unescape_octal(parts[3]);
    if (fstype == "cgroup2") {
      if (!layout.v2_mount) {
        layout.v2_mount = mount_point;
        layout.v2_root = mount_root;
      }
    } else if (fstype == "cgroup") {
      CgroupV1Hierarchy hierarchy;
      hierarchy.mount_point = mount_point;
      hierarchy.root = mount_root;
      for (auto option : split(super_options, ',')) {
        if (is_v1_controller(option)) hierarchy.controllers.emplace_back(option);
        if (option.substr(0, 5) == "name=") hierarchy.name = std::string(option.substr(5));
      }
      std::sort(hierarchy.controllers.begin(), hierarchy.controllers.end());
      bool seen = std::any_of(layout.v1.begin(), layout.v1.end(), [&](const auto& other) {
        return other.controllers == hierarchy.controllers && other.name == hierarchy.name;
      });
      if (!seen) layout.v1.push_back(std::move(hierarchy));
    }
  }
  bool v1_controllers = std::any_of(layout.v1.begin(), layout.v1.end(),
                                    [](const auto& h) { return !h.controllers.empty(); });
  if (v1_controllers) {
    layout.mode = layout.v2_mount ? CgroupMode::kHybrid : CgroupMode::kV1;
  } else {
    layout.mode = layout.v2_mount ? CgroupMode::kV2 : CgroupMode::kNone;
  }
  return layout;
}

Result<CgroupLayout> detect_cgroup_layout(const fs::path& mountinfo, const fs::path& root) {
  ZLAYER_TRY(text, read_file(mountinfo));
  ZLAYER_TRY(layout, parse_cgroup_layout(text));
  if (layout.v2_mount) {
    ZLAYER_TRY(controllers,
               read_optional(under_root(root, *layout.v2_mount) / "cgroup.controllers"));
    if (controllers) layout.v2_controllers = split_words(*controllers);
  }
  return layout;
}

Result<CgroupStats> read_stats(const CgroupLayout& layout, std::string_view cgroups_path,
                               const fs::path& root) {
  ZLAYER_TRY(relative, relative_cgroup_path(cgroups_path));
  CgroupDirs dirs(layout, relative, root);
  CgroupStats stats;
  auto context = [&](Error error) {
    return unexpected(
        std::move(error).wrap(fmt::format("reading stats of cgroup {}", cgroups_path)));
  };
  // Resolve every source first so a cgroup missing everywhere is reported as such, not as the
  // absence of its first file.
  dirs.source("cpuacct");
  dirs.source("cpu");
  dirs.source("memory");
  dirs.source("pids");
  dirs.source("blkio");
  if (!dirs.any_exists()) return cgroup_not_found(cgroups_path, dirs);
  if (auto status = read_cpu(dirs, stats); !status) return context(status.error());
  if (auto status = read_memory(dirs, stats); !status) return context(status.error());
  if (auto status = read_pids(dirs, stats); !status) return context(status.error());
  if (auto status = read_blkio(dirs, stats); !status) return context(status.error());
  return stats;
}

Result<std::int64_t> read_oom_kill_count(const CgroupLayout& layout, std::string_view cgroups_path,
                                         const fs::path& root) {
  ZLAYER_TRY(relative, relative_cgroup_path(cgroups_path));
  CgroupDirs dirs(layout, relative, root);
  auto memory = dirs.source("memory");
  if (!memory) {
    return errorf(Errc::kUnsupported, "cgroup {}: no memory controller is mounted", cgroups_path);
  }
  if (!dirs.any_exists()) return cgroup_not_found(cgroups_path, dirs);
  fs::path file = memory->dir / (memory->v2 ? "memory.events" : "memory.oom_control");
  std::optional<std::uint64_t> count;
  ZLAYER_TRY(found, read_keyed(file, {{"oom_kill", &count}}));
  if (!found || !count) {
    return errorf(Errc::kUnsupported, "cgroup {}: {} has no oom_kill counter{}", cgroups_path,
                  file.string(), found ? " (kernel older than 4.13?)" : " (memory controller off)");
  }
  return static_cast<std::int64_t>(*count);
}

bool cgroup_exists(const CgroupLayout& layout, std::string_view cgroups_path,
                   const fs::path& root) {
  auto relative = relative_cgroup_path(cgroups_path);
  if (!relative) return false;
  auto dirs = all_dirs(layout, *relative, root);
  return std::any_of(dirs.begin(), dirs.end(), is_cgroup_dir);
}

Status remove_cgroup(const CgroupLayout& layout, std::string_view cgroups_path,
                     const fs::path& root) {
  ZLAYER_TRY(relative, relative_cgroup_path(cgroups_path));
  if (relative.empty()) {
    return errorf(Errc::kInvalidArgument, "cgroup path \"{}\": refusing to remove a root cgroup",
                  cgroups_path);
  }
  Status first_error;
  for (const auto& dir : all_dirs(layout, relative, root)) {
    auto removed = remove_cgroup_dir(dir);
    if (!removed && first_error) first_error = std::move(removed);
  }
  return first_error;
}

}  // namespace zlayer::runtime::linux
