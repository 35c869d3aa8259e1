#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace zlayer {

UniqueFd accept_until_woken(int listener, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{listener, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return UniqueFd();
    }
    if (fds[1].revents != 0) return UniqueFd();
    UniqueFd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (client.valid()) return client;
  }
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

UniqueFd::~UniqueFd() { reset(); }

int UniqueFd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

Status write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("writing {}", path.string()), errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sys_error("pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Status fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return sys_error(fmt::format("opening directory {}", dir.string()), errno);
  if (::fsync(fd.get()) != 0) return sys_error(fmt::format("fsync {}", dir.string()), errno);
  return {};
}

Status atomic_write_file(const std::filesystem::path& path, std::string_view content,
                         unsigned mode, Durability durability) {
  const bool sync = durability == Durability::kDurable;
  auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  auto tmp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), random_suffix());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return sys_error(fmt::format("creating {}", tmp.string()), errno);
  auto cleanup = [&] { ::unlink(tmp.c_str()); };
  if (auto ok = write_all(fd.get(), content, tmp); !ok) {
    cleanup();
    return ok;
  }
  if (::fchmod(fd.get(), mode) != 0 || (sync && ::fsync(fd.get()) != 0)) {
    int err = errno;
    cleanup();
    return sys_error(fmt::format("syncing {}", tmp.string()), err);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    cleanup();
    return sys_error(fmt::format("renaming {} to {}", tmp.string(), path.string()), err);
  }
  return sync ? fsync_dir(dir) : Status{};
}

Result<std::string> read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return sys_error(fmt::format("opening {}", path.string()), errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("reading {}", path.string()), errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status make_dirs(const std::filesystem::path& path, unsigned mode) {
  std::filesystem::path current;
  for (const auto& part : path) {
    current /= part;
    if (::mkdir(current.c_str(), mode) != 0 && errno != EEXIST) {
      return sys_error(fmt::format("creating directory {}", current.string()), errno);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return sys_error(fmt::format("stat {}", path.string()), errno);
  if (!S_ISDIR(st.st_mode)) {
    return errorf(Errc::kFailedPrecondition, "{} exists and is not a directory", path.string());
  }
  return {};
}

namespace {

// Removes everything inside the directory open at `dirfd` (consumed), never following symlinks.
Status remove_contents(int dirfd, const std::string& where) {
  DIR* dir = ::fdopendir(dirfd);
  if (dir == nullptr) {
    int err = errno;
    ::close(dirfd);
    return sys_error(fmt::format("opening {}", where), err);
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  Status result;
  for (const auto& name : names) {
    if (::unlinkat(::dirfd(dir), name.c_str(), 0) == 0 || errno == ENOENT) continue;
    if (errno != EISDIR) {
      result = sys_error(fmt::format("removing {}/{}", where, name), errno);
      break;
    }
    int child =
        ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      result = sys_error(fmt::format("opening {}/{}", where, name), errno);
      break;
    }
    if (auto ok = remove_contents(child, where + "/" + name); !ok) {
      result = ok;
      break;
    }
    if (::unlinkat(::dirfd(dir), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      result = sys_error(fmt::format("removing {}/{}", where, name), errno);
      break;
    }
  }
  ::closedir(dir);
  return result;
}

}  // namespace

Status remove_tree(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sys_error(fmt::format("stat {}", path.string()), errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return sys_error(fmt::format("removing {}", path.string()), errno);
    }
    return {};
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error(fmt::format("opening {}", path.string()), errno);
  ZLAYER_CHECK(remove_contents(fd, path.string()));
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return sys_error(fmt::format("removing {}", path.string()), errno);
  }
  return {};
}

namespace {

Result<UniqueFd> open_lock_file(const std::filesystem::path& path) {
  if (path.has_parent_path()) ZLAYER_CHECK(make_dirs(path.parent_path()));
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return sys_error(fmt::format("opening lock {}", path.string()), errno);
  return fd;
}

}  // namespace

namespace {

Result<UniqueFd> lock_blocking(const std::filesystem::path& path, int operation) {
  ZLAYER_TRY(fd, open_lock_file(path));
  while (::flock(fd.get(), operation) != 0) {
    if (errno != EINTR) return sys_error(fmt::format("locking {}", path.string()), errno);
  }
  return fd;
}

}  // namespace

Result<FileLock> FileLock::acquire_shared(const std::filesystem::path& path) {
  ZLAYER_TRY(fd, lock_blocking(path, LOCK_SH));
  return FileLock(std::move(fd));
}

Result<FileLock> FileLock::acquire(const std::filesystem::path& path) {
  ZLAYER_TRY(fd, lock_blocking(path, LOCK_EX));
  return FileLock(std::move(fd));
}

Result<FileLock> FileLock::try_acquire(const std::filesystem::path& path) {
  ZLAYER_TRY(fd, open_lock_file(path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return errorf(Errc::kUnavailable, "{} is locked by another process", path.string());
    }
    return sys_error(fmt::format("locking {}", path.string()), errno);
  }
  return FileLock(std::move(fd));
}

Result<std::filesystem::path> make_temp_dir(const std::filesystem::path& parent,
                                            std::string_view prefix) {
  ZLAYER_CHECK(make_dirs(parent));
  std::string tmpl = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return sys_error(fmt::format("creating temporary directory in {}", parent.string()), errno);
  }
  return std::filesystem::path(tmpl);
}

int open_beneath(int dirfd, const std::string& path, std::uint64_t flags, unsigned mode) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  // openat2 refuses a mode without a flag that creates (O_TMPFILE includes O_DIRECTORY's bit).
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    // EAGAIN: a concurrent rename raced the lookup; the kernel asks us to retry.
    if (fd >= 0 || errno != EAGAIN) return static_cast<int>(fd);
  }
}

}  // namespace zlayer
