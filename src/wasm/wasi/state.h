// Internal to wasm/wasi: the fd table of one WasiContext and the bodies of the preview-1
// functions, split by theme over wasi.cc (args, environ, clocks, random, poll, proc, sockets),
// fd_ops.cc (fd_*) and path_ops.cc (path_*). Every body takes raw guest arguments, checks every
// pointer and length against guest memory first (EFAULT before any side effect) and returns a
// WASI errno. Not a public API; used by one instance's thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/fs.h"
#include "wasm/engine/engine.h"
#include "wasm/wasi/abi.h"
#include "wasm/wasi/wasi.h"

namespace zlayer::wasm::wasi {

// Which module name the guest imported: wasi_unstable (snapshot 0) differs from preview 1 in
// whence numbering, the filestat layout (u32 nlink, 56 bytes) and the clock subscription layout.
enum class Flavor { kPreview1, kUnstable };

struct DirEntryCopy {
  std::string name;
  std::uint64_t ino = 0;
  std::uint8_t filetype = abi::kFiletypeUnknown;
};

struct FdEntry {
  enum class Kind { kStdin, kStdout, kStderr, kFile, kDirectory };
  Kind kind = Kind::kFile;
  UniqueFd host;  // kFile, kDirectory, and kStdin when reading a host fd
  std::uint8_t filetype = abi::kFiletypeUnknown;
  std::uint64_t rights_base = 0;
  std::uint64_t rights_inheriting = 0;
  std::uint16_t fdflags = 0;
  std::optional<std::string> preopen_path;  // set for preopened directories (fd_prestat_*)
  std::vector<DirEntryCopy> dir_entries;    // fd_readdir snapshot, refreshed at cookie 0
};

class WasiContext::State {
 public:
  State(WasiConfig config, UniqueFd interrupt_fd);

  // Result of the lookup helpers: the entry, or the errno to return.
  struct Lookup {
    FdEntry* entry = nullptr;
    abi::Errno error = abi::kSuccess;
  };
  // EBADF when `fd` is not open, ENOTCAPABLE when it lacks any bit of `rights`.
  Lookup fd_with(std::uint32_t fd, std::uint64_t rights);
  // As fd_with, plus ENOTDIR when it is not a directory.
  Lookup dir_with(std::uint32_t fd, std::uint64_t rights);
  // Lowest free fd number; EMFILE past the table limit.
  std::optional<std::uint32_t> free_fd() const;

  // args, environ, clocks, random, poll, proc, sched, sockets (wasi.cc)
  abi::Errno args_get(GuestMemory& m, std::uint32_t argv, std::uint32_t buf);
  abi::Errno args_sizes_get(GuestMemory& m, std::uint32_t argc_out, std::uint32_t size_out);
  abi::Errno environ_get(GuestMemory& m, std::uint32_t environ, std::uint32_t buf);
  abi::Errno environ_sizes_get(GuestMemory& m, std::uint32_t count_out, std::uint32_t size_out);
  abi::Errno clock_res_get(GuestMemory& m, std::uint32_t id, std::uint32_t out);
  abi::Errno clock_time_get(GuestMemory& m, std::uint32_t id, std::uint64_t precision,
                            std::uint32_t out);
  abi::Errno random_get(GuestMemory& m, std::uint32_t buf, std::uint32_t len);
  abi::Errno poll_oneoff(GuestMemory& m, Flavor flavor, std::uint32_t in, std::uint32_t out,
                         std::uint32_t nsubscriptions, std::uint32_t nevents_out);

  // fd_* (fd_ops.cc)
  abi::Errno fd_advise(std::uint32_t fd, std::uint64_t offset, std::uint64_t len,
                       std::uint32_t advice);
  abi::Errno fd_allocate(std::uint32_t fd, std::uint64_t offset, std::uint64_t len);
  abi::Errno fd_close(std::uint32_t fd);
  abi::Errno fd_datasync(std::uint32_t fd);
  abi::Errno fd_fdstat_get(GuestMemory& m, std::uint32_t fd, std::uint32_t out);
  abi::Errno fd_fdstat_set_flags(std::uint32_t fd, std::uint32_t flags);
  abi::Errno fd_fdstat_set_rights(std::uint32_t fd, std::uint64_t base, std::uint64_t inheriting);
  abi::Errno fd_filestat_get(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::uint32_t out);
  abi::Errno fd_filestat_set_size(std::uint32_t fd, std::uint64_t size);
  abi::Errno fd_filestat_set_times(std::uint32_t fd, std::uint64_t atim, std::uint64_t mtim,
                                   std::uint32_t fst_flags);
  abi::Errno fd_pread(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                      std::uint64_t offset, std::uint32_t nread_out);
  abi::Errno fd_prestat_get(GuestMemory& m, std::uint32_t fd, std::uint32_t out);
  abi::Errno fd_prestat_dir_name(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                 std::uint32_t path_len);
  abi::Errno fd_pwrite(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                       std::uint64_t offset, std::uint32_t nwritten_out);
  abi::Errno fd_read(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                     std::uint32_t nread_out);
  abi::Errno fd_readdir(GuestMemory& m, std::uint32_t fd, std::uint32_t buf, std::uint32_t buf_len,
                        std::uint64_t cookie, std::uint32_t bufused_out);
  abi::Errno fd_renumber(std::uint32_t fd, std::uint32_t to);
  abi::Errno fd_seek(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::int64_t offset,
                     std::uint32_t whence, std::uint32_t newoffset_out);
  abi::Errno fd_sync(std::uint32_t fd);
  abi::Errno fd_tell(GuestMemory& m, std::uint32_t fd, std::uint32_t offset_out);
  abi::Errno fd_write(GuestMemory& m, std::uint32_t fd, std::uint32_t iovs, std::uint32_t iovs_len,
                      std::uint32_t nwritten_out);

