#include "runtime/linux/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "core/fs.h"

namespace zlayer::runtime::linux {
namespace {

// Runs `fn` on a fresh OS thread and returns its result. Namespace changes (unshare, setns) made
// by `fn` die with that thread, so the caller's thread and the rest of the process stay put.
Status on_own_thread(const std::function<Status()>& fn) {
  Status result;
  std::thread worker([&] { result = fn(); });
  worker.join();
  return result;
}

// `ip link set lo up` through the classic interface ioctl, in the calling thread's namespace.
Status bring_loopback_up() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return sys_error("socket for lo", errno);
  struct ifreq request {};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) return sys_error("reading lo flags", errno);
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) != 0) return sys_error("setting lo up", errno);
  return {};
}

}  // namespace

std::filesystem::path container_netns_path(const Paths& paths, std::string_view container_id) {
  return paths.runtime_dir / "netns" / std::string(container_id);
}

bool is_netns(const std::filesystem::path& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0 || fs.f_type != NSFS_MAGIC) return false;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  return ::ioctl(fd.get(), NS_GET_NSTYPE) == CLONE_NEWNET;
}

Status create_netns(const std::filesystem::path& path) {
  const std::string where = path.string();
  if (is_netns(path)) {
    return errorf(Errc::kAlreadyExists, "network namespace {}: already exists", where);
  }
  ZLAYER_CHECK(make_dirs(path.parent_path()));
  // A plain file here is our own leftover (created, never mounted): replace it.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error("removing stale network namespace file " + where, errno);
  }
  {
    UniqueFd file(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
    if (!file.valid()) return sys_error("creating network namespace file " + where, errno);
  }
  Status made = on_own_thread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return sys_error("unshare(CLONE_NEWNET)", errno);
    ZLAYER_CHECK(bring_loopback_up());
    // /proc/thread-self: this thread's namespace, not the main thread's.
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return sys_error("bind-mounting the namespace onto " + where, errno);
    }
    return {};
  });
  if (!made) {
    ::unlink(path.c_str());
    return unexpected(std::move(made).error().wrap("creating network namespace " + where));
  }
  return {};
}

Status delete_netns(const std::filesystem::path& path) {
  const std::string where = path.string();
  // Loop: the same file may carry stacked mounts if something mounted it twice.
  while (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
  }
  if (errno != EINVAL && errno != ENOENT) {
    return sys_error("unmounting network namespace " + where, errno);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error("removing network namespace file " + where, errno);
  }
  return {};
}

Status run_in_netns(const std::filesystem::path& path, const std::function<Status()>& fn) {
  const std::string where = path.string();
  UniqueFd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return sys_error("opening network namespace " + where, errno);
  return on_own_thread([&]() -> Status {
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      if (errno == EINVAL) {
        return errorf(Errc::kInvalidArgument, "{} is not a network namespace", where);
      }
      return sys_error("entering network namespace " + where, errno);
    }
    return fn();
  });
}

}  // namespace zlayer::runtime::linux
