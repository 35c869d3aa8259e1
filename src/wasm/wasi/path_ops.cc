// path_* functions of WASI preview 1 (see state.h). Every lookup starts at a directory fd the
// guest holds and goes through open_beneath() (openat2 RESOLVE_BENEATH): absolute paths, ".."
// above that directory and symlinks pointing out of it fail with ENOTCAPABLE. Operations on a
// final name (mkdir, unlink, rename, symlink, link, readlink) resolve its parent directory that
// way and then act on the single name with the *at() call, never following a final symlink
// unless WASI's lookupflags ask for it (then the target is resolved beneath as well).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "wasm/wasi/state.h"

namespace zlayer::wasm::wasi {

using namespace abi;  // NOLINT(google-build-using-namespace)
using State = WasiContext::State;

namespace {

// Reads a guest path: EFAULT outside memory, EINVAL with a NUL byte inside (it would cut the
// host path short), ENOENT when empty, ENOTCAPABLE when absolute (paths are relative to a
// directory fd; "/" would name the host's root).
Errno guest_path(GuestMemory& m, std::uint32_t ptr, std::uint32_t len, std::string& out) {
  const std::uint8_t* p = m.range(ptr, len);
  if (p == nullptr) return kFault;
  out.assign(reinterpret_cast<const char*>(p), len);
  if (out.find('\0') != std::string::npos) return kInval;
  if (out.empty()) return kNoEnt;
  if (out.front() == '/') return kNotCapable;
  return kSuccess;
}

// The directory holding the final component of `path` (opened O_PATH beneath `dirfd`) and that
// component's name (with any trailing slashes, which the *at() calls honour). A final "." or
// ".." is resolved as part of the directory, and the name becomes ".", so no call ever acts on
// the parent of the preopen.
struct Parent {
  UniqueFd dir;
  std::string name;
};

Errno open_parent(int dirfd, const std::string& path, Parent& out) {
  std::size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;  // "a/b//": the name is "b//"
  const std::size_t slash = path.rfind('/', end - 1);
  const std::size_t name_at = slash == std::string::npos ? 0 : slash + 1;
  const std::string base = path.substr(name_at, end - name_at);
  std::string dir_path = slash == std::string::npos ? "." : path.substr(0, slash);
  out.name = path.substr(name_at);
  if (base == "." || base == "..") {
    dir_path = path;
    out.name = ".";
  }
  out.dir.reset(open_beneath(dirfd, dir_path.empty() ? "." : dir_path, O_PATH | O_DIRECTORY));
  if (!out.dir.valid()) return errno_from_lookup(errno);
  return kSuccess;
}

// The file `path` names, opened O_PATH beneath `dirfd`; a final symlink is followed (beneath
// too) only when `follow`.
Errno open_target(int dirfd, const std::string& path, bool follow, UniqueFd& out) {
  out.reset(open_beneath(dirfd, path, O_PATH | (follow ? 0 : O_NOFOLLOW)));
  if (!out.valid()) return errno_from_lookup(errno);
  return kSuccess;
}

// The /proc path of an O_PATH fd: *at() calls that have no "act on this fd" form (utimensat,
// linkat) reach the already-resolved file through it.
std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Errno result_of(int rc) { return rc == 0 ? kSuccess : errno_from_host(errno); }

// The shape of the single-name operations (mkdir, rmdir, unlink): `right` on directory `fd`, the
// guest path, its parent directory; then `op(parent_fd, name)` returns the host call's result.
template <class Op>
Errno at_parent(WasiContext::State& state, GuestMemory& m, std::uint32_t fd, std::uint64_t right,
                std::uint32_t path, std::uint32_t path_len, Op op) {
  WasiContext::State::Lookup l = state.dir_with(fd, right);
  if (l.error != kSuccess) return l.error;
  std::string p;
  if (Errno e = guest_path(m, path, path_len, p); e != kSuccess) return e;
  Parent parent;
  if (Errno e = open_parent(l.entry->host.get(), p, parent); e != kSuccess) return e;
  return result_of(op(parent.dir.get(), parent.name.c_str()));
}

}  // namespace

Errno State::path_create_directory(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                   std::uint32_t path_len) {
  return at_parent(*this, m, fd, kRightPathCreateDirectory, path, path_len,
                   [](int dir, const char* name) { return ::mkdirat(dir, name, 0777); });
}

Errno State::path_filestat_get(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::uint32_t flags,
                               std::uint32_t path, std::uint32_t path_len, std::uint32_t out) {
  Lookup l = dir_with(fd, kRightPathFilestatGet);
  if (l.error != kSuccess) return l.error;
  std::string p;
  if (Errno e = guest_path(m, path, path_len, p); e != kSuccess) return e;
  if (m.range(out, filestat_size(flavor)) == nullptr) return kFault;
  UniqueFd target;
  if (Errno e = open_target(l.entry->host.get(), p, (flags & kLookupSymlinkFollow) != 0, target);
      e != kSuccess) {
    return e;
  }
  struct stat st {};
  if (::fstat(target.get(), &st) != 0) return errno_from_host(errno);
  store_filestat(m, flavor, out, st);
  return kSuccess;
}

Errno State::path_filestat_set_times(GuestMemory& m, std::uint32_t fd, std::uint32_t flags,
                                     std::uint32_t path, std::uint32_t path_len, std::uint64_t atim,
                                     std::uint64_t mtim, std::uint32_t fst_flags) {
  Lookup l = dir_with(fd, kRightPathFilestatSetTimes);
  if (l.error != kSuccess) return l.error;
  std::string p;
  if (Errno e = guest_path(m, path, path_len, p); e != kSuccess) return e;
  struct timespec times[2];
  if (Errno e = timespecs_from_fst(atim, mtim, fst_flags, times); e != kSuccess) return e;
  if ((flags & kLookupSymlinkFollow) != 0) {
    UniqueFd target;
    if (Errno e = open_target(l.entry->host.get(), p, true, target); e != kSuccess) return e;
    return result_of(::utimensat(AT_FDCWD, proc_fd_path(target.get()).c_str(), times, 0));
  }
  Parent parent;
  if (Errno e = open_parent(l.entry->host.get(), p, parent); e != kSuccess) return e;
  return result_of(::utimensat(parent.dir.get(), parent.name.c_str(), times, AT_SYMLINK_NOFOLLOW));
}

Errno State::path_link(GuestMemory& m, std::uint32_t old_fd, std::uint32_t old_flags,
                       std::uint32_t old_path, std::uint32_t old_path_len, std::uint32_t new_fd,
                       std::uint32_t new_path, std::uint32_t new_path_len) {
  Lookup from = dir_with(old_fd, kRightPathLinkSource);
  if (from.error != kSuccess) return from.error;
  Lookup to = dir_with(new_fd, kRightPathLinkTarget);
  if (to.error != kSuccess) return to.error;
  std::string old_p;
  std::string new_p;
  if (Errno e = guest_path(m, old_path, old_path_len, old_p); e != kSuccess) return e;
  if (Errno e = guest_path(m, new_path, new_path_len, new_p); e != kSuccess) return e;
  Parent target_parent;
  if (Errno e = open_parent(to.entry->host.get(), new_p, target_parent); e != kSuccess) return e;
  if ((old_flags & kLookupSymlinkFollow) != 0) {
    UniqueFd source;
    if (Errno e = open_target(from.entry->host.get(), old_p, true, source); e != kSuccess) {
      return e;
    }
    return result_of(::linkat(AT_FDCWD, proc_fd_path(source.get()).c_str(), target_parent.dir.get(),
                              target_parent.name.c_str(), AT_SYMLINK_FOLLOW));
  }
  Parent source_parent;
  if (Errno e = open_parent(from.entry->host.get(), old_p, source_parent); e != kSuccess) {
    return e;
  }
  return result_of(::linkat(source_parent.dir.get(), source_parent.name.c_str(),
                            target_parent.dir.get(), target_parent.name.c_str(), 0));
}

Errno State::path_open(GuestMemory& m, std::uint32_t fd, std::uint32_t dirflags, std::uint32_t path,
                       std::uint32_t path_len, std::uint32_t oflags, std::uint64_t rights_base,
                       std::uint64_t rights_inheriting, std::uint32_t fdflags,
                       std::uint32_t fd_out) {
  Lookup l = dir_with(fd, kRightPathOpen);
  if (l.error != kSuccess) return l.error;
  std::string p;
  if (Errno e = guest_path(m, path, path_len, p); e != kSuccess) return e;
  if (m.range(fd_out, 4) == nullptr) return kFault;
  if ((oflags & ~0xFU) != 0 || (fdflags & ~0x1FU) != 0) return kInval;
  // A new fd gets at most what its directory may hand down; creating and truncating are rights
  // of the directory itself.
  const FdEntry& dir = *l.entry;
  if ((rights_base & ~dir.rights_inheriting) != 0 ||
      (rights_inheriting & ~dir.rights_inheriting) != 0) {
    return kNotCapable;
  }
  if ((oflags & kOflagCreat) != 0 && (dir.rights_base & kRightPathCreateFile) == 0) {
    return kNotCapable;
  }
  if ((oflags & kOflagTrunc) != 0 && (dir.rights_base & kRightPathFilestatSetSize) == 0) {
    return kNotCapable;
  }
  std::optional<std::uint32_t> new_fd = free_fd();
  if (!new_fd) return kMfile;

  // The host access mode follows the rights: no write right, no host write access.
  const bool read = (rights_base & (kRightFdRead | kRightFdReaddir)) != 0;
  // A directory is never opened for writing: oflags.directory with write rights (which
  // fd rights of a directory cannot hold anyway) opens it read-only instead of failing EISDIR.
  const bool write =
      (oflags & kOflagDirectory) == 0 &&
      (rights_base & (kRightFdWrite | kRightFdAllocate | kRightFdFilestatSetSize)) != 0;
  std::uint64_t flags = O_NOCTTY | (read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY);
  if ((oflags & kOflagCreat) != 0) flags |= O_CREAT;
  if ((oflags & kOflagDirectory) != 0) flags |= O_DIRECTORY;
  if ((oflags & kOflagExcl) != 0) flags |= O_EXCL;
  if ((oflags & kOflagTrunc) != 0) flags |= O_TRUNC;
  if ((fdflags & kFdflagAppend) != 0) flags |= O_APPEND;
  if ((fdflags & kFdflagDsync) != 0) flags |= O_DSYNC;
  // Always opened non-blocking: opening a FIFO would otherwise wait for a writer with no way
  // to interrupt it. Cleared again below unless the guest asked for it.
  flags |= O_NONBLOCK;
  if ((fdflags & kFdflagRsync) != 0) flags |= O_RSYNC;
  if ((fdflags & kFdflagSync) != 0) flags |= O_SYNC;
  if ((dirflags & kLookupSymlinkFollow) == 0) flags |= O_NOFOLLOW;

  UniqueFd host(open_beneath(dir.host.get(), p, flags, 0666));
  if (!host.valid()) return errno_from_lookup(errno);
  struct stat st {};
  if (::fstat(host.get(), &st) != 0) return errno_from_host(errno);
  if ((fdflags & kFdflagNonblock) == 0) {
    int host_flags = ::fcntl(host.get(), F_GETFL);
    if (host_flags < 0 || ::fcntl(host.get(), F_SETFL, host_flags & ~O_NONBLOCK) != 0) {
      return errno_from_host(errno);
    }
  }

  FdEntry e;
  e.host = std::move(host);
  e.filetype = filetype_from_mode(st.st_mode);
  e.fdflags = static_cast<std::uint16_t>(fdflags);
  if (S_ISDIR(st.st_mode)) {
    e.kind = FdEntry::Kind::kDirectory;
    e.rights_base = rights_base & kDirectoryRights;
  } else {
    e.kind = FdEntry::Kind::kFile;
    e.rights_base = rights_base & kFileRights;
  }
  e.rights_inheriting = rights_inheriting;
  fds.emplace(*new_fd, std::move(e));
  m.store<std::uint32_t>(fd_out, *new_fd);
  return kSuccess;
}

Errno State::path_readlink(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                           std::uint32_t path_len, std::uint32_t buf, std::uint32_t buf_len,
                           std::uint32_t bufused_out) {
  Lookup l = dir_with(fd, kRightPathReadlink);
  if (l.error != kSuccess) return l.error;
  std::string p;
  if (Errno e = guest_path(m, path, path_len, p); e != kSuccess) return e;
  std::uint8_t* out = m.range(buf, buf_len);
  if (out == nullptr || m.range(bufused_out, 4) == nullptr) return kFault;
  Parent parent;
  if (Errno e = open_parent(l.entry->host.get(), p, parent); e != kSuccess) return e;
  // The target is returned as stored (truncated to buf_len); it is only text to the guest.
  ssize_t n =
      ::readlinkat(parent.dir.get(), parent.name.c_str(), reinterpret_cast<char*>(out), buf_len);
  if (n < 0) return errno_from_host(errno);
  m.store<std::uint32_t>(bufused_out, static_cast<std::uint32_t>(n));
  return kSuccess;
}

Errno State::path_remove_directory(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                   std::uint32_t path_len) {
  return at_parent(*this, m, fd, kRightPathRemoveDirectory, path, path_len,
                   [](int dir, const char* name) { return ::unlinkat(dir, name, AT_REMOVEDIR); });
}

Errno State::path_rename(GuestMemory& m, std::uint32_t fd, std::uint32_t old_path,
                         std::uint32_t old_path_len, std::uint32_t new_fd, std::uint32_t new_path,
                         std::uint32_t new_path_len) {
  Lookup from = dir_with(fd, kRightPathRenameSource);
  if (from.error != kSuccess) return from.error;
  Lookup to = dir_with(new_fd, kRightPathRenameTarget);
  if (to.error != kSuccess) return to.error;
  std::string old_p;
  std::string new_p;
  if (Errno e = guest_path(m, old_path, old_path_len, old_p); e != kSuccess) return e;
  if (Errno e = guest_path(m, new_path, new_path_len, new_p); e != kSuccess) return e;
  Parent source;
  Parent target;
  if (Errno e = open_parent(from.entry->host.get(), old_p, source); e != kSuccess) return e;
  if (Errno e = open_parent(to.entry->host.get(), new_p, target); e != kSuccess) return e;
  return result_of(
      ::renameat(source.dir.get(), source.name.c_str(), target.dir.get(), target.name.c_str()));
}

Errno State::path_symlink(GuestMemory& m, std::uint32_t old_path, std::uint32_t old_path_len,
                          std::uint32_t fd, std::uint32_t new_path, std::uint32_t new_path_len) {
  Lookup l = dir_with(fd, kRightPathSymlink);
  if (l.error != kSuccess) return l.error;
  // The target is checked like a path: an absolute target could never be followed inside the
  // preopen, and refusing it keeps host programs that share the directory from following it.
  std::string target;
  if (Errno e = guest_path(m, old_path, old_path_len, target); e != kSuccess) return e;
  std::string p;
  if (Errno e = guest_path(m, new_path, new_path_len, p); e != kSuccess) return e;
  Parent parent;
  if (Errno e = open_parent(l.entry->host.get(), p, parent); e != kSuccess) return e;
  return result_of(::symlinkat(target.c_str(), parent.dir.get(), parent.name.c_str()));
}

Errno State::path_unlink_file(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                              std::uint32_t path_len) {
  return at_parent(*this, m, fd, kRightPathUnlinkFile, path, path_len,
                   [](int dir, const char* name) { return ::unlinkat(dir, name, 0); });
}

}  // namespace zlayer::wasm::wasi
