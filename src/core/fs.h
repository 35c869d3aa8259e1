// File-system helpers shared by every component: an owning file descriptor, crash-safe file
// replacement (temp name, fsync, rename, fsync of the directory), advisory locks, and recursive
// removal that never follows symlinks. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace zlayer {

// Owns one file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Waits for the next connection on listening socket `listener` (accept4, SOCK_CLOEXEC) until
// `wake_fd` becomes readable — the way a server thread is told to stop. Returns the client, or
// an invalid UniqueFd when woken or when poll fails for good; a failed accept is retried.
UniqueFd accept_until_woken(int listener, int wake_fd);

// Both ends of a pipe (pipe2 with O_CLOEXEC). Errors: errno-mapped.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
Result<Pipe> make_pipe();

// Writes `content` to `path` atomically: a temp file in the same directory, fsync, rename over
// `path`, fsync the directory. A crash leaves either the old or the new file, never a mix.
// mode: permission bits of the new file. Errors: errno-mapped (kResourceExhausted on ENOSPC).
// durability: kDurable (the default) also survives a power loss; kUntilReboot skips the two
// fsyncs — still atomic for readers and across our own crash (the page cache outlives the
// process), for runtime state that a reboot makes meaningless anyway (a container's bundle, its
// monitor's pid and exit files: the container itself does not survive a reboot).
enum class Durability { kDurable, kUntilReboot };
Status atomic_write_file(const std::filesystem::path& path, std::string_view content,
                         unsigned mode = 0644, Durability durability = Durability::kDurable);

// Reads a whole regular file. Errors: kNotFound, errno-mapped others.
Result<std::string> read_file(const std::filesystem::path& path);

// mkdir -p with `mode` for the directories it creates.
Status make_dirs(const std::filesystem::path& path, unsigned mode = 0755);

// Removes `path` and everything below it without following symlinks (a symlink is removed, not
// its target). Missing `path` is success. Errors: errno-mapped.
Status remove_tree(const std::filesystem::path& path);

// openat2(dirfd, path, flags|O_CLOEXEC) with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS: absolute
// paths, ".." above dirfd, symlinks leading out of dirfd and magic links fail (EXDEV/ELOOP), so a
// name chosen by untrusted input (a layer entry, a WASI guest path) never leaves the tree at dirfd.
// Retries the kernel's EAGAIN (a concurrent rename). `mode`: permission bits of a file created
// with O_CREAT (ignored otherwise). Returns the new fd or -1 with errno set. Needs Linux >= 5.6.
int open_beneath(int dirfd, const std::string& path, std::uint64_t flags, unsigned mode = 0);

// fsync of a directory, so a rename inside it is durable.
Status fsync_dir(const std::filesystem::path& dir);

// An exclusive advisory lock (flock) on a lock file, held until destruction. Works across
// processes and across threads of one process (each FileLock opens its own description).
class FileLock {
 public:
  // Blocks until the lock on `path` (created if missing, parent directories too) is held.
  static Result<FileLock> acquire(const std::filesystem::path& path);
  // Returns kUnavailable at once when another holder has it.
  static Result<FileLock> try_acquire(const std::filesystem::path& path);
  // A shared lock: any number of shared holders at once, none while an exclusive one is held.
  // Blocks until granted. (Pulls hold it shared while prune takes it exclusively.)
  static Result<FileLock> acquire_shared(const std::filesystem::path& path);

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A fresh private temporary directory under `parent` (mkdtemp), named `prefix`XXXXXX.
Result<std::filesystem::path> make_temp_dir(const std::filesystem::path& parent,
                                            std::string_view prefix);

}  // namespace zlayer
