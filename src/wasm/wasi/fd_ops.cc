// fd_* functions of WASI preview 1 (see state.h).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wasm/wasi/state.h"

namespace zlayer::wasm::wasi {

using namespace abi;  // NOLINT(google-build-using-namespace)
using State = WasiContext::State;

namespace {

bool is_stdio(const FdEntry& e) {
  return e.kind == FdEntry::Kind::kStdin || e.kind == FdEntry::Kind::kStdout ||
         e.kind == FdEntry::Kind::kStderr;
}

// Rights an fd must hold to be read/written at its current offset or at a given one.
constexpr std::uint64_t kPositionalRead = kRightFdRead | kRightFdSeek;
constexpr std::uint64_t kPositionalWrite = kRightFdWrite | kRightFdSeek;

Errno result_of(int rc) { return rc == 0 ? kSuccess : errno_from_host(errno); }

// Largest chunk one fd_write hands to a stdout/stderr sink.
constexpr std::size_t kMaxSinkWrite = 1 << 20;

}  // namespace

Errno State::fd_advise(std::uint32_t fd, std::uint64_t offset, std::uint64_t len,
                       std::uint32_t advice) {
  Lookup l = fd_with(fd, kRightFdAdvise);
  if (l.error != kSuccess) return l.error;
  if (advice > kAdviceNoReuse) return kInval;
  static constexpr int kHostAdvice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL,
                                        POSIX_FADV_RANDOM,   POSIX_FADV_WILLNEED,
                                        POSIX_FADV_DONTNEED, POSIX_FADV_NOREUSE};
  return errno_from_host(::posix_fadvise(l.entry->host.get(), static_cast<off_t>(offset),
                                         static_cast<off_t>(len), kHostAdvice[advice]));
}

Errno State::fd_allocate(std::uint32_t fd, std::uint64_t offset, std::uint64_t len) {
  Lookup l = fd_with(fd, kRightFdAllocate);
  if (l.error != kSuccess) return l.error;
  if (offset > INT64_MAX || len > INT64_MAX) return kInval;
  return errno_from_host(
      ::posix_fallocate(l.entry->host.get(), static_cast<off_t>(offset), static_cast<off_t>(len)));
}

Errno State::fd_close(std::uint32_t fd) {
  if (fds.erase(fd) == 0) return kBadf;
  return kSuccess;
}

Errno State::fd_datasync(std::uint32_t fd) {
  Lookup l = fd_with(fd, kRightFdDatasync);
  if (l.error != kSuccess) return l.error;
  if (is_stdio(*l.entry)) return kSuccess;  // the sinks hold nothing back
  return result_of(::fdatasync(l.entry->host.get()));
}

Errno State::fd_sync(std::uint32_t fd) {
  Lookup l = fd_with(fd, kRightFdSync);
  if (l.error != kSuccess) return l.error;
  if (is_stdio(*l.entry)) return kSuccess;
  return result_of(::fsync(l.entry->host.get()));
}

Errno State::fd_fdstat_get(GuestMemory& m, std::uint32_t fd, std::uint32_t out) {
  Lookup l = fd_with(fd, 0);
  if (l.error != kSuccess) return l.error;
  std::uint8_t* p = m.range(out, kFdstatSize);
  if (p == nullptr) return kFault;
  std::memset(p, 0, kFdstatSize);
  m.store<std::uint8_t>(out, l.entry->filetype);
  m.store<std::uint16_t>(out + 2, l.entry->fdflags);
  m.store<std::uint64_t>(out + 8, l.entry->rights_base);
  m.store<std::uint64_t>(out + 16, l.entry->rights_inheriting);
  return kSuccess;
}

Errno State::fd_fdstat_set_flags(std::uint32_t fd, std::uint32_t flags) {
  Lookup l = fd_with(fd, kRightFdFdstatSetFlags);
  if (l.error != kSuccess) return l.error;
  if ((flags & ~0x1FU) != 0) return kInval;
  // Linux cannot switch O_SYNC/O_DSYNC on an open file (fcntl ignores them).
  const std::uint16_t sync_flags = kFdflagDsync | kFdflagRsync | kFdflagSync;
  if ((flags & sync_flags) != (l.entry->fdflags & sync_flags)) return kNotSup;
  if (l.entry->host.valid()) {
    int host = ::fcntl(l.entry->host.get(), F_GETFL);
    if (host < 0) return errno_from_host(errno);
    host &= ~(O_APPEND | O_NONBLOCK);
    if ((flags & kFdflagAppend) != 0) host |= O_APPEND;
    if ((flags & kFdflagNonblock) != 0) host |= O_NONBLOCK;
    if (::fcntl(l.entry->host.get(), F_SETFL, host) != 0) return errno_from_host(errno);
  }
  l.entry->fdflags = static_cast<std::uint16_t>(flags);
  return kSuccess;
}

