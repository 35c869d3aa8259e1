#include "runtime/linux/bundle.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <set>
#include <utility>

#include "core/fs.h"
#include "runtime/linux/process_spec.h"
#include "runtime/linux/security_defaults.h"
#include "runtime/linux/user_resolve.h"
#include "runtime/runtime.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// runc (and Docker) refuse memory limits below this.
constexpr std::uint64_t kMinMemoryBytes = 6ull << 20;
constexpr std::int64_t kCpuPeriodUs = 100000;  // Docker's CFS period for --cpus
constexpr std::int64_t kMinCpuQuotaUs = 1000;  // the kernel's minimum cfs_quota_us
constexpr std::uint64_t kMinCpuShares = 2;     // cgroup v1 cpu.shares bounds
constexpr std::uint64_t kMaxCpuShares = 262144;

template <class Int>
bool parse_int(std::string_view text, Int& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool is_ip_address(const std::string& text) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool is_loopback(const std::string& address) {
  return address.starts_with("127.") || address == "::1";
}

bool has_space(std::string_view text) {
  return text.find_first_of(" \t\r\n") != std::string_view::npos;
}

// "/a/./b//" → "/a/b". Relative paths, ".." and "/" itself are refused: a mount destination must
// name a real directory below the root, and ".." could only be meant to climb out of it.
Result<std::string> clean_target(std::string_view target, std::string_view field) {
  if (target.empty() || target.front() != '/') {
    return errorf(Errc::kInvalidArgument, "{}: target \"{}\" must be an absolute container path",
                  field, target);
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < target.size()) {
    auto next = target.find('/', pos);
    if (next == std::string_view::npos) next = target.size();
    auto part = target.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return errorf(Errc::kInvalidArgument, "{}: target \"{}\" must not contain \"..\"", field,
                    target);
    }
    out += '/';
    out += part;
  }
  if (out.empty()) {
    return errorf(Errc::kInvalidArgument, "{}: target \"{}\" cannot be the container's root", field,
                  target);
  }
  return out;
}

std::size_t depth(const std::string& path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

// "0-1,3" → checked against the online CPUs.
Status check_cpuset(const std::string& cpuset, unsigned online_cpus) {
  auto bad = [&](std::string_view why) {
    return errorf(Errc::kInvalidArgument,
                  "resources.cpuset: \"{}\" {} (expected a list like \"0-1,3\" of CPUs 0-{})",
                  cpuset, why, online_cpus == 0 ? 0 : online_cpus - 1);
  };
  if (cpuset.empty()) return bad("is empty");
  std::size_t pos = 0;
  while (pos <= cpuset.size()) {
    auto next = cpuset.find(',', pos);
    if (next == std::string::npos) next = cpuset.size();
    auto part = std::string_view(cpuset).substr(pos, next - pos);
    pos = next + 1;
    auto dash = part.find('-');
    unsigned first = 0;
    unsigned last = 0;
    if (dash == std::string_view::npos) {
      if (!parse_int(part, first)) return bad("is malformed");
      last = first;
    } else if (!parse_int(part.substr(0, dash), first) || !parse_int(part.substr(dash + 1), last) ||
               last < first) {
      return bad("is malformed");
    }
    if (last >= online_cpus) return bad(fmt::format("names CPU {}, which is not online", last));
    if (next == cpuset.size()) break;
  }
  return {};
}

json mount_entry(std::string destination, std::string type, std::string source,
                 std::vector<std::string> options) {
  return {{"destination", std::move(destination)},
          {"type", std::move(type)},
          {"source", std::move(source)},
          {"options", std::move(options)}};
}

json bind_entry(const std::string& destination, const std::string& source, bool readonly) {
  std::vector<std::string> options = {"rbind", "rprivate"};
  if (readonly) options.emplace_back("ro");
  return mount_entry(destination, "bind", source, std::move(options));
}

// --- reading and copying inside the rootfs without following links out of it -----------------

Result<UniqueFd> open_in_root(int root_fd, const std::string& relative, std::uint64_t flags) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how));
  if (fd < 0) return sys_error(fmt::format("opening {} in the rootfs", relative), errno);
  return UniqueFd(fd);
}

