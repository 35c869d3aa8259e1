#include "image/rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/fs.h"
#include "image/tree_at.h"

namespace zlayer::image {
namespace {

constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

struct Layout {
  std::filesystem::path upper, work, rootfs;
};

Layout layout_of(const std::filesystem::path& container_dir) {
  return {container_dir / "upper", container_dir / "work", container_dir / "rootfs"};
}

// A mount point has a different device than its parent directory (overlayfs gets its own).
bool is_mount_point(const std::filesystem::path& dir) {
  struct stat st {
  }, parent{};
  if (::lstat(dir.c_str(), &st) != 0) return false;
  if (::lstat(dir.parent_path().c_str(), &parent) != 0) return false;
  return st.st_dev != parent.st_dev;
}

// Overlayfs reports the reason of a failed fsconfig/fsmount as text lines on the context fd.
std::string fs_context_log(int fsfd) {
  std::string out;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fsfd, buf, sizeof buf);
    if (n <= 0) break;
    if (!out.empty()) out += "; ";
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

enum class Outcome { kMounted, kUnavailable, kNewApiUnsupported };

// fsopen/fsconfig/fsmount/move_mount. kUnavailable: no overlayfs; kNewApiUnsupported: the
// kernel lacks "lowerdir+" (< 6.8), try mount(2).
Result<Outcome> mount_new_api(const std::vector<std::filesystem::path>& layers,
                              const Layout& layout, std::string* why) {
  UniqueFd fsfd(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fsfd.valid()) {
    if (errno == ENODEV) {
      *why = "overlayfs is not available (fsopen: ENODEV)";
      return Outcome::kUnavailable;
    }
    if (errno == ENOSYS) return Outcome::kNewApiUnsupported;
    return sys_error("fsopen(\"overlay\")", errno);
  }
  auto set = [&](const char* key, const std::string& value) -> Status {
    if (::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0) {
      int err = errno;
      return sys_error(
          fmt::format("overlay option {}={}: {}", key, value, fs_context_log(fsfd.get())), err);
    }
    return {};
  };
  // Top layer first, as in a lowerdir= string.
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    auto ok = set("lowerdir+", it->string());
    if (!ok) {
      if (ok.error().sys_errno == EINVAL && it == layers.rbegin()) {
        return Outcome::kNewApiUnsupported;
      }
      return unexpected(ok.error());
    }
  }
  ZLAYER_CHECK(set("upperdir", layout.upper.string()));
  ZLAYER_CHECK(set("workdir", layout.work.string()));
  // "volatile" (Linux ≥ 5.10): no syncs of the upper filesystem. Unmounting a container's rootfs
  // otherwise syncs the whole filesystem under $ZLAYER_ROOT_DIR (tens of ms when it is busy).
  // The upper layer is thrown away with the container and a container does not survive a reboot
  // (after a crash overlayfs refuses to remount it, which nothing does). Kernels without it
  // refuse the flag; the mount then goes on without it.
  (void)::fsconfig(fsfd.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0);
  if (::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    auto log = fs_context_log(fsfd.get());
    if (err == EINVAL) {
      *why = fmt::format("overlayfs refused the layers: {}", log);
      return Outcome::kUnavailable;
    }
    return sys_error(fmt::format("creating the overlay: {}", log), err);
  }
  UniqueFd mfd(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, 0));
  if (!mfd.valid()) {
    return sys_error(fmt::format("fsmount overlay: {}", fs_context_log(fsfd.get())), errno);
  }
  if (::move_mount(mfd.get(), "", AT_FDCWD, layout.rootfs.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return sys_error(fmt::format("mounting the overlay at {}", layout.rootfs.string()), errno);
  }
  return Outcome::kMounted;
}

// Backslash-escapes the separators of overlayfs's option syntax.
std::string escape_option(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ',' || c == ':' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::filesystem::path common_parent(const std::vector<std::filesystem::path>& dirs) {
  std::filesystem::path common = dirs.front().parent_path();
  for (const auto& dir : dirs) {
    while (!common.empty() && common != common.root_path()) {
      auto rel = dir.lexically_relative(common);
      if (!rel.empty() && *rel.begin() != "..") break;
      common = common.parent_path();
    }
  }
  return common;
}

std::string legacy_options(const std::vector<std::filesystem::path>& layers, const Layout& layout,
                           const std::filesystem::path& base) {
  std::string lower;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    if (!lower.empty()) lower.push_back(':');
    lower += escape_option(base.empty() ? it->string() : it->lexically_relative(base).string());
  }
  return fmt::format("lowerdir={},upperdir={},workdir={}", lower,
                     escape_option(layout.upper.string()), escape_option(layout.work.string()));
}

// mount(2) with an option string; a child process mounts relative to the layers' common parent
// when the absolute string would not fit in a page.
Result<Outcome> mount_legacy(const std::vector<std::filesystem::path>& layers, const Layout& layout,
                             std::string* why) {
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::string options = legacy_options(layers, layout, {});
  int err = 0;
  if (options.size() < page) {
    if (::mount("overlay", layout.rootfs.c_str(), "overlay", 0, options.c_str()) != 0) err = errno;
  } else {
    auto base = common_parent(layers);
    options = legacy_options(layers, layout, base);
    if (options.size() >= page) {
      return errorf(Errc::kInvalidArgument,
                    "{} layers do not fit in one overlay option string even relative to {} ({} "
                    "bytes, the limit is {})",
                    layers.size(), base.string(), options.size(), page - 1);
    }
    // Prepared before fork: the child only makes async-signal-safe system calls.
    std::string base_str = base.string();
    std::string target = layout.rootfs.string();
    pid_t pid = ::fork();
    if (pid < 0) return sys_error("fork for the overlay mount", errno);
    if (pid == 0) {
      if (::chdir(base_str.c_str()) != 0) ::_exit(errno);
      if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) != 0) ::_exit(errno);
      ::_exit(0);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return sys_error("waiting for the overlay mount child", errno);
    }
    err = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  }
  if (err == 0) return Outcome::kMounted;
  if (err == ENODEV || err == EINVAL) {
    *why = fmt::format("mount -t overlay: {}", std::strerror(err));
    return Outcome::kUnavailable;
  }
  return sys_error(fmt::format("mount -t overlay at {} ({})", layout.rootfs.string(), options),
                   err);
}