Errno State::fd_fdstat_set_rights(std::uint32_t fd, std::uint64_t base, std::uint64_t inheriting) {
  Lookup l = fd_with(fd, 0);
  if (l.error != kSuccess) return l.error;
  // Rights can only be dropped, never regained.
  if ((base & ~l.entry->rights_base) != 0 || (inheriting & ~l.entry->rights_inheriting) != 0) {
    return kNotCapable;
  }
  l.entry->rights_base = base;
  l.entry->rights_inheriting = inheriting;
  return kSuccess;
}

Errno State::fd_filestat_get(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::uint32_t out) {
  Lookup l = fd_with(fd, kRightFdFilestatGet);
  if (l.error != kSuccess) return l.error;
  if (m.range(out, filestat_size(flavor)) == nullptr) return kFault;
  struct stat st {};
  if (l.entry->host.valid() && l.entry->kind != FdEntry::Kind::kStdin) {
    if (::fstat(l.entry->host.get(), &st) != 0) return errno_from_host(errno);
  } else {
    st.st_mode = S_IFCHR;  // a stdio sink or stdin buffer: a character device without host inode
  }
  store_filestat(m, flavor, out, st);
  return kSuccess;
}

Errno State::fd_filestat_set_size(std::uint32_t fd, std::uint64_t size) {
  Lookup l = fd_with(fd, kRightFdFilestatSetSize);
  if (l.error != kSuccess) return l.error;
  if (size > INT64_MAX) return kInval;
  return result_of(::ftruncate(l.entry->host.get(), static_cast<off_t>(size)));
}

Errno State::fd_filestat_set_times(std::uint32_t fd, std::uint64_t atim, std::uint64_t mtim,
                                   std::uint32_t fst_flags) {
  Lookup l = fd_with(fd, kRightFdFilestatSetTimes);
  if (l.error != kSuccess) return l.error;
  struct timespec times[2];
  if (Errno e = timespecs_from_fst(atim, mtim, fst_flags, times); e != kSuccess) return e;
  return result_of(::futimens(l.entry->host.get(), times));
}

namespace {
// fd_pread/fd_pwrite: the iovecs and the count pointer are checked before `io` runs.
template <class Io>
Errno positional_io(WasiContext::State::Lookup l, GuestMemory& m, std::uint32_t iovs,
                    std::uint32_t iovs_len, std::uint64_t offset, std::uint32_t count_out, Io io) {
  if (l.error != kSuccess) return l.error;
  std::vector<struct iovec> iov;
  if (Errno e = guest_iovecs(m, iovs, iovs_len, iov); e != kSuccess) return e;
  if (m.range(count_out, 4) == nullptr) return kFault;
  if (offset > INT64_MAX) return kInval;
  ssize_t n =
      io(l.entry->host.get(), iov.data(), static_cast<int>(iov.size()), static_cast<off_t>(offset));
  if (n < 0) return errno_from_host(errno);
  m.store<std::uint32_t>(count_out, static_cast<std::uint32_t>(n));
  return kSuccess;
}
}  // namespace

Errno State::fd_pread(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                      std::uint64_t offset, std::uint32_t nread_out) {
  return positional_io(fd_with(fd, kPositionalRead), m, iovs, iovs_len, offset, nread_out,
                       ::preadv);
}

Errno State::fd_pwrite(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                       std::uint64_t offset, std::uint32_t nwritten_out) {
  return positional_io(fd_with(fd, kPositionalWrite), m, iovs, iovs_len, offset, nwritten_out,
                       ::pwritev);
}

Errno State::fd_prestat_get(GuestMemory& m, std::uint32_t fd, std::uint32_t out) {
  Lookup l = fd_with(fd, 0);
  if (l.error != kSuccess) return l.error;
  if (!l.entry->preopen_path) return kBadf;
  std::uint8_t* p = m.range(out, kPrestatSize);
  if (p == nullptr) return kFault;
  std::memset(p, 0, kPrestatSize);
  m.store<std::uint8_t>(out, kPreopentypeDir);
  m.store<std::uint32_t>(out + 4, static_cast<std::uint32_t>(l.entry->preopen_path->size()));
  return kSuccess;
}

Errno State::fd_prestat_dir_name(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                 std::uint32_t path_len) {
  Lookup l = fd_with(fd, 0);
  if (l.error != kSuccess) return l.error;
  if (!l.entry->preopen_path) return kBadf;
  const std::string& name = *l.entry->preopen_path;
  std::uint8_t* p = m.range(path, path_len);
  if (p == nullptr) return kFault;
  if (path_len < name.size()) return kNameTooLong;
  // WASI strings are (pointer, length): no NUL is written.
  std::memcpy(p, name.data(), name.size());  // NOLINT(bugprone-not-null-terminated-result)
  return kSuccess;
}

