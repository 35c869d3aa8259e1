#include "wasm/wasi/wasi.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "wasm/wasi/state.h"

namespace zlayer::wasm::wasi {

using namespace abi;  // NOLINT(google-build-using-namespace): the ABI constants read as in witx

// ---- shared helpers -------------------------------------------------------------------------

Errno errno_from_host(int err) {
  switch (err) {
    case 0:
      return kSuccess;
    case E2BIG:
      return k2Big;
    case EACCES:
      return kAcces;
    case EADDRINUSE:
      return kAddrInUse;
    case EADDRNOTAVAIL:
      return kAddrNotAvail;
    case EAFNOSUPPORT:
      return kAfNoSupport;
    case EAGAIN:
      return kAgain;
    case EALREADY:
      return kAlready;
    case EBADF:
      return kBadf;
    case EBADMSG:
      return kBadMsg;
    case EBUSY:
      return kBusy;
    case ECANCELED:
      return kCanceled;
    case ECHILD:
      return kChild;
    case ECONNABORTED:
      return kConnAborted;
    case ECONNREFUSED:
      return kConnRefused;
    case ECONNRESET:
      return kConnReset;
    case EDEADLK:
      return kDeadlk;
    case EDESTADDRREQ:
      return kDestAddrReq;
    case EDOM:
      return kDom;
    case EDQUOT:
      return kDquot;
    case EEXIST:
      return kExist;
    case EFAULT:
      return kFault;
    case EFBIG:
      return kFbig;
    case EHOSTUNREACH:
      return kHostUnreach;
    case EIDRM:
      return kIdrm;
    case EILSEQ:
      return kIlseq;
    case EINPROGRESS:
      return kInProgress;
    case EINTR:
      return kIntr;
    case EINVAL:
      return kInval;
    case EIO:
      return kIo;
    case EISCONN:
      return kIsConn;
    case EISDIR:
      return kIsDir;
    case ELOOP:
      return kLoop;
    case EMFILE:
      return kMfile;
    case EMLINK:
      return kMlink;
    case EMSGSIZE:
      return kMsgSize;
    case EMULTIHOP:
      return kMultihop;
    case ENAMETOOLONG:
      return kNameTooLong;
    case ENETDOWN:
      return kNetDown;
    case ENETRESET:
      return kNetReset;
    case ENETUNREACH:
      return kNetUnreach;
    case ENFILE:
      return kNfile;
    case ENOBUFS:
      return kNoBufs;
    case ENODEV:
      return kNoDev;
    case ENOENT:
      return kNoEnt;
    case ENOEXEC:
      return kNoExec;
    case ENOLCK:
      return kNoLck;
    case ENOLINK:
      return kNoLink;
    case ENOMEM:
      return kNoMem;
    case ENOMSG:
      return kNoMsg;
    case ENOPROTOOPT:
      return kNoProtoOpt;
    case ENOSPC:
      return kNoSpc;
    case ENOSYS:
      return kNoSys;
    case ENOTCONN:
      return kNotConn;
    case ENOTDIR:
      return kNotDir;
    case ENOTEMPTY:
      return kNotEmpty;
    case ENOTRECOVERABLE:
      return kNotRecoverable;
    case ENOTSOCK:
      return kNotSock;
    case ENOTSUP:
      return kNotSup;  // == EOPNOTSUPP on Linux
    case ENOTTY:
      return kNotTy;
    case ENXIO:
      return kNxio;
    case EOVERFLOW:
      return kOverflow;
    case EOWNERDEAD:
      return kOwnerDead;
    case EPERM:
      return kPerm;
    case EPIPE:
      return kPipe;
    case EPROTO:
      return kProto;
    case EPROTONOSUPPORT:
      return kProtoNoSupport;
    case EPROTOTYPE:
      return kProtoType;
    case ERANGE:
      return kRange;
    case EROFS:
      return kRofs;
    case ESPIPE:
      return kSpipe;
    case ESRCH:
      return kSrch;
    case ESTALE:
      return kStale;
    case ETIMEDOUT:
      return kTimedOut;
    case ETXTBSY:
      return kTxtBsy;
    case EXDEV:
      return kXdev;
    default:
      return kIo;
  }
}

Errno errno_from_lookup(int err) { return err == EXDEV ? kNotCapable : errno_from_host(err); }

std::uint8_t filetype_from_mode(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFBLK:
      return kFiletypeBlockDevice;
    case S_IFCHR:
      return kFiletypeCharacterDevice;
    case S_IFDIR:
      return kFiletypeDirectory;
    case S_IFREG:
      return kFiletypeRegularFile;
    case S_IFSOCK:
      return kFiletypeSocketStream;
    case S_IFLNK:
      return kFiletypeSymbolicLink;
    default:
      return kFiletypeUnknown;  // FIFOs have no WASI file type
  }
}