// Flattens snapshots bottom-up into one directory, applying overlay-form whiteouts the way
// overlayfs would show them.
class Flattener {
 public:
  explicit Flattener(UniqueFd dest_root) : dest_root_(std::move(dest_root)) {}

  Status add_layer(const std::filesystem::path& layer) {
    UniqueFd src(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src.valid()) return sys_error(fmt::format("opening layer {}", layer.string()), errno);
    layer_ = layer.string();
    links_.clear();
    if (is_opaque(src.get())) ZLAYER_CHECK(clear(dest_root_.get(), ""));
    UniqueFd dest(::dup(dest_root_.get()));
    return copy_dir(src.get(), dest.get(), "");
  }

  Status finish() {
    for (const auto& [path, times] : dir_times_) {
      UniqueFd fd(path.empty() ? ::dup(dest_root_.get())
                               : detail::open_beneath(dest_root_.get(), path,
                                                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!fd.valid()) continue;  // deleted by a higher layer
      if (::futimens(fd.get(), times.data()) != 0) {
        return sys_error(fmt::format("setting times of {}", path), errno);
      }
    }
    return {};
  }

 private:
  static bool is_opaque(int fd) {
    char value[2] = {};
    ssize_t n = ::fgetxattr(fd, kOpaqueXattr, value, sizeof value);
    return n == 1 && value[0] == 'y';
  }

  Status clear(int dirfd, const std::string& where) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error(fmt::format("opening {}", where), errno);
    if (int err = detail::remove_contents(fd); err != 0) {
      return sys_error(fmt::format("clearing opaque directory {}", where), err);
    }
    return {};
  }

  // Copies xattrs except overlayfs's own. `path` is a /proc/self/fd/N/name path for symlinks
  // and nodes (l*xattr), empty when the fds are real files/directories (f*xattr).
  Status copy_xattrs(int src_fd, int dest_fd, const std::string& src_path,
                     const std::string& dest_path, const std::string& where) {
    std::vector<char> names(4096);
    ssize_t n = src_path.empty() ? ::flistxattr(src_fd, names.data(), names.size())
                                 : ::llistxattr(src_path.c_str(), names.data(), names.size());
    if (n < 0 && errno == ERANGE) {
      names.resize(65536);
      n = src_path.empty() ? ::flistxattr(src_fd, names.data(), names.size())
                           : ::llistxattr(src_path.c_str(), names.data(), names.size());
    }
    if (n < 0) {
      if (errno == ENOTSUP) return {};
      return sys_error(fmt::format("listing xattrs of {}", where), errno);
    }
    std::vector<char> value(65536);
    for (ssize_t i = 0; i < n;) {
      std::string name(&names[static_cast<size_t>(i)]);
      i += static_cast<ssize_t>(name.size()) + 1;
      if (name.starts_with("trusted.overlay.")) continue;
      ssize_t size = src_path.empty()
                         ? ::fgetxattr(src_fd, name.c_str(), value.data(), value.size())
                         : ::lgetxattr(src_path.c_str(), name.c_str(), value.data(), value.size());
      if (size < 0) return sys_error(fmt::format("reading xattr {} of {}", name, where), errno);
      int rc = dest_path.empty()
                   ? ::fsetxattr(dest_fd, name.c_str(), value.data(), static_cast<size_t>(size), 0)
                   : ::lsetxattr(dest_path.c_str(), name.c_str(), value.data(),
                                 static_cast<size_t>(size), 0);
      if (rc != 0) return sys_error(fmt::format("setting xattr {} on {}", name, where), errno);
    }
    return {};
  }