Errno State::read_stdin(FdEntry& in, const std::vector<struct iovec>& iov, std::uint64_t& n) {
  n = 0;
  if (in.host.valid()) {
    if ((in.fdflags & kFdflagNonblock) == 0 && !wait_readable(in.host.get())) return kIntr;
    ssize_t got = ::readv(in.host.get(), iov.data(), static_cast<int>(iov.size()));
    if (got < 0) return errno_from_host(errno);
    n = static_cast<std::uint64_t>(got);
    return kSuccess;
  }
  for (const auto& v : iov) {
    std::size_t take = std::min(v.iov_len, stdin_bytes_.size() - stdin_pos_);
    std::memcpy(v.iov_base, stdin_bytes_.data() + stdin_pos_, take);
    stdin_pos_ += take;
    n += take;
    if (take < v.iov_len) break;
  }
  return kSuccess;
}

Errno State::fd_read(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                     std::uint32_t nread_out) {
  Lookup l = fd_with(fd, kRightFdRead);
  if (l.error != kSuccess) return l.error;
  std::vector<struct iovec> iov;
  if (Errno e = guest_iovecs(m, iovs, iovs_len, iov); e != kSuccess) return e;
  if (m.range(nread_out, 4) == nullptr) return kFault;
  std::uint64_t n = 0;
  if (l.entry->kind == FdEntry::Kind::kStdin) {
    if (Errno e = read_stdin(*l.entry, iov, n); e != kSuccess) return e;
  } else if (l.entry->kind == FdEntry::Kind::kDirectory) {
    return kIsDir;
  } else if (!l.entry->host.valid()) {
    return kBadf;
  } else {
    ssize_t got = ::readv(l.entry->host.get(), iov.data(), static_cast<int>(iov.size()));
    if (got < 0) return errno_from_host(errno);
    n = static_cast<std::uint64_t>(got);
  }
  m.store<std::uint32_t>(nread_out, static_cast<std::uint32_t>(n));
  return kSuccess;
}

Errno State::fd_write(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                      std::uint32_t nwritten_out) {
  Lookup l = fd_with(fd, kRightFdWrite);
  if (l.error != kSuccess) return l.error;
  if (m.range(nwritten_out, 4) == nullptr) return kFault;
  if (l.entry->kind == FdEntry::Kind::kStdout || l.entry->kind == FdEntry::Kind::kStderr) {
    // Every iovec is checked, then at most kMaxSinkWrite bytes are taken: iovecs may all point
    // at the same buffer, and a short count is a normal write result (wasi-libc writes the rest).
    if (m.range(iovs, std::uint64_t{iovs_len} * kIovecSize) == nullptr) return kFault;
    std::string bytes;
    for (std::uint32_t i = 0; i < iovs_len; ++i) {
      std::uint32_t buf = 0;
      std::uint32_t len = 0;
      m.load(iovs + std::uint64_t{i} * kIovecSize, buf);
      m.load(iovs + std::uint64_t{i} * kIovecSize + 4, len);
      const std::uint8_t* p = m.range(buf, len);
      if (p == nullptr) return kFault;
      const std::size_t take = std::min<std::size_t>(len, kMaxSinkWrite - bytes.size());
      bytes.append(reinterpret_cast<const char*>(p), take);
    }
    const OutputSink& sink =
        l.entry->kind == FdEntry::Kind::kStdout ? config_.stdout_sink : config_.stderr_sink;
    if (sink && !bytes.empty()) sink(bytes);
    m.store<std::uint32_t>(nwritten_out, static_cast<std::uint32_t>(bytes.size()));
    return kSuccess;
  }
  std::vector<struct iovec> iov;
  if (Errno e = guest_iovecs(m, iovs, iovs_len, iov); e != kSuccess) return e;
  if (!l.entry->host.valid()) return kBadf;
  ssize_t n = ::writev(l.entry->host.get(), iov.data(), static_cast<int>(iov.size()));
  if (n < 0) return errno_from_host(errno);
  m.store<std::uint32_t>(nwritten_out, static_cast<std::uint32_t>(n));
  return kSuccess;
}