Errno guest_iovecs(GuestMemory& m, std::uint32_t iovs, std::uint32_t iovs_len,
                   std::vector<struct iovec>& out) {
  if (m.range(iovs, std::uint64_t{iovs_len} * kIovecSize) == nullptr) return kFault;
  out.clear();
  out.reserve(std::min<std::uint32_t>(iovs_len, IOV_MAX));
  for (std::uint32_t i = 0; i < iovs_len; ++i) {
    std::uint32_t buf = 0;
    std::uint32_t len = 0;
    m.load(iovs + std::uint64_t{i} * kIovecSize, buf);
    m.load(iovs + std::uint64_t{i} * kIovecSize + 4, len);
    std::uint8_t* p = m.range(buf, len);
    if (p == nullptr) return kFault;
    if (out.size() < IOV_MAX) out.push_back({p, len});
  }
  return kSuccess;
}

namespace {
std::uint64_t timespec_ns(const struct timespec& t) {
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(t.tv_nsec);
}
}  // namespace

std::uint32_t filestat_size(Flavor flavor) { return flavor == Flavor::kPreview1 ? 64 : 56; }

void store_filestat(GuestMemory& m, Flavor flavor, std::uint32_t out, const struct stat& st) {
  std::uint8_t* p = m.range(out, filestat_size(flavor));
  std::memset(p, 0, filestat_size(flavor));
  m.store<std::uint64_t>(out + 0, st.st_dev);
  m.store<std::uint64_t>(out + 8, st.st_ino);
  m.store<std::uint8_t>(out + 16, filetype_from_mode(st.st_mode));
  std::uint32_t base = 24;  // preview 1: nlink u64 @24, size @32, atim @40, mtim @48, ctim @56
  if (flavor == Flavor::kPreview1) {
    m.store<std::uint64_t>(out + 24, st.st_nlink);
  } else {
    m.store<std::uint32_t>(out + 20, static_cast<std::uint32_t>(st.st_nlink));
    base = 16;  // snapshot 0: nlink u32 @20, size @24, atim @32, mtim @40, ctim @48
  }
  m.store<std::uint64_t>(out + base + 8, static_cast<std::uint64_t>(st.st_size));
  m.store<std::uint64_t>(out + base + 16, timespec_ns(st.st_atim));
  m.store<std::uint64_t>(out + base + 24, timespec_ns(st.st_mtim));
  m.store<std::uint64_t>(out + base + 32, timespec_ns(st.st_ctim));
}

Errno timespecs_from_fst(std::uint64_t atim, std::uint64_t mtim, std::uint32_t fst_flags,
                         struct timespec out[2]) {
  if ((fst_flags & ~0xFU) != 0) return kInval;
  auto one = [](bool set, bool now, std::uint64_t ns, struct timespec& t) {
    if (set && now) return false;
    if (now) {
      t = {0, UTIME_NOW};
    } else if (set) {
      t = {static_cast<time_t>(ns / 1'000'000'000ULL), static_cast<long>(ns % 1'000'000'000ULL)};
    } else {
      t = {0, UTIME_OMIT};
    }
    return true;
  };
  if (!one(fst_flags & kFstflagAtim, fst_flags & kFstflagAtimNow, atim, out[0])) return kInval;
  if (!one(fst_flags & kFstflagMtim, fst_flags & kFstflagMtimNow, mtim, out[1])) return kInval;
  return kSuccess;
}

// ---- the context ----------------------------------------------------------------------------

namespace {
constexpr std::uint32_t kMaxFds = 4096;

constexpr std::uint64_t kStdinRights =
    kRightFdRead | kRightFdFdstatSetFlags | kRightFdFilestatGet | kRightPollFdReadwrite;
constexpr std::uint64_t kStdoutRights = kRightFdWrite | kRightFdFdstatSetFlags | kRightFdSync |
                                        kRightFdDatasync | kRightFdFilestatGet |
                                        kRightPollFdReadwrite;
}  // namespace