Status copy_file_data(int in, int out, const std::string& name) {
  while (true) {
    auto copied = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (copied == 0) return {};
    if (copied > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
      return sys_error(fmt::format("copying {}", name), errno);
    }
    break;  // fall back to read/write
  }
  std::array<char, 1 << 16> buffer;
  while (true) {
    auto got = ::read(in, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return sys_error(fmt::format("reading {}", name), errno);
    if (got == 0) return {};
    std::size_t done = 0;
    while (done < static_cast<std::size_t>(got)) {
      auto put = ::write(out, buffer.data() + done, static_cast<std::size_t>(got) - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return sys_error(fmt::format("writing {}", name), errno);
      done += static_cast<std::size_t>(put);
    }
  }
}

// Copies the directory `src` into the existing directory `dst`, entry by entry with *at() calls
// and O_NOFOLLOW: symlinks are copied as links (never followed), devices and FIFOs re-created,
// ownership and modes kept. Hardlinks become separate files; xattrs are not copied.
Status copy_tree(int src, int dst, const std::string& where) {
  int dup_fd = ::fcntl(src, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return sys_error("dup", errno);
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    return sys_error(fmt::format("listing {}", where), errno);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) return sys_error(fmt::format("listing {}", where), errno);
      return {};
    }
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string path = where + "/" + name;
    struct stat st {};
    if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error(fmt::format("stat {}", path), errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst, name.c_str(), 0700) != 0)
        return sys_error(fmt::format("mkdir {}", path), errno);
      int in = ::openat(src, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (in < 0) return sys_error(fmt::format("opening {}", path), errno);
      UniqueFd in_fd(in);
      int out = ::openat(dst, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (out < 0) return sys_error(fmt::format("opening copy of {}", path), errno);
      UniqueFd out_fd(out);
      ZLAYER_CHECK(copy_tree(in_fd.get(), out_fd.get(), path));
      if (::fchown(out_fd.get(), st.st_uid, st.st_gid) != 0 ||
          ::fchmod(out_fd.get(), st.st_mode & 07777) != 0) {
        return sys_error(fmt::format("setting owner and mode of the copy of {}", path), errno);
      }
    } else if (S_ISREG(st.st_mode)) {
      int in = ::openat(src, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (in < 0) return sys_error(fmt::format("opening {}", path), errno);
      UniqueFd in_fd(in);
      int out =
          ::openat(dst, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (out < 0) return sys_error(fmt::format("creating copy of {}", path), errno);
      UniqueFd out_fd(out);
      ZLAYER_CHECK(copy_file_data(in_fd.get(), out_fd.get(), path));
      // chown first: it clears setuid bits, which the chmod then restores.
      if (::fchown(out_fd.get(), st.st_uid, st.st_gid) != 0 ||
          ::fchmod(out_fd.get(), st.st_mode & 07777) != 0) {
        return sys_error(fmt::format("setting owner and mode of the copy of {}", path), errno);
      }
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      auto length = ::readlinkat(src, name.c_str(), target.data(), target.size());
      if (length < 0) return sys_error(fmt::format("readlink {}", path), errno);
      target.resize(static_cast<std::size_t>(length));
      if (::symlinkat(target.c_str(), dst, name.c_str()) != 0 ||
          ::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return sys_error(fmt::format("copying symlink {}", path), errno);
      }
    } else {
      if (::mknodat(dst, name.c_str(), st.st_mode, st.st_rdev) != 0 ||
          ::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return sys_error(fmt::format("copying special file {}", path), errno);
      }
    }
  }
}

// Docker's volume copy-up: a new volume starts with what the image has at the target. The
// image path is opened inside the rootfs (RESOLVE_IN_ROOT), so a link cannot pull host files in.
// Nothing to copy when the image has no directory there.
Status copy_up(int root_fd, const std::string& target, const fs::path& volume) {
  auto relative = target.substr(1);
  auto source = open_in_root(root_fd, relative, O_RDONLY | O_DIRECTORY);
  if (!source) {
    int err = source.error().sys_errno;
    if (err == ENOENT || err == ENOTDIR) return {};
    return unexpected(std::move(source).error());
  }
  int out = ::open(volume.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out < 0) return sys_error(fmt::format("opening volume {}", volume.string()), errno);
  UniqueFd out_fd(out);
  ZLAYER_CHECK(copy_tree(source->get(), out_fd.get(), target));
  struct stat st {};
  if (::fstat(source->get(), &st) != 0 || ::fchown(out_fd.get(), st.st_uid, st.st_gid) != 0 ||
      ::fchmod(out_fd.get(), st.st_mode & 07777) != 0) {
    return sys_error(fmt::format("setting owner and mode of volume {}", volume.string()), errno);
  }
  return {};
}

// --- the bundle being built ----------------------------------------------------------------------

// Removes what a failed build created, unless disarmed.
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    if (!armed_) return;
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) (void)remove_tree(*it);
  }
  void add(fs::path path) { paths_.push_back(std::move(path)); }
  void disarm() { armed_ = false; }

 private:
  std::vector<fs::path> paths_;
  bool armed_ = true;
};