  Status copy_file_data(int src, int dest, const std::string& where) {
    for (;;) {
      ssize_t n = ::copy_file_range(src, nullptr, dest, nullptr, 1 << 30, 0);
      if (n == 0) return {};
      if (n > 0) continue;
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
        return sys_error(fmt::format("copying {}", where), errno);
      }
      break;
    }
    std::vector<char> buf(1 << 20);
    for (;;) {
      ssize_t n = ::read(src, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return sys_error(fmt::format("reading {}", where), errno);
      if (n == 0) return {};
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(dest, buf.data() + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return sys_error(fmt::format("writing {}", where), errno);
        off += w;
      }
    }
  }

  Status copy_dir(int src_dir, int dest_dir, const std::string& rel) {
    int listing = ::openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    if (dir == nullptr) {
      if (listing >= 0) ::close(listing);
      return sys_error(fmt::format("listing {}/{}", layer_, rel), errno);
    }
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) ZLAYER_CHECK(copy_entry(src_dir, dest_dir, rel, name));
    return {};
  }

  Status copy_entry(int src_dir, int dest_dir, const std::string& rel, const std::string& name) {
    std::string path = rel.empty() ? name : rel + "/" + name;
    std::string where = layer_ + "/" + path;
    struct stat st {};
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error(fmt::format("stat {}", where), errno);
    }
    struct stat existing {};
    bool exists = ::fstatat(dest_dir, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(0, 0)) {  // whiteout
      if (exists) {
        if (int err = detail::remove_entry(dest_dir, name); err != 0) {
          return sys_error(fmt::format("applying whiteout {}", where), err);
        }
      }
      return {};
    }
    if (S_ISDIR(st.st_mode)) {
      if (exists && !S_ISDIR(existing.st_mode)) {
        if (int err = detail::remove_entry(dest_dir, name); err != 0) {
          return sys_error(fmt::format("replacing {}", where), err);
        }
        exists = false;
      }
      if (!exists && ::mkdirat(dest_dir, name.c_str(), 0700) != 0) {
        return sys_error(fmt::format("creating {}", where), errno);
      }
      UniqueFd src(
          ::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd dest(
          ::openat(dest_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!src.valid() || !dest.valid()) return sys_error(fmt::format("opening {}", where), errno);
      if (exists && is_opaque(src.get())) ZLAYER_CHECK(clear(dest.get(), where));
      ZLAYER_CHECK(copy_fd_meta(src.get(), dest.get(), st, where));
      dir_times_[path] = {st.st_atim, st.st_mtim};
      return copy_dir(src.get(), dest.get(), path);
    }
    if (exists) {
      if (int err = detail::remove_entry(dest_dir, name); err != 0) {
        return sys_error(fmt::format("replacing {}", where), err);
      }
    }
    auto key = std::make_pair(st.st_dev, st.st_ino);
    if (st.st_nlink > 1) {
      if (auto it = links_.find(key); it != links_.end()) {
        auto [first_dir, first_name] = it->second;
        UniqueFd first(detail::open_beneath(dest_root_.get(), first_dir.empty() ? "." : first_dir,
                                            O_PATH | O_DIRECTORY));
        if (first.valid() &&
            ::linkat(first.get(), first_name.c_str(), dest_dir, name.c_str(), 0) == 0) {
          return {};
        }
        // The first name was whited out or replaced meanwhile: copy instead.
      }
      links_[key] = {rel, name};
    }
    if (S_ISREG(st.st_mode)) {
      UniqueFd src(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!src.valid()) return sys_error(fmt::format("opening {}", where), errno);
      UniqueFd dest(::openat(dest_dir, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!dest.valid()) return sys_error(fmt::format("creating {}", where), errno);
      ZLAYER_CHECK(copy_file_data(src.get(), dest.get(), where));
      ZLAYER_CHECK(copy_fd_meta(src.get(), dest.get(), st, where));
      struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::futimens(dest.get(), times) != 0)
        return sys_error(fmt::format("times {}", where), errno);
      return {};
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0) return sys_error(fmt::format("reading link {}", where), errno);
      target.resize(static_cast<size_t>(n));
      if (::symlinkat(target.c_str(), dest_dir, name.c_str()) != 0) {
        return sys_error(fmt::format("creating link {}", where), errno);
      }
    } else if (::mknodat(dest_dir, name.c_str(), st.st_mode & ~07777, st.st_rdev) != 0) {
      return sys_error(fmt::format("creating node {}", where), errno);
    }
    if (::fchownat(dest_dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error(fmt::format("chown {}", where), errno);
    }
    ZLAYER_CHECK(copy_xattrs(-1, -1, fmt::format("/proc/self/fd/{}/{}", src_dir, name),
                             fmt::format("/proc/self/fd/{}/{}", dest_dir, name), where));
    if (!S_ISLNK(st.st_mode) &&
        ::fchmodat(dest_dir, name.c_str(), st.st_mode & 07777, 0) != 0) {  // just made: no link
      return sys_error(fmt::format("chmod {}", where), errno);
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dest_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return sys_error(fmt::format("times {}", where), errno);
    }
    return {};
  }

  Status copy_fd_meta(int src, int dest, const struct stat& st, const std::string& where) {
    if (::fchown(dest, st.st_uid, st.st_gid) != 0)
      return sys_error(fmt::format("chown {}", where), errno);
    ZLAYER_CHECK(copy_xattrs(src, dest, "", "", where));
    if (::fchmod(dest, st.st_mode & 07777) != 0)
      return sys_error(fmt::format("chmod {}", where), errno);
    return {};
  }

  UniqueFd dest_root_;
  std::string layer_;
  std::map<std::pair<dev_t, ino_t>, std::pair<std::string, std::string>> links_;
  std::map<std::string, std::array<struct timespec, 2>> dir_times_;
};