WasiContext::State::State(WasiConfig config, UniqueFd interrupt_fd)
    : config_(std::move(config)),
      clock_(config_.clock != nullptr ? config_.clock : &SystemClock::instance()),
      interrupt_fd_(std::move(interrupt_fd)),
      stdin_bytes_(std::move(config_.stdin_bytes)) {
  // Stdio are character devices without seek rights, so wasi-libc treats them as terminals and
  // line-buffers stdout: log lines reach the log store as they are printed.
  FdEntry in;
  in.kind = FdEntry::Kind::kStdin;
  in.filetype = kFiletypeCharacterDevice;
  in.rights_base = kStdinRights;
  if (config_.stdin_fd >= 0) in.host.reset(config_.stdin_fd);
  fds.emplace(0, std::move(in));
  for (std::uint32_t fd : {1U, 2U}) {
    FdEntry out;
    out.kind = fd == 1 ? FdEntry::Kind::kStdout : FdEntry::Kind::kStderr;
    out.filetype = kFiletypeCharacterDevice;
    out.rights_base = kStdoutRights;
    fds.emplace(fd, std::move(out));
  }
}

WasiContext::State::Lookup WasiContext::State::fd_with(std::uint32_t fd, std::uint64_t rights) {
  auto it = fds.find(fd);
  if (it == fds.end()) return {nullptr, kBadf};
  if ((it->second.rights_base & rights) != rights) return {nullptr, kNotCapable};
  return {&it->second, kSuccess};
}

WasiContext::State::Lookup WasiContext::State::dir_with(std::uint32_t fd, std::uint64_t rights) {
  auto it = fds.find(fd);
  if (it == fds.end()) return {nullptr, kBadf};
  if (it->second.kind != FdEntry::Kind::kDirectory) return {nullptr, kNotDir};
  if ((it->second.rights_base & rights) != rights) return {nullptr, kNotCapable};
  return {&it->second, kSuccess};
}

std::optional<std::uint32_t> WasiContext::State::free_fd() const {
  std::uint32_t candidate = 0;
  for (const auto& [fd, entry] : fds) {
    if (fd != candidate) break;
    ++candidate;
  }
  if (candidate >= kMaxFds) return std::nullopt;
  return candidate;
}

std::uint64_t WasiContext::State::monotonic_ns() const {
  return static_cast<std::uint64_t>(clock_->now().time_since_epoch().count());
}

std::uint64_t WasiContext::State::realtime_ns() const {
  return static_cast<std::uint64_t>(clock_->wall_now().time_since_epoch().count());
}

void WasiContext::State::interrupt() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(interrupt_fd_.get(), &one, sizeof one);
}

bool WasiContext::State::wait_readable(int fd) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {interrupt_fd_.get(), POLLIN, 0}};
  for (;;) {
    int n = ::poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    return (p[1].revents & POLLIN) == 0;
  }
}

// ---- args and environ -----------------------------------------------------------------------

namespace {
// argv/environ layout: `count` u32 pointers at `ptrs`, the NUL-terminated strings at `buf`.
Errno store_string_list(GuestMemory& m, const std::vector<std::string>& list, std::uint32_t ptrs,
                        std::uint32_t buf) {
  std::uint64_t total = 0;
  for (const auto& s : list) total += s.size() + 1;
  if (m.range(ptrs, std::uint64_t{list.size()} * 4) == nullptr) return kFault;
  if (m.range(buf, total) == nullptr) return kFault;
  std::uint64_t at = buf;
  for (std::size_t i = 0; i < list.size(); ++i) {
    m.store<std::uint32_t>(ptrs + i * 4, static_cast<std::uint32_t>(at));
    std::uint8_t* p = m.range(at, list[i].size() + 1);
    std::memcpy(p, list[i].data(), list[i].size());
    p[list[i].size()] = 0;
    at += list[i].size() + 1;
  }
  return kSuccess;
}

Errno store_list_sizes(GuestMemory& m, const std::vector<std::string>& list,
                       std::uint32_t count_out, std::uint32_t size_out) {
  std::uint64_t total = 0;
  for (const auto& s : list) total += s.size() + 1;
  if (m.range(count_out, 4) == nullptr || m.range(size_out, 4) == nullptr) return kFault;
  m.store<std::uint32_t>(count_out, static_cast<std::uint32_t>(list.size()));
  m.store<std::uint32_t>(size_out, static_cast<std::uint32_t>(total));
  return kSuccess;
}
}  // namespace