struct PlannedVolume {
  std::string target;
  fs::path dir;
  bool readonly = false;
  bool named = false;
  std::string field;
};

struct Etc {
  std::string hosts;
  std::string hostname;
  std::string resolv_conf;
};

Result<ProcessOverrides> process_overrides(const ContainerConfig& config,
                                           const std::string& hostname, bool set_hostname_env) {
  ProcessOverrides overrides;
  overrides.entrypoint = config.entrypoint;
  overrides.args = config.args;
  overrides.working_dir = config.working_dir;
  overrides.user = config.user;
  overrides.tty = config.tty;
  if (set_hostname_env) overrides.hostname = hostname;
  for (std::size_t i = 0; i < config.env.size(); ++i) {
    const auto& entry = config.env[i];
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return errorf(Errc::kInvalidArgument, "env[{}]: \"{}\" is not KEY=VALUE", i, entry);
    }
    overrides.env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return overrides;
}

Status check_hostname(const std::string& hostname) {
  bool ok = !hostname.empty() && hostname.size() <= 64 && hostname.front() != '-' &&
            hostname.front() != '.' && std::all_of(hostname.begin(), hostname.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
            });
  if (!ok) {
    return errorf(Errc::kInvalidArgument,
                  "hostname: \"{}\" is not a valid host name (expected letters, digits, '-' and "
                  "'.', at most 64 characters)",
                  hostname);
  }
  return {};
}

Result<json> resources_json(const ResourceLimits& limits, unsigned online_cpus, bool privileged) {
  json resources = {{"devices", default_device_rules(privileged)}};
  if (limits.memory_bytes) {
    if (*limits.memory_bytes < kMinMemoryBytes) {
      return errorf(Errc::kInvalidArgument,
                    "resources.memory: {} bytes is below the minimum of 6 MiB ({} bytes) that "
                    "the OCI runtime accepts",
                    *limits.memory_bytes, kMinMemoryBytes);
    }
    resources["memory"]["limit"] = *limits.memory_bytes;
  }
  if (limits.memory_swap_bytes) {
    if (!limits.memory_bytes) {
      return errorf(Errc::kInvalidArgument,
                    "resources.memory_swap: needs resources.memory (swap limits memory plus swap)");
    }
    auto swap = *limits.memory_swap_bytes;
    if (swap != -1 && (swap < 0 || static_cast<std::uint64_t>(swap) < *limits.memory_bytes)) {
      return errorf(Errc::kInvalidArgument,
                    "resources.memory_swap: {} bytes must be -1 (unlimited) or at least "
                    "resources.memory ({} bytes): it limits memory plus swap",
                    swap, *limits.memory_bytes);
    }
    resources["memory"]["swap"] = swap;
  }
  if (limits.cpus) {
    double cpus = *limits.cpus;
    auto quota = std::isfinite(cpus) ? std::llround(cpus * static_cast<double>(kCpuPeriodUs)) : 0;
    if (!(cpus > 0) || quota < kMinCpuQuotaUs) {
      return errorf(Errc::kInvalidArgument,
                    "resources.cpu: {} must be at least 0.01 (a share of CPU cores)", cpus);
    }
    if (cpus > static_cast<double>(online_cpus)) {
      return errorf(Errc::kInvalidArgument,
                    "resources.cpu: {} is more than the {} CPUs online on this host", cpus,
                    online_cpus);
    }
    resources["cpu"]["quota"] = quota;
    resources["cpu"]["period"] = kCpuPeriodUs;
  }
  if (limits.cpu_shares) {
    if (*limits.cpu_shares < kMinCpuShares || *limits.cpu_shares > kMaxCpuShares) {
      return errorf(Errc::kInvalidArgument, "resources.cpu_shares: {} is outside {}..{}",
                    *limits.cpu_shares, kMinCpuShares, kMaxCpuShares);
    }
    resources["cpu"]["shares"] = *limits.cpu_shares;
  }
  if (limits.cpuset_cpus) {
    ZLAYER_CHECK(check_cpuset(*limits.cpuset_cpus, online_cpus));
    resources["cpu"]["cpus"] = *limits.cpuset_cpus;
  }
  if (limits.pids_limit && *limits.pids_limit > 0) {
    resources["pids"]["limit"] = *limits.pids_limit;
  }
  return resources;
}