Errno State::fd_readdir(GuestMemory& m, std::uint32_t fd, std::uint32_t buf, std::uint32_t buf_len,
                        std::uint64_t cookie, std::uint32_t bufused_out) {
  Lookup l = fd_with(fd, kRightFdReaddir);
  if (l.error != kSuccess) return l.error;
  if (l.entry->kind != FdEntry::Kind::kDirectory) return kNotDir;
  std::uint8_t* out = m.range(buf, buf_len);
  if (out == nullptr || m.range(bufused_out, 4) == nullptr) return kFault;

  // Cookie k names the k-th entry of a snapshot taken when the guest starts over (cookie 0), so
  // cookies stay valid across calls however the buffer splits the listing.
  auto& entries = l.entry->dir_entries;
  if (cookie == 0 || entries.empty()) {
    entries.clear();
    int dup = ::openat(l.entry->host.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) return errno_from_host(errno);
    DIR* dir = ::fdopendir(dup);
    if (dir == nullptr) {
      int err = errno;
      ::close(dup);
      return errno_from_host(err);
    }
    while (struct dirent* d = ::readdir(dir)) {
      DirEntryCopy copy{d->d_name, d->d_ino, kFiletypeUnknown};
      struct stat st {};
      if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        copy.filetype = filetype_from_mode(st.st_mode);
      }
      entries.push_back(std::move(copy));
    }
    ::closedir(dir);
  }

  std::uint64_t used = 0;
  for (std::uint64_t i = cookie; i < entries.size() && used < buf_len; ++i) {
    std::uint8_t header[kDirentSize] = {};
    std::uint64_t next = i + 1;
    std::uint32_t namlen = static_cast<std::uint32_t>(entries[i].name.size());
    std::memcpy(header, &next, 8);
    std::memcpy(header + 8, &entries[i].ino, 8);
    std::memcpy(header + 16, &namlen, 4);
    header[20] = entries[i].filetype;
    // The last entry may be cut short; the guest sees a full buffer and asks again with a
    // larger one (wasi-libc's readdir does).
    std::uint64_t take = std::min<std::uint64_t>(kDirentSize, buf_len - used);
    std::memcpy(out + used, header, take);
    used += take;
    take = std::min<std::uint64_t>(namlen, buf_len - used);
    std::memcpy(out + used, entries[i].name.data(), take);
    used += take;
  }
  m.store<std::uint32_t>(bufused_out, static_cast<std::uint32_t>(used));
  return kSuccess;
}

Errno State::fd_renumber(std::uint32_t fd, std::uint32_t to) {
  auto from_it = fds.find(fd);
  if (from_it == fds.end() || fds.find(to) == fds.end()) return kBadf;
  if (fd == to) return kSuccess;
  FdEntry moved = std::move(from_it->second);
  fds.erase(from_it);
  fds[to] = std::move(moved);
  return kSuccess;
}

Errno State::fd_seek(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::int64_t offset,
                     std::uint32_t whence, std::uint32_t newoffset_out) {
  // wasi_unstable numbered whence cur=0, end=1, set=2.
  int host_whence = -1;
  if (flavor == Flavor::kPreview1) {
    host_whence = whence == kWhenceSet   ? SEEK_SET
                  : whence == kWhenceCur ? SEEK_CUR
                  : whence == kWhenceEnd ? SEEK_END
                                         : -1;
  } else {
    host_whence = whence == 0 ? SEEK_CUR : whence == 1 ? SEEK_END : whence == 2 ? SEEK_SET : -1;
  }
  // Reading the position (offset 0 from the current one) is fd_tell's right.
  const std::uint64_t right = host_whence == SEEK_CUR && offset == 0 ? kRightFdTell : kRightFdSeek;
  Lookup l = fd_with(fd, right);
  if (l.error != kSuccess) return l.error;
  if (host_whence < 0) return kInval;
  if (m.range(newoffset_out, 8) == nullptr) return kFault;
  if (l.entry->kind == FdEntry::Kind::kDirectory || !l.entry->host.valid()) return kSpipe;
  off_t pos = ::lseek(l.entry->host.get(), offset, host_whence);
  if (pos < 0) return errno_from_host(errno);
  m.store<std::uint64_t>(newoffset_out, static_cast<std::uint64_t>(pos));
  return kSuccess;
}

Errno State::fd_tell(GuestMemory& m, std::uint32_t fd, std::uint32_t offset_out) {
  Lookup l = fd_with(fd, kRightFdTell);
  if (l.error != kSuccess) return l.error;
  if (m.range(offset_out, 8) == nullptr) return kFault;
  if (l.entry->kind == FdEntry::Kind::kDirectory || !l.entry->host.valid()) return kSpipe;
  off_t pos = ::lseek(l.entry->host.get(), 0, SEEK_CUR);
  if (pos < 0) return errno_from_host(errno);
  m.store<std::uint64_t>(offset_out, static_cast<std::uint64_t>(pos));
  return kSuccess;
}

}  // namespace zlayer::wasm::wasi