Errno WasiContext::State::args_get(GuestMemory& m, std::uint32_t argv, std::uint32_t buf) {
  return store_string_list(m, config_.args, argv, buf);
}
Errno WasiContext::State::args_sizes_get(GuestMemory& m, std::uint32_t argc_out,
                                         std::uint32_t size_out) {
  return store_list_sizes(m, config_.args, argc_out, size_out);
}
Errno WasiContext::State::environ_get(GuestMemory& m, std::uint32_t environ, std::uint32_t buf) {
  return store_string_list(m, config_.env, environ, buf);
}
Errno WasiContext::State::environ_sizes_get(GuestMemory& m, std::uint32_t count_out,
                                            std::uint32_t size_out) {
  return store_list_sizes(m, config_.env, count_out, size_out);
}

// ---- clocks and random ----------------------------------------------------------------------

namespace {
// CPU-time clocks read the calling thread: an instance runs on one thread, so that thread's CPU
// time is the instance's ("process") CPU time; the agent's other threads are not the guest's.
std::optional<clockid_t> host_clock(std::uint32_t id) {
  switch (id) {
    case kClockRealtime:
      return CLOCK_REALTIME;
    case kClockMonotonic:
      return CLOCK_MONOTONIC;
    case kClockProcessCputime:
    case kClockThreadCputime:
      return CLOCK_THREAD_CPUTIME_ID;
    default:
      return std::nullopt;
  }
}
}  // namespace

Errno WasiContext::State::clock_res_get(GuestMemory& m, std::uint32_t id, std::uint32_t out) {
  auto clock = host_clock(id);
  if (!clock) return kInval;
  if (m.range(out, 8) == nullptr) return kFault;
  struct timespec res {};
  if (::clock_getres(*clock, &res) != 0) return errno_from_host(errno);
  m.store<std::uint64_t>(out, std::max<std::uint64_t>(timespec_ns(res), 1));
  return kSuccess;
}

Errno WasiContext::State::clock_time_get(GuestMemory& m, std::uint32_t id,
                                         std::uint64_t /*precision*/, std::uint32_t out) {
  auto clock = host_clock(id);
  if (!clock) return kInval;
  if (m.range(out, 8) == nullptr) return kFault;
  std::uint64_t ns = 0;
  if (id == kClockRealtime) {
    ns = realtime_ns();
  } else if (id == kClockMonotonic) {
    ns = monotonic_ns();
  } else {
    struct timespec t {};
    if (::clock_gettime(*clock, &t) != 0) return errno_from_host(errno);
    ns = timespec_ns(t);
  }
  m.store<std::uint64_t>(out, ns);
  return kSuccess;
}

Errno WasiContext::State::random_get(GuestMemory& m, std::uint32_t buf, std::uint32_t len) {
  std::uint8_t* p = m.range(buf, len);
  if (p == nullptr) return kFault;
  if (config_.random) {
    config_.random(std::span<std::uint8_t>(p, len));
    return kSuccess;
  }
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::getrandom(p + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_from_host(errno);
    }
    done += static_cast<std::size_t>(n);
  }
  return kSuccess;
}

// ---- poll_oneoff ----------------------------------------------------------------------------

namespace {
// A relative timeout of "forever" (UINT64_MAX ns) must not wrap into the past.
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}
}  // namespace

std::uint64_t WasiContext::State::readable_bytes(FdEntry& e) {
  if (e.kind == FdEntry::Kind::kStdin && !e.host.valid()) return stdin_bytes_.size() - stdin_pos_;
  if (e.kind == FdEntry::Kind::kFile) {
    struct stat st {};
    off_t pos = ::lseek(e.host.get(), 0, SEEK_CUR);
    if (::fstat(e.host.get(), &st) == 0 && pos >= 0 && st.st_size > pos) {
      return static_cast<std::uint64_t>(st.st_size - pos);
    }
  }
  return 0;
}