// linux.devices entries and their cgroup rules for the spec's `devices`.
Status add_devices(const std::vector<DeviceMapping>& devices, json& linux_section) {
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const auto& device = devices[i];
    auto field = fmt::format("devices[{}]", i);
    ZLAYER_TRY(path, clean_target(device.path, field + ".path"));
    struct stat st {};
    if (::stat(device.path.c_str(), &st) != 0) {
      return errorf(Errc::kInvalidArgument, "{}.path: host device {} does not exist ({})", field,
                    device.path, std::strerror(errno));
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
      return errorf(Errc::kInvalidArgument,
                    "{}.path: {} is not a character or block device on the host", field,
                    device.path);
    }
    std::string access;
    if (device.read) access += 'r';
    if (device.write) access += 'w';
    if (device.mknod) access += 'm';
    if (access.empty()) {
      return errorf(Errc::kInvalidArgument, "{}: at least one of read, write, mknod must be true",
                    field);
    }
    std::string type = S_ISCHR(st.st_mode) ? "c" : "b";
    auto major = static_cast<std::int64_t>(major(st.st_rdev));
    auto minor = static_cast<std::int64_t>(minor(st.st_rdev));
    linux_section["devices"].push_back({{"path", path},
                                        {"type", type},
                                        {"major", major},
                                        {"minor", minor},
                                        {"fileMode", st.st_mode & 0777},
                                        {"uid", 0},
                                        {"gid", 0}});
    linux_section["resources"]["devices"].push_back(
        {{"allow", true}, {"type", type}, {"major", major}, {"minor", minor}, {"access", access}});
  }
  return {};
}

// Replaces a /dev, /proc or /sys that the image ships as a symlink or file by an empty
// directory: the OCI runtime would otherwise mount through the link (runc resolves it inside
// the rootfs, but "dev -> ../.." then puts the /dev tmpfs over the whole root).
Status fix_mountpoints(int root_fd, std::vector<std::string>& warnings) {
  for (const char* name : {"dev", "proc", "sys"}) {
    struct stat st {};
    if (::fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return sys_error(fmt::format("stat /{} in the rootfs", name), errno);
    }
    if (S_ISDIR(st.st_mode)) continue;
    if (::unlinkat(root_fd, name, 0) != 0 || ::mkdirat(root_fd, name, 0755) != 0) {
      return sys_error(fmt::format("replacing /{} in the rootfs by a directory", name), errno);
    }
    warnings.push_back(fmt::format(
        "the image's /{} is not a directory ({}); replaced by an empty directory in the "
        "container's rootfs",
        name, S_ISLNK(st.st_mode) ? "a symlink" : "a file"));
  }
  return {};
}

Result<int> open_rootfs(const fs::path& rootfs) {
  int fd = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error(fmt::format("opening rootfs {}", rootfs.string()), errno);
  return fd;
}

// Creates `dir` (its parent must exist); true when it was created, false when it existed.
Result<bool> create_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return true;
  if (errno != EEXIST) return sys_error(fmt::format("creating {}", dir.string()), errno);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return errorf(Errc::kInvalidArgument, "{} exists and is not a directory", dir.string());
  }
  return false;
}