Status flatten(const std::vector<std::filesystem::path>& layers, const Layout& layout) {
  ZLAYER_CHECK(make_dirs(layout.rootfs));
  UniqueFd root(::open(layout.rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root.valid()) return sys_error(fmt::format("opening {}", layout.rootfs.string()), errno);
  Flattener flattener(std::move(root));
  for (const auto& layer : layers) ZLAYER_CHECK(flattener.add_layer(layer));
  return flattener.finish();
}

}  // namespace

Result<MountedRootfs> mount_rootfs(const std::vector<std::filesystem::path>& layer_fs_dirs,
                                   const std::filesystem::path& container_dir,
                                   const RootfsOptions& options) {
  Layout layout = layout_of(container_dir);
  if (is_mount_point(layout.rootfs)) {
    return errorf(Errc::kFailedPrecondition, "{} is already mounted", layout.rootfs.string());
  }
  ZLAYER_CHECK(make_dirs(layout.rootfs));
  std::vector<std::filesystem::path> layers;
  for (const auto& dir : layer_fs_dirs) layers.push_back(std::filesystem::absolute(dir));

  std::string why = "forced by options";
  if (!options.force_copy && !layers.empty()) {
    ZLAYER_CHECK(make_dirs(layout.upper));
    ZLAYER_CHECK(make_dirs(layout.work));
    Outcome outcome = Outcome::kNewApiUnsupported;
    if (!options.force_legacy_mount) {
      ZLAYER_TRY(got, mount_new_api(layers, layout, &why));
      outcome = got;
    }
    if (outcome == Outcome::kNewApiUnsupported) {
      ZLAYER_TRY(got, mount_legacy(layers, layout, &why));
      outcome = got;
    }
    if (outcome == Outcome::kMounted) return MountedRootfs{layout.rootfs, RootfsMode::kOverlay};
    spdlog::warn(
        "{}: overlayfs unavailable ({}); copying {} layers instead — slower and uses "
        "disk per container",
        container_dir.string(), why, layers.size());
  }
  if (auto ok = flatten(layers, layout); !ok) {
    (void)remove_tree(layout.rootfs);
    return unexpected(
        ok.error().wrap(fmt::format("copying layers into {}", layout.rootfs.string())));
  }
  return MountedRootfs{layout.rootfs, RootfsMode::kCopy};
}

Status unmount_rootfs(const std::filesystem::path& container_dir, bool remove_dirs) {
  Layout layout = layout_of(container_dir);
  // Loop: mounts may be stacked by a retry that raced an earlier one.
  for (int i = 0; i < 64; ++i) {
    if (::umount2(layout.rootfs.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    if (errno == EINVAL || errno == ENOENT) break;  // not (or no longer) a mount point
    if (errno == EBUSY && ::umount2(layout.rootfs.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) {
      spdlog::warn("{} was busy; detached lazily", layout.rootfs.string());
      continue;
    }
    return sys_error(fmt::format("unmounting {}", layout.rootfs.string()), errno);
  }
  if (!remove_dirs) return {};
  if (is_mount_point(layout.rootfs)) {
    return errorf(Errc::kFailedPrecondition, "{} is still mounted; not removing it",
                  layout.rootfs.string());
  }
  ZLAYER_CHECK(remove_tree(layout.rootfs));
  ZLAYER_CHECK(remove_tree(layout.upper));
  ZLAYER_CHECK(remove_tree(layout.work));
  return {};
}

}  // namespace zlayer::image