Errno WasiContext::State::poll_oneoff(GuestMemory& m, Flavor flavor, std::uint32_t in,
                                      std::uint32_t out, std::uint32_t nsubscriptions,
                                      std::uint32_t nevents_out) {
  if (nsubscriptions == 0) return kInval;
  // snapshot 0's clock subscription carries an extra u64 `identifier` first.
  const std::uint32_t sub_size = flavor == Flavor::kPreview1 ? kSubscriptionSize : 56;
  const std::uint32_t clock_at = flavor == Flavor::kPreview1 ? 16 : 24;
  if (m.range(in, std::uint64_t{nsubscriptions} * sub_size) == nullptr ||
      m.range(out, std::uint64_t{nsubscriptions} * kEventSize) == nullptr ||
      m.range(nevents_out, 4) == nullptr) {
    return kFault;
  }

  struct Event {
    std::uint64_t userdata;
    Errno error;
    std::uint8_t type;
    std::uint64_t nbytes;
    std::uint16_t flags;
  };
  struct Timer {
    std::uint64_t userdata;
    std::uint64_t deadline;  // monotonic ns
  };
  struct Waiter {
    std::uint64_t userdata;
    std::uint8_t type;
    int host_fd;
  };
  std::vector<Event> ready;
  std::vector<Timer> timers;
  std::vector<Waiter> waiters;
  const std::uint64_t now = monotonic_ns();

  for (std::uint32_t i = 0; i < nsubscriptions; ++i) {
    const std::uint64_t at = in + std::uint64_t{i} * sub_size;
    std::uint64_t userdata = 0;
    std::uint8_t tag = 0;
    m.load(at, userdata);
    m.load(at + 8, tag);
    if (tag == kEventtypeClock) {
      std::uint32_t id = 0;
      std::uint64_t timeout = 0;
      std::uint16_t flags = 0;
      m.load(at + clock_at, id);
      m.load(at + clock_at + 8, timeout);
      m.load(at + clock_at + 24, flags);
      std::uint64_t deadline = 0;
      if (id == kClockMonotonic) {
        deadline = (flags & kSubclockAbstime) != 0 ? timeout : saturating_add(now, timeout);
      } else if (id == kClockRealtime) {
        if ((flags & kSubclockAbstime) != 0) {
          std::uint64_t wall = realtime_ns();
          deadline = timeout > wall ? saturating_add(now, timeout - wall) : now;
        } else {
          deadline = saturating_add(now, timeout);
        }
      } else {
        // CPU-time clocks cannot be waited on here; unknown ids are invalid.
        Errno error = id <= kClockThreadCputime ? kNotSup : kInval;
        ready.push_back({userdata, error, kEventtypeClock, 0, 0});
        continue;
      }
      timers.push_back({userdata, deadline});
    } else if (tag == kEventtypeFdRead || tag == kEventtypeFdWrite) {
      std::uint32_t fd = 0;
      m.load(at + 16, fd);
      Lookup l = fd_with(fd, kRightPollFdReadwrite);
      if (l.error != kSuccess) {
        ready.push_back({userdata, l.error, tag, 0, 0});
        continue;
      }
      if (tag == kEventtypeFdRead && l.entry->kind == FdEntry::Kind::kStdin &&
          l.entry->host.valid()) {
        waiters.push_back({userdata, tag, l.entry->host.get()});
        continue;
      }
      // Files, directories, stdin bytes and the stdout/stderr sinks never block.
      std::uint64_t nbytes = tag == kEventtypeFdRead ? readable_bytes(*l.entry) : 0;
      ready.push_back({userdata, kSuccess, tag, nbytes, 0});
    } else {
      return kInval;
    }
  }

  // Wait (unless something is ready) for the earliest timer, a stdin fd, or interrupt().
  for (;;) {
    std::vector<struct pollfd> pfds;
    pfds.reserve(waiters.size() + 1);
    for (const auto& w : waiters) pfds.push_back({w.host_fd, POLLIN, 0});
    pfds.push_back({interrupt_fd_.get(), POLLIN, 0});
    std::optional<std::uint64_t> earliest;
    for (const auto& t : timers) earliest = std::min(earliest.value_or(t.deadline), t.deadline);
    struct timespec timeout {};
    const struct timespec* timeout_ptr = &timeout;
    const std::uint64_t waited_from = monotonic_ns();
    if (ready.empty()) {
      if (earliest) {
        std::uint64_t ns = *earliest > waited_from ? *earliest - waited_from : 0;
        timeout = {static_cast<time_t>(ns / 1'000'000'000ULL),
                   static_cast<long>(ns % 1'000'000'000ULL)};
      } else {
        timeout_ptr = nullptr;
      }
    }
    int n = ::ppoll(pfds.data(), pfds.size(), timeout_ptr, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_from_host(errno);
    }
    if ((pfds.back().revents & POLLIN) != 0) return kIntr;
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      short revents = pfds[i].revents;
      if (revents == 0) continue;
      int avail = 0;
      if (::ioctl(waiters[i].host_fd, FIONREAD, &avail) != 0) avail = 0;
      std::uint16_t flags = (revents & POLLHUP) != 0 ? kEventFdReadwriteHangup : 0;
      ready.push_back({waiters[i].userdata, kSuccess, waiters[i].type,
                       static_cast<std::uint64_t>(std::max(avail, 0)), flags});
    }
    // A timer fires when its deadline has passed on the context's clock, or when this wait
    // timed out on it (a manual test clock does not move while we sleep).
    const std::uint64_t after = monotonic_ns();
    const bool timed_out = n == 0 && timeout_ptr != nullptr && ready.empty();
    for (const auto& t : timers) {
      if (t.deadline <= after || (timed_out && earliest && t.deadline <= *earliest)) {
        ready.push_back({t.userdata, kSuccess, kEventtypeClock, 0, 0});
      }
    }
    if (!ready.empty()) break;
  }

  std::uint32_t count =
      static_cast<std::uint32_t>(std::min<std::size_t>(ready.size(), nsubscriptions));
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t at = out + std::uint64_t{i} * kEventSize;
    std::memset(m.range(at, kEventSize), 0, kEventSize);
    m.store<std::uint64_t>(at, ready[i].userdata);
    m.store<std::uint16_t>(at + 8, ready[i].error);
    m.store<std::uint8_t>(at + 10, ready[i].type);
    m.store<std::uint64_t>(at + 16, ready[i].nbytes);
    m.store<std::uint16_t>(at + 24, ready[i].flags);
  }
  m.store<std::uint32_t>(nevents_out, count);
  return kSuccess;
}

// ---- registration ---------------------------------------------------------------------------

namespace {

using State = WasiContext::State;

// Signature from a compact string: 'i' = i32, 'I' = i64 parameters; result errno i32.
FuncSig errno_sig(std::string_view params) {
  FuncSig sig;
  for (char c : params) sig.params.push_back(c == 'I' ? ValType::kI64 : ValType::kI32);
  sig.results.push_back(ValType::kI32);
  return sig;
}

std::uint32_t u32(RawValue v) { return static_cast<std::uint32_t>(v); }
std::uint64_t u64(RawValue v) { return v; }

using Body = std::function<Errno(State&, GuestMemory&, const RawValue*)>;

struct Entry {
  const char* name;
  const char* params;
  Body body;
};

std::vector<Entry> entries(Flavor f) {
  using M = GuestMemory;
  using R = const RawValue*;
  return {
      {"args_get", "ii", [](State& s, M& m, R a) { return s.args_get(m, u32(a[0]), u32(a[1])); }},
      {"args_sizes_get", "ii",
       [](State& s, M& m, R a) { return s.args_sizes_get(m, u32(a[0]), u32(a[1])); }},
      {"environ_get", "ii",
       [](State& s, M& m, R a) { return s.environ_get(m, u32(a[0]), u32(a[1])); }},
      {"environ_sizes_get", "ii",
       [](State& s, M& m, R a) { return s.environ_sizes_get(m, u32(a[0]), u32(a[1])); }},
      {"clock_res_get", "ii",
       [](State& s, M& m, R a) { return s.clock_res_get(m, u32(a[0]), u32(a[1])); }},
      {"clock_time_get", "iIi",
       [](State& s, M& m, R a) { return s.clock_time_get(m, u32(a[0]), u64(a[1]), u32(a[2])); }},
      {"fd_advise", "iIIi",
       [](State& s, M&, R a) { return s.fd_advise(u32(a[0]), u64(a[1]), u64(a[2]), u32(a[3])); }},
      {"fd_allocate", "iII",
       [](State& s, M&, R a) { return s.fd_allocate(u32(a[0]), u64(a[1]), u64(a[2])); }},
      {"fd_close", "i", [](State& s, M&, R a) { return s.fd_close(u32(a[0])); }},
      {"fd_datasync", "i", [](State& s, M&, R a) { return s.fd_datasync(u32(a[0])); }},
      {"fd_fdstat_get", "ii",
       [](State& s, M& m, R a) { return s.fd_fdstat_get(m, u32(a[0]), u32(a[1])); }},
      {"fd_fdstat_set_flags", "ii",
       [](State& s, M&, R a) { return s.fd_fdstat_set_flags(u32(a[0]), u32(a[1])); }},
      {"fd_fdstat_set_rights", "iII",
       [](State& s, M&, R a) { return s.fd_fdstat_set_rights(u32(a[0]), u64(a[1]), u64(a[2])); }},
      {"fd_filestat_get", "ii",
       [f](State& s, M& m, R a) { return s.fd_filestat_get(m, f, u32(a[0]), u32(a[1])); }},
      {"fd_filestat_set_size", "iI",
       [](State& s, M&, R a) { return s.fd_filestat_set_size(u32(a[0]), u64(a[1])); }},
      {"fd_filestat_set_times", "iIIi",
       [](State& s, M&, R a) {
         return s.fd_filestat_set_times(u32(a[0]), u64(a[1]), u64(a[2]), u32(a[3]));
       }},
      {"fd_pread", "iiiIi",
       [](State& s, M& m, R a) {
         return s.fd_pread(m, u32(a[0]), u32(a[1]), u32(a[2]), u64(a[3]), u32(a[4]));
       }},
      {"fd_prestat_get", "ii",
       [](State& s, M& m, R a) { return s.fd_prestat_get(m, u32(a[0]), u32(a[1])); }},
      {"fd_prestat_dir_name", "iii",
       [](State& s, M& m, R a) {
         return s.fd_prestat_dir_name(m, u32(a[0]), u32(a[1]), u32(a[2]));
       }},
      {"fd_pwrite", "iiiIi",
       [](State& s, M& m, R a) {
         return s.fd_pwrite(m, u32(a[0]), u32(a[1]), u32(a[2]), u64(a[3]), u32(a[4]));
       }},
      {"fd_read", "iiii",
       [](State& s, M& m, R a) {
         return s.fd_read(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]));
       }},
      {"fd_readdir", "iiiIi",
       [](State& s, M& m, R a) {
         return s.fd_readdir(m, u32(a[0]), u32(a[1]), u32(a[2]), u64(a[3]), u32(a[4]));
       }},
      {"fd_renumber", "ii", [](State& s, M&, R a) { return s.fd_renumber(u32(a[0]), u32(a[1])); }},
      {"fd_seek", "iIii",
       [f](State& s, M& m, R a) {
         return s.fd_seek(m, f, u32(a[0]), static_cast<std::int64_t>(a[1]), u32(a[2]), u32(a[3]));
       }},
      {"fd_sync", "i", [](State& s, M&, R a) { return s.fd_sync(u32(a[0])); }},
      {"fd_tell", "ii", [](State& s, M& m, R a) { return s.fd_tell(m, u32(a[0]), u32(a[1])); }},
      {"fd_write", "iiii",
       [](State& s, M& m, R a) {
         return s.fd_write(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]));
       }},
      {"path_create_directory", "iii",
       [](State& s, M& m, R a) {
         return s.path_create_directory(m, u32(a[0]), u32(a[1]), u32(a[2]));
       }},
      {"path_filestat_get", "iiiii",
       [f](State& s, M& m, R a) {
         return s.path_filestat_get(m, f, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]));
       }},
      {"path_filestat_set_times", "iiiiIIi",
       [](State& s, M& m, R a) {
         return s.path_filestat_set_times(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u64(a[4]),
                                          u64(a[5]), u32(a[6]));
       }},
      {"path_link", "iiiiiii",
       [](State& s, M& m, R a) {
         return s.path_link(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]), u32(a[5]),
                            u32(a[6]));
       }},
      {"path_open", "iiiiiIIii",
       [](State& s, M& m, R a) {
         return s.path_open(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]), u64(a[5]),
                            u64(a[6]), u32(a[7]), u32(a[8]));
       }},
      {"path_readlink", "iiiiii",
       [](State& s, M& m, R a) {
         return s.path_readlink(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]),
                                u32(a[5]));
       }},
      {"path_remove_directory", "iii",
       [](State& s, M& m, R a) {
         return s.path_remove_directory(m, u32(a[0]), u32(a[1]), u32(a[2]));
       }},
      {"path_rename", "iiiiii",
       [](State& s, M& m, R a) {
         return s.path_rename(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]), u32(a[5]));
       }},
      {"path_symlink", "iiiii",
       [](State& s, M& m, R a) {
         return s.path_symlink(m, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]), u32(a[4]));
       }},
      {"path_unlink_file", "iii",
       [](State& s, M& m, R a) { return s.path_unlink_file(m, u32(a[0]), u32(a[1]), u32(a[2])); }},
      {"poll_oneoff", "iiii",
       [f](State& s, M& m, R a) {
         return s.poll_oneoff(m, f, u32(a[0]), u32(a[1]), u32(a[2]), u32(a[3]));
       }},
      // Signals are not delivered to modules (preview 1 has no handlers to run).
      {"proc_raise", "i", [](State&, M&, R) { return kNoSys; }},
      {"sched_yield", "",
       [](State&, M&, R) {
         std::this_thread::yield();
         return kSuccess;
       }},
      {"random_get", "ii",
       [](State& s, M& m, R a) { return s.random_get(m, u32(a[0]), u32(a[1])); }},
      // No sockets are ever handed to a module (no preopened sockets, no sock_open in preview 1).
      {"sock_accept", "iii", [](State&, M&, R) { return kNotSup; }},
      {"sock_recv", "iiiiii", [](State&, M&, R) { return kNotSup; }},
      {"sock_send", "iiiii", [](State&, M&, R) { return kNotSup; }},
      {"sock_shutdown", "ii", [](State&, M&, R) { return kNotSup; }},
  };
}

}  // namespace