bool valid_volume_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || !std::isalnum(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

Result<std::string> render_hosts(const std::vector<std::string>& extra_hosts,
                                 std::string_view hostname, std::string_view address) {
  std::string out =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n"
      "fe00::0\tip6-localnet\n"
      "ff00::0\tip6-mcastprefix\n"
      "ff02::1\tip6-allnodes\n"
      "ff02::2\tip6-allrouters\n";
  for (std::size_t i = 0; i < extra_hosts.size(); ++i) {
    const auto& entry = extra_hosts[i];
    auto colon = entry.find(':');
    std::string host = colon == std::string::npos ? "" : entry.substr(0, colon);
    std::string ip = colon == std::string::npos ? "" : entry.substr(colon + 1);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    if (host.empty() || has_space(host) || !is_ip_address(ip)) {
      return errorf(Errc::kInvalidArgument,
                    "extra_hosts[{}]: \"{}\" is not \"host:ip\" with an IPv4 or IPv6 address", i,
                    entry);
    }
    out += fmt::format("{}\t{}\n", ip, host);
  }
  if (!hostname.empty()) {
    out += fmt::format("{}\t{}\n", address.empty() ? "127.0.1.1" : address, hostname);
  }
  return out;
}

Result<std::string> render_resolv_conf(const DnsConfig& dns, std::string_view host_resolv_conf,
                                       bool host_network, std::vector<std::string>& warnings) {
  for (std::size_t i = 0; i < dns.servers.size(); ++i) {
    if (!is_ip_address(dns.servers[i])) {
      return errorf(Errc::kInvalidArgument, "dns[{}]: \"{}\" is not an IPv4 or IPv6 address", i,
                    dns.servers[i]);
    }
  }
  for (std::size_t i = 0; i < dns.search.size(); ++i) {
    if (dns.search[i].empty() || has_space(dns.search[i])) {
      return errorf(Errc::kInvalidArgument, "dns search[{}]: \"{}\" is not a domain name", i,
                    dns.search[i]);
    }
  }
  for (std::size_t i = 0; i < dns.options.size(); ++i) {
    if (dns.options[i].empty() || has_space(dns.options[i])) {
      return errorf(Errc::kInvalidArgument,
                    "dns options[{}]: \"{}\" is not a resolv.conf option (e.g. ndots:2)", i,
                    dns.options[i]);
    }
  }
  // The host file split into what Docker treats separately; other lines (comments, sortlist,
  // domain) are kept as they are.
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
  std::vector<std::string> options;
  std::vector<std::string> other;
  std::size_t pos = 0;
  while (pos < host_resolv_conf.size()) {
    auto end = host_resolv_conf.find('\n', pos);
    if (end == std::string_view::npos) end = host_resolv_conf.size();
    std::string line(host_resolv_conf.substr(pos, end - pos));
    pos = end + 1;
    std::vector<std::string> words;
    std::size_t w = 0;
    while (w < line.size()) {
      auto start = line.find_first_not_of(" \t\r", w);
      if (start == std::string::npos) break;
      auto stop = line.find_first_of(" \t\r", start);
      if (stop == std::string::npos) stop = line.size();
      words.push_back(line.substr(start, stop - start));
      w = stop;
    }
    if (words.empty()) continue;
    if (words[0] == "nameserver" && words.size() >= 2) {
      if (host_network || !is_loopback(words[1])) nameservers.push_back(words[1]);
    } else if (words[0] == "search") {
      search.assign(words.begin() + 1, words.end());
    } else if (words[0] == "options") {
      options.insert(options.end(), words.begin() + 1, words.end());
    } else {
      other.push_back(line);
    }
  }
  if (!dns.servers.empty()) {
    nameservers = dns.servers;
  } else if (nameservers.empty()) {
    nameservers = {"8.8.8.8", "8.8.4.4"};
    warnings.emplace_back(
        "the host's resolv.conf has no nameserver usable from the container (only loopback "
        "ones); using 8.8.8.8 and 8.8.4.4 as Docker does");
  }
  if (!dns.search.empty()) search = dns.search;
  if (!dns.options.empty()) options = dns.options;
  std::string out;
  for (const auto& line : other) out += line + "\n";
  for (const auto& server : nameservers) out += "nameserver " + server + "\n";
  if (!search.empty()) {
    out += "search";
    for (const auto& domain : search) out += " " + domain;
    out += "\n";
  }
  if (!options.empty()) {
    out += "options";
    for (const auto& option : options) out += " " + option;
    out += "\n";
  }
  return out;
}

Result<BundleContext> BundleContext::for_host(std::string container_id, fs::path container_dir,
                                              fs::path rootfs, Paths paths,
                                              std::string cgroups_path) {
  BundleContext context;
  context.container_id = std::move(container_id);
  context.container_dir = std::move(container_dir);
  context.rootfs = std::move(rootfs);
  context.paths = std::move(paths);
  context.cgroups_path = std::move(cgroups_path);
  ZLAYER_TRY(last_cap, kernel_last_capability());
  context.last_capability = last_cap;
  ZLAYER_TRY(ceilings, agent_rlimit_ceilings());
  context.rlimit_ceilings = std::move(ceilings);
  ZLAYER_TRY(kernel, running_kernel());
  context.kernel = kernel;
  struct statfs cgroup_fs {};
  context.cgroup_namespace = ::statfs("/sys/fs/cgroup", &cgroup_fs) == 0 &&
                             cgroup_fs.f_type == CGROUP2_SUPER_MAGIC &&
                             fs::exists("/proc/self/ns/cgroup");
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  context.online_cpus = cpus > 0 ? static_cast<unsigned>(cpus) : 1;
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return sys_error("gethostname", errno);
  context.host_hostname = name.data();
  return context;
}

Result<BundlePlan> build_bundle(const ContainerConfig& config, const BundleContext& context) {
  BundlePlan plan;
  plan.config_path = context.container_dir / "config.json";
  const bool privileged = config.capabilities.privileged;
  const bool host_network = config.network.mode == NetworkMode::kHost;

  // 1. Everything that can be checked without changing anything on disk.
  plan.hostname =
      config.hostname.value_or(host_network ? context.host_hostname : context.container_id);
  ZLAYER_CHECK(check_hostname(plan.hostname));

  std::string signal_text = "SIGTERM";
  std::string signal_field = "stop_signal";
  if (config.stop_signal && !config.stop_signal->empty()) {
    signal_text = *config.stop_signal;
  } else if (!config.image.stop_signal.empty()) {
    signal_text = config.image.stop_signal;
    signal_field = fmt::format("image {} StopSignal", config.image_ref);
  }
  auto signal = runtime::parse_signal(signal_text);
  if (!signal) return unexpected(signal.error().wrap(signal_field));
  plan.stop_signal = runtime::signal_name(*signal);
  plan.stop_signal_number = *signal;

  ZLAYER_TRY(overrides, process_overrides(config, plan.hostname, true));
  ZLAYER_TRY(process, merge_process(config.image, config.image_ref, overrides));
  auto user = resolve_user(context.rootfs, process.user);
  if (!user) {
    return unexpected(user.error().wrap(fmt::format(
        "user \"{}\" ({} of image {})", process.user,
        config.user && !config.user->empty() ? "spec field user" : "USER", config.image_ref)));
  }

  auto caps = effective_capabilities(
      {config.capabilities.cap_add, config.capabilities.cap_drop, privileged},
      context.last_capability);
  if (!caps) return unexpected(caps.error().wrap("capabilities"));

  std::map<std::string, Ulimit> ulimits;
  for (const auto& [name, value] : config.ulimits) ulimits[name] = Ulimit{value.soft, value.hard};
  auto rlimits = build_rlimits(ulimits, context.rlimit_ceilings);
  if (!rlimits) return unexpected(rlimits.error().wrap("ulimits"));
  plan.warnings.insert(plan.warnings.end(), rlimits->warnings.begin(), rlimits->warnings.end());

  std::optional<json> seccomp;
  {
    SeccompTarget target;
    target.architecture = config.image.platform.architecture.empty()
                              ? image::Platform::host().architecture
                              : config.image.platform.architecture;
    target.capabilities = *caps;
    target.kernel = context.kernel;
    ZLAYER_TRY(loaded, load_seccomp(privileged ? SeccompMode::kUnconfined : SeccompMode::kProfile,
                                    target, context.seccomp_profile));
    seccomp = std::move(loaded);
  }

  ZLAYER_TRY(resources, resources_json(config.resources, context.online_cpus, privileged));
  json linux_section = {{"resources", std::move(resources)}, {"devices", json::array()}};
  ZLAYER_CHECK(add_devices(config.devices, linux_section));

  // Storage: bind mounts are checked here, volumes are planned and created in step 2.
  std::vector<json> user_mounts;  // (destination-sorted later)
  std::vector<PlannedVolume> volumes;
  std::set<std::string> targets;
  auto claim = [&](std::string_view raw, const std::string& field) -> Result<std::string> {
    ZLAYER_TRY(target, clean_target(raw, field));
    if (!targets.insert(target).second) {
      return errorf(Errc::kInvalidArgument,
                    "{}: target {} is already used by another storage entry", field, target);
    }
    return target;
  };
  std::size_t anonymous_count = 0;
  auto anonymous_dir = [&] {
    return context.container_dir / "volumes" / fmt::format("anon-{}", anonymous_count++);
  };
  for (std::size_t i = 0; i < config.storage.size(); ++i) {
    auto field = fmt::format("storage[{}]", i);
    const auto& entry = config.storage[i];
    if (const auto* bind = std::get_if<BindMount>(&entry)) {
      ZLAYER_TRY(target, claim(bind->target, field + ".target"));
      if (bind->source.empty() || bind->source.front() != '/') {
        return errorf(Errc::kInvalidArgument, "{}.source: \"{}\" must be an absolute host path",
                      field, bind->source);
      }
      std::error_code ec;
      if (!fs::exists(bind->source, ec)) {
        return errorf(Errc::kInvalidArgument,
                      "{}.source: host path {} does not exist (a bind mount needs an existing "
                      "file or directory)",
                      field, bind->source);
      }
      user_mounts.push_back(bind_entry(target, bind->source, bind->readonly));
    } else if (const auto* named = std::get_if<NamedVolume>(&entry)) {
      ZLAYER_TRY(target, claim(named->target, field + ".target"));
      if (!valid_volume_name(named->name)) {
        return errorf(Errc::kInvalidArgument,
                      "{}.name: \"{}\" is not a volume name (expected [A-Za-z0-9][A-Za-z0-9_.-]*)",
                      field, named->name);
      }
      volumes.push_back(
          {target, context.paths.volumes_dir() / named->name, named->readonly, true, field});
    } else if (const auto* anonymous = std::get_if<AnonymousVolume>(&entry)) {
      ZLAYER_TRY(target, claim(anonymous->target, field + ".target"));
      volumes.push_back({target, anonymous_dir(), false, false, field});
    } else if (const auto* tmpfs = std::get_if<TmpfsMount>(&entry)) {
      ZLAYER_TRY(target, claim(tmpfs->target, field + ".target"));
      std::vector<std::string> options = {"nosuid", "nodev"};
      if (tmpfs->size_bytes) {
        if (*tmpfs->size_bytes == 0) {
          return errorf(Errc::kInvalidArgument, "{}.size: must be more than 0 bytes", field);
        }
        options.push_back(fmt::format("size={}", *tmpfs->size_bytes));
      }
      if (tmpfs->mode) {
        if (*tmpfs->mode > 07777) {
          return errorf(Errc::kInvalidArgument, "{}.mode: {:o} is not a permission mode", field,
                        *tmpfs->mode);
        }
        options.push_back(fmt::format("mode={:o}", *tmpfs->mode));
      }
      user_mounts.push_back(mount_entry(target, "tmpfs", "tmpfs", std::move(options)));
    }
  }
  // The image's VOLUMEs not covered by a storage entry become anonymous volumes (Docker).
  for (const auto& raw : config.image.volumes) {
    auto target = clean_target(raw, fmt::format("image {} Volumes", config.image_ref));
    if (!target) return unexpected(target.error());
    if (targets.insert(*target).second) {
      volumes.push_back({*target, anonymous_dir(), false, false, "image volume"});
    }
  }

  // Networking and the etc files.
  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  switch (config.network.mode) {
    case NetworkMode::kNone:
      namespaces.push_back({{"type", "network"}});
      break;
    case NetworkMode::kBridge:
      if (config.network.netns_path.empty() || !fs::exists(config.network.netns_path)) {
        return errorf(Errc::kInvalidArgument,
                      "network_mode: bridge networking needs an existing network namespace "
                      "path, got \"{}\"",
                      config.network.netns_path);
      }
      namespaces.push_back({{"type", "network"}, {"path", config.network.netns_path}});
      break;
    case NetworkMode::kHost:
      break;
  }
  if (context.cgroup_namespace) namespaces.push_back({{"type", "cgroup"}});

  Etc etc;
  etc.hostname = plan.hostname + "\n";
  auto host_resolv = read_file(context.host_resolv_conf);
  if (!host_resolv && host_resolv.error().code != Errc::kNotFound) {
    return unexpected(host_resolv.error().wrap("reading the host's resolv.conf"));
  }
  ZLAYER_TRY(resolv, render_resolv_conf(config.dns, host_resolv ? *host_resolv : "", host_network,
                                        plan.warnings));
  etc.resolv_conf = std::move(resolv);
  if (host_network) {
    auto host_hosts = read_file(context.host_hosts);
    ZLAYER_TRY(extra, render_hosts(config.extra_hosts, "", ""));
    // Only the extra_hosts lines of `extra` (after the fixed localhost block) are appended.
    auto localhost_block = render_hosts({}, "", "");
    std::string base = host_hosts ? *host_hosts : *localhost_block;
    if (!base.empty() && base.back() != '\n') base += '\n';
    etc.hosts = base + extra.substr(localhost_block->size());
  } else {
    ZLAYER_TRY(hosts, render_hosts(config.extra_hosts, plan.hostname, config.network.address));
    etc.hosts = std::move(hosts);
  }

  // 2. Changes on disk; undone on failure.
  Rollback rollback;
  ZLAYER_TRY(root_raw, open_rootfs(context.rootfs));
  UniqueFd root_fd(root_raw);
  ZLAYER_CHECK(fix_mountpoints(root_fd.get(), plan.warnings));

  if (!volumes.empty()) {
    bool has_named =
        std::any_of(volumes.begin(), volumes.end(), [](const auto& v) { return v.named; });
    bool has_anonymous =
        std::any_of(volumes.begin(), volumes.end(), [](const auto& v) { return !v.named; });
    if (has_named) ZLAYER_CHECK(make_dirs(context.paths.volumes_dir()));
    if (has_anonymous) {
      auto parent = context.container_dir / "volumes";
      ZLAYER_TRY(created, create_dir(parent));
      if (created) rollback.add(parent);
    }
  }
  for (const auto& volume : volumes) {
    auto created = create_dir(volume.dir);
    if (!created) return unexpected(created.error().wrap(volume.field));
    if (*created) {
      rollback.add(volume.dir);
      plan.created_dirs.push_back(volume.dir);
      auto copied = copy_up(root_fd.get(), volume.target, volume.dir);
      if (!copied) {
        return unexpected(copied.error().wrap(
            fmt::format("{}: copying the image's content at {} into the new volume", volume.field,
                        volume.target)));
      }
    }
    user_mounts.push_back(bind_entry(volume.target, volume.dir.string(), volume.readonly));
  }

  struct EtcFile {
    std::string target;
    std::string name;
    const std::string* content;
  };
  std::vector<json> etc_mounts;
  for (const auto& file : {EtcFile{"/etc/hosts", "hosts", &etc.hosts},
                           EtcFile{"/etc/hostname", "hostname", &etc.hostname},
                           EtcFile{"/etc/resolv.conf", "resolv.conf", &etc.resolv_conf}}) {
    if (targets.contains(file.target)) continue;  // the spec mounts its own
    auto path = context.container_dir / file.name;
    rollback.add(path);
    ZLAYER_CHECK(atomic_write_file(path, *file.content, 0644, Durability::kUntilReboot));
    etc_mounts.push_back(bind_entry(file.target, path.string(), config.read_only_root_fs));
  }

  // 3. config.json.
  json mounts = json::array();
  for (auto& mount : default_mounts({.privileged = privileged})) {
    if (!targets.contains(mount["destination"].get<std::string>())) mounts.push_back(mount);
  }
  for (auto& mount : etc_mounts) mounts.push_back(std::move(mount));
  // Parents before children, as Docker sorts them, so /data/sub is not hidden by /data.
  std::stable_sort(user_mounts.begin(), user_mounts.end(), [](const json& a, const json& b) {
    return depth(a["destination"].get<std::string>()) < depth(b["destination"].get<std::string>());
  });
  for (auto& mount : user_mounts) mounts.push_back(std::move(mount));

  linux_section["namespaces"] = std::move(namespaces);
  if (!context.cgroups_path.empty()) linux_section["cgroupsPath"] = context.cgroups_path;
  linux_section["maskedPaths"] = masked_paths(privileged);
  linux_section["readonlyPaths"] = readonly_paths(privileged);
  if (seccomp) linux_section["seccomp"] = std::move(*seccomp);

  json annotations = json::object();
  for (const auto& [key, value] : config.labels) annotations[key] = value;
  for (const auto& [key, value] : config.annotations) annotations[key] = value;
  annotations[std::string(kStopSignalAnnotation)] = plan.stop_signal;
  annotations[std::string(kImageAnnotation)] = config.image_ref;
  annotations[std::string(kContainerIdAnnotation)] = context.container_id;

  plan.config = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", context.rootfs.string()}, {"readonly", config.read_only_root_fs}}},
      {"hostname", plan.hostname},
      {"process",
       oci_process(process, *user, *caps, rlimits->rlimits, default_no_new_privileges(privileged))},
      {"mounts", std::move(mounts)},
      {"linux", std::move(linux_section)},
      {"annotations", std::move(annotations)},
  };
  rollback.add(plan.config_path);
  ZLAYER_CHECK(atomic_write_file(plan.config_path, plan.config.dump(2), 0600,
                                 Durability::kUntilReboot));
  rollback.disarm();
  return plan;
}

}  // namespace zlayer::runtime::linux