  // path_* (path_ops.cc)
  abi::Errno path_create_directory(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                   std::uint32_t path_len);
  abi::Errno path_filestat_get(GuestMemory& m, Flavor flavor, std::uint32_t fd, std::uint32_t flags,
                               std::uint32_t path, std::uint32_t path_len, std::uint32_t out);
  abi::Errno path_filestat_set_times(GuestMemory& m, std::uint32_t fd, std::uint32_t flags,
                                     std::uint32_t path, std::uint32_t path_len, std::uint64_t atim,
                                     std::uint64_t mtim, std::uint32_t fst_flags);
  abi::Errno path_link(GuestMemory& m, std::uint32_t old_fd, std::uint32_t old_flags,
                       std::uint32_t old_path, std::uint32_t old_path_len, std::uint32_t new_fd,
                       std::uint32_t new_path, std::uint32_t new_path_len);
  abi::Errno path_open(GuestMemory& m, std::uint32_t fd, std::uint32_t dirflags, std::uint32_t path,
                       std::uint32_t path_len, std::uint32_t oflags, std::uint64_t rights_base,
                       std::uint64_t rights_inheriting, std::uint32_t fdflags,
                       std::uint32_t fd_out);
  abi::Errno path_readlink(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                           std::uint32_t path_len, std::uint32_t buf, std::uint32_t buf_len,
                           std::uint32_t bufused_out);
  abi::Errno path_remove_directory(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                                   std::uint32_t path_len);
  abi::Errno path_rename(GuestMemory& m, std::uint32_t fd, std::uint32_t old_path,
                         std::uint32_t old_path_len, std::uint32_t new_fd, std::uint32_t new_path,
                         std::uint32_t new_path_len);
  abi::Errno path_symlink(GuestMemory& m, std::uint32_t old_path, std::uint32_t old_path_len,
                          std::uint32_t fd, std::uint32_t new_path, std::uint32_t new_path_len);
  abi::Errno path_unlink_file(GuestMemory& m, std::uint32_t fd, std::uint32_t path,
                              std::uint32_t path_len);

  // Blocks until `fd` is readable or interrupt(); false when interrupted.
  bool wait_readable(int fd);
  void interrupt();

  std::map<std::uint32_t, FdEntry> fds;

 private:
  WasiConfig config_;
  const Clock* clock_;
  UniqueFd interrupt_fd_;  // eventfd; readable once interrupt() was called
  std::string stdin_bytes_;
  std::size_t stdin_pos_ = 0;

  std::uint64_t monotonic_ns() const;
  std::uint64_t realtime_ns() const;
  // Bytes still to read on `e` (poll_oneoff nbytes): remaining stdin bytes, or file size minus
  // offset.
  std::uint64_t readable_bytes(FdEntry& e);
  abi::Errno read_stdin(FdEntry& in, const std::vector<struct iovec>& iov, std::uint64_t& n);
};

// Shared helpers of the three .cc files.
abi::Errno errno_from_host(int err);
// The errno after a path lookup below a preopen failed: EXDEV (the lookup would leave the
// preopen) becomes ENOTCAPABLE, everything else maps as errno_from_host.
abi::Errno errno_from_lookup(int err);
std::uint8_t filetype_from_mode(unsigned mode);
// Reads `iovs_len` iovecs at `iovs` and checks that each buffer lies inside memory. At most
// IOV_MAX are returned (a short read/write, as POSIX allows). EFAULT when anything is outside.
abi::Errno guest_iovecs(GuestMemory& m, std::uint32_t iovs, std::uint32_t iovs_len,
                        std::vector<struct iovec>& out);
// Stores a filestat in the layout of `flavor` at `out` (memory already checked).
void store_filestat(GuestMemory& m, Flavor flavor, std::uint32_t out, const struct stat& st);
std::uint32_t filestat_size(Flavor flavor);
// Converts WASI (atim, mtim, fst_flags) to utimensat times; EINVAL on conflicting/unknown flags.
abi::Errno timespecs_from_fst(std::uint64_t atim, std::uint64_t mtim, std::uint32_t fst_flags,
                              struct timespec out[2]);

}  // namespace zlayer::wasm::wasi