Result<std::shared_ptr<WasiContext>> WasiContext::create(WasiConfig config) {
  UniqueFd interrupt_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!interrupt_fd.valid()) return sys_error("creating the WASI interrupt eventfd", errno);
  std::vector<Preopen> preopens = config.preopens;
  auto state = std::make_unique<State>(std::move(config), std::move(interrupt_fd));
  std::uint32_t next = 3;
  for (const auto& preopen : preopens) {
    if (preopen.guest_path.empty()) {
      return errorf(Errc::kInvalidArgument, "WASI preopen {}: empty guest path",
                    preopen.host_dir.string());
    }
    UniqueFd dir(::open(preopen.host_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
      int err = errno;
      return make_error(err == ENOTDIR ? Errc::kInvalidArgument : errc_from_errno(err),
                        fmt::format("WASI preopen {} ({}): {}", preopen.guest_path,
                                    preopen.host_dir.string(), std::strerror(err)),
                        err);
    }
    FdEntry e;
    e.kind = FdEntry::Kind::kDirectory;
    e.host = std::move(dir);
    e.filetype = kFiletypeDirectory;
    const std::uint64_t mask = preopen.read_only ? ~kWriteRights : ~std::uint64_t{0};
    e.rights_base = kDirectoryRights & mask;
    e.rights_inheriting = (kDirectoryRights | kFileRights) & mask;
    e.preopen_path = preopen.guest_path;
    state->fds.emplace(next++, std::move(e));
  }
  return std::shared_ptr<WasiContext>(new WasiContext(std::move(state)));
}

WasiContext::WasiContext(std::unique_ptr<State> state) : state_(std::move(state)) {}
WasiContext::~WasiContext() = default;

void WasiContext::interrupt() { state_->interrupt(); }

std::vector<HostImport> WasiContext::imports() {
  std::vector<HostImport> out;
  // The host functions keep the state alive through this shared_ptr alias of the context.
  std::shared_ptr<State> state(shared_from_this(), state_.get());
  for (auto [module, flavor] : {std::pair{"wasi_snapshot_preview1", Flavor::kPreview1},
                                std::pair{"wasi_unstable", Flavor::kUnstable}}) {
    for (auto& entry : entries(flavor)) {
      HostImport imp;
      imp.module = module;
      imp.name = entry.name;
      imp.sig = errno_sig(entry.params);
      imp.fn = [state, body = std::move(entry.body)](
                   GuestMemory& m, const RawValue* args,
                   RawValue* results) -> std::optional<HostAbort> {
        results[0] = body(*state, m, args);
        return std::nullopt;
      };
      out.push_back(std::move(imp));
    }
    HostImport exit;
    exit.module = module;
    exit.name = "proc_exit";
    exit.sig.params = {ValType::kI32};
    exit.fn = [](GuestMemory&, const RawValue* args, RawValue*) -> std::optional<HostAbort> {
      HostAbort abort;
      abort.kind = HostAbort::Kind::kExit;
      abort.exit_code = u32(args[0]);
      return abort;
    };
    out.push_back(std::move(exit));
  }
  return out;
}

}  // namespace zlayer::wasm::wasi
