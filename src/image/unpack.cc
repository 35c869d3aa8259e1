#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "image/manifest.h"
#include "image/tree_at.h"

namespace zlayer::image {
namespace {

using detail::open_beneath;

constexpr std::size_t kReadBlock = 1 << 20;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueName = ".wh..wh..opq";
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      return "plain tar";
    case Compression::kUnknown:
      break;
  }
  return "unknown";
}

// "./a//b/../c/" -> "a/c"; nullopt for absolute names and ".." above the root. "" is the root.
std::optional<std::string> normalize(std::string_view raw) {
  if (raw.starts_with('/')) return std::nullopt;
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i <= raw.size()) {
    std::size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(part);
  }
  return out;
}

std::pair<std::string, std::string> split(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string join(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

bool overlay_xattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

// The decompressed layer stream, hashed as it passes to the tar reader. Plain blobs are read
// straight from the file; compressed ones through a libarchive "raw" reader with one filter.
class LayerStream {
 public:
  LayerStream(int fd, Compression compression) : fd_(fd), compression_(compression) {}
  ~LayerStream() {
    if (raw_ != nullptr) archive_read_free(raw_);
  }
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  // Returns an error message, empty on success.
  std::string open() {
    if (compression_ == Compression::kNone) {
      buffer_.resize(kReadBlock);
      return {};
    }
    raw_ = archive_read_new();
    archive_read_support_format_raw(raw_);
    if (compression_ == Compression::kGzip) {
      archive_read_support_filter_gzip(raw_);
    } else {
      archive_read_support_filter_zstd(raw_);
    }
    if (archive_read_open_fd(raw_, fd_, kReadBlock) != ARCHIVE_OK) {
      return archive_error_string(raw_) != nullptr ? archive_error_string(raw_) : "cannot open";
    }
    // The filter is only engaged when its bidder recognised the data; anything else would be
    // read back unchanged and mistaken for the uncompressed stream.
    if (archive_filter_count(raw_) < 2) {
      return fmt::format("the blob is not {}", compression_name(compression_));
    }
    struct archive_entry* entry = nullptr;
    int r = archive_read_next_header(raw_, &entry);
    if (r == ARCHIVE_EOF) {
      eof_ = true;
    } else if (r < ARCHIVE_WARN) {
      return archive_error_string(raw_) != nullptr ? archive_error_string(raw_) : "bad stream";
    }
    return {};
  }

  // Next block of uncompressed bytes: >0 bytes at *out, 0 at the end, -1 on error (error()).
  la_ssize_t next(const void** out) {
    for (;;) {
      if (eof_) return 0;
      if (raw_ == nullptr) {
        ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
        if (n < 0) {
          if (errno == EINTR) continue;
          error_ = fmt::format("reading the blob: {}", std::strerror(errno));
          return -1;
        }
        if (n == 0) {
          eof_ = true;
          return 0;
        }
        *out = buffer_.data();
        account(*out, static_cast<std::size_t>(n));
        return n;
      }
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(raw_, &block, &size, &offset);
      if (r == ARCHIVE_EOF) {
        eof_ = true;
        return 0;
      }
      if (r < ARCHIVE_WARN) {
        const char* message = archive_error_string(raw_);
        error_ = fmt::format("bad {} stream: {}", compression_name(compression_),
                             message != nullptr ? message : "read error");
        return -1;
      }
      if (size == 0) continue;
      *out = block;
      account(block, size);
      return static_cast<la_ssize_t>(size);
    }
  }

  // Reads (and hashes) what follows the tar end marker, so the diff_id covers the whole stream.
  bool drain() {
    const void* block = nullptr;
    la_ssize_t n = 0;
    while ((n = next(&block)) > 0) {
    }
    return n == 0;
  }

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::int64_t bytes() const { return bytes_; }
  Digest digest() { return sha_.finish(); }

 private:
  void account(const void* data, std::size_t size) {
    sha_.update(data, size);
    bytes_ += static_cast<std::int64_t>(size);
  }

  int fd_;
  Compression compression_;
  struct archive* raw_ = nullptr;
  std::vector<char> buffer_;
  Sha256 sha_;
  std::int64_t bytes_ = 0;
  bool eof_ = false;
  std::string error_;
};

la_ssize_t stream_read(struct archive* tar, void* client, const void** buffer) {
  auto* stream = static_cast<LayerStream*>(client);
  la_ssize_t n = stream->next(buffer);
  if (n < 0) archive_set_error(tar, EIO, "%s", stream->error().c_str());
  return n;
}

// Writes the entries of one layer beneath `root`. All names are resolved with open_beneath() on
// the parent and the final component is handled with *at() calls that never follow it.
class Extractor {
 public:
  Extractor(UniqueFd root, std::string_view layer)
      : root_(std::move(root)), layer_(layer), is_root_(::geteuid() == 0) {}

  Status extract(struct archive* tar, struct archive_entry* entry);
  // Deferred work: forward hardlinks, whiteouts, opaque markers, directory modes and mtimes.
  Status finish();

 private:
  struct DirMeta {
    unsigned mode = 0;
    struct timespec times[2]{};
    dev_t dev = 0;
    ino_t ino = 0;
  };
  struct PendingLink {
    std::string entry;
    std::string name;
    std::string target;
  };

  tl::unexpected<Error> escape(std::string_view detail = {}) const {
    return errorf(Errc::kInvalidArgument, "layer {}: entry \"{}\" escapes the snapshot{}", layer_,
                  entry_, detail);
  }
  tl::unexpected<Error> invalid(std::string_view what) const {
    return errorf(Errc::kInvalidArgument, "layer {}: entry \"{}\": {}", layer_, entry_, what);
  }
  tl::unexpected<Error> fail(std::string_view what, int err) const {
    if (err == EXDEV || err == ELOOP) return escape(fmt::format(" ({})", what));
    return sys_error(fmt::format("layer {}: entry \"{}\": {}", layer_, entry_, what), err);
  }

  Result<UniqueFd> resolve_dir(const std::string& path, bool create);
  Result<int> parent_fd(const std::string& parent);
  Status remove_existing(int dirfd, const std::string& name);
  Status apply_fd_meta(int fd, struct archive_entry* entry, bool set_mode);
  Status apply_path_meta(int dirfd, const std::string& name, struct archive_entry* entry,
                         bool set_mode);
  Status set_xattrs_fd(int fd, struct archive_entry* entry);
  Status set_xattrs_path(int dirfd, const std::string& name, struct archive_entry* entry);
  Status set_xattrs(struct archive_entry* entry,
                    const std::function<int(const char*, const void*, std::size_t)>& set,
                    spdlog::level::level_enum refused_level = spdlog::level::warn);
  Status make_dir(const std::string& path, struct archive_entry* entry);
  Status write_file(struct archive* tar, const std::string& path, struct archive_entry* entry);
  Status make_symlink(const std::string& path, struct archive_entry* entry);
  Status make_node(const std::string& path, struct archive_entry* entry);
  // Returns false when the target does not exist (yet).
  Result<bool> link(const std::string& name, const std::string& target);
  Status record_dir(int fd, const std::string& path, struct archive_entry* entry);

  UniqueFd root_;
  std::string layer_;
  bool is_root_;
  std::string entry_;  // raw name of the entry being written, for messages
  std::string cached_parent_;
  UniqueFd cached_fd_;
  std::map<std::string, DirMeta> dirs_;
  std::vector<std::string> whiteouts_;
  std::vector<std::string> opaque_;
  std::vector<PendingLink> pending_links_;
};

// Opens directory `path` (relative to the root) as O_PATH, creating missing components one at a
// time (0755, owned by us) when `create`.
Result<UniqueFd> Extractor::resolve_dir(const std::string& path, bool create) {
  if (path.empty()) {
    UniqueFd fd(::openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return fail("opening the snapshot root", errno);
    return fd;
  }
  UniqueFd fd(open_beneath(root_.get(), path, O_PATH | O_DIRECTORY));
  if (fd.valid()) return fd;
  int err = errno;
  if (err == EXDEV || err == ELOOP) return escape(fmt::format(" (resolving \"{}\")", path));
  if (err == ENOTDIR) return invalid(fmt::format("\"{}\" is not a directory", path));
  if (err != ENOENT || !create) return fail(fmt::format("opening \"{}\"", path), err);
  // Walk down from the root; each step is resolved beneath the root again.
  UniqueFd current(::openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string prefix;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string component = path.substr(i, j - i);
    prefix = join(prefix, component);
    UniqueFd next(open_beneath(root_.get(), prefix, O_PATH | O_DIRECTORY));
    if (!next.valid()) {
      err = errno;
      if (err == EXDEV || err == ELOOP) return escape(fmt::format(" (resolving \"{}\")", prefix));
      if (err == ENOTDIR) return invalid(fmt::format("\"{}\" is not a directory", prefix));
      if (err != ENOENT) return fail(fmt::format("opening \"{}\"", prefix), err);
      if (::mkdirat(current.get(), component.c_str(), 0755) != 0 && errno != EEXIST) {
        return fail(fmt::format("creating directory \"{}\"", prefix), errno);
      }
      next.reset(::openat(current.get(), component.c_str(),
                          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return fail(fmt::format("opening \"{}\"", prefix), errno);
    }
    current = std::move(next);
    i = j + 1;
  }
  return current;
}

// The parent directory of an entry, created when missing. Tars list siblings together, so the
// last parent is cached; any removal invalidates the cache (it could change what a path means).
Result<int> Extractor::parent_fd(const std::string& parent) {
  if (cached_fd_.valid() && cached_parent_ == parent) return cached_fd_.get();
  ZLAYER_TRY(fd, resolve_dir(parent, true));
  cached_fd_ = std::move(fd);
  cached_parent_ = parent;
  return cached_fd_.get();
}

Status Extractor::remove_existing(int dirfd, const std::string& name) {
  // `dirfd` may be the cached fd: keep it open until the removal is done.
  UniqueFd invalidated = std::move(cached_fd_);
  cached_parent_.clear();
  if (int err = detail::remove_entry(dirfd, name); err != 0) {
    return fail("removing the existing entry", err);
  }
  return {};
}

Status Extractor::set_xattrs_fd(int fd, struct archive_entry* entry) {
  return set_xattrs(entry, [fd](const char* key, const void* value, std::size_t size) {
    return ::fsetxattr(fd, key, value, size, 0);
  });
}

// Symlinks and device nodes cannot be opened for writing: their xattrs go through the parent's
// /proc/self/fd link plus the name, with lsetxattr (which never follows the final component).
// user.* xattrs are not allowed on those (xattr(7)), hence the quieter log there.
Status Extractor::set_xattrs_path(int dirfd, const std::string& name, struct archive_entry* entry) {
  std::string path = fmt::format("/proc/self/fd/{}/{}", dirfd, name);
  return set_xattrs(
      entry,
      [&path](const char* key, const void* value, std::size_t size) {
        return ::lsetxattr(path.c_str(), key, value, size, 0);
      },
      spdlog::level::debug);
}

// Applies the entry's xattrs through `set` (0 or -1 with errno), dropping overlayfs' own
// (a layer must not steer overlayfs); EPERM/ENOTSUP are logged at `refused_level` and skipped.
Status Extractor::set_xattrs(struct archive_entry* entry,
                             const std::function<int(const char*, const void*, std::size_t)>& set,
                             spdlog::level::level_enum refused_level) {
  if (archive_entry_xattr_reset(entry) == 0) return {};
  const char* key = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
    if (overlay_xattr(key)) {
      spdlog::debug("layer {}: entry \"{}\": dropping xattr {}", layer_, entry_, key);
      continue;
    }
    if (set(key, value, size) != 0) {
      if (errno == EPERM || errno == ENOTSUP) {
        spdlog::log(refused_level, "layer {}: entry \"{}\": cannot set xattr {}: {}", layer_,
                    entry_, key, std::strerror(errno));
        continue;
      }
      return fail(fmt::format("setting xattr {}", key), errno);
    }
  }
  return {};
}

struct timespec entry_time(struct archive_entry* entry, bool atime) {
  struct timespec ts {};
  if (atime && archive_entry_atime_is_set(entry)) {
    ts.tv_sec = archive_entry_atime(entry);
    ts.tv_nsec = archive_entry_atime_nsec(entry);
  } else {
    ts.tv_sec = archive_entry_mtime(entry);
    ts.tv_nsec = archive_entry_mtime_nsec(entry);
  }
  return ts;
}

// chown before chmod: chown clears setuid/setgid.
Status Extractor::apply_fd_meta(int fd, struct archive_entry* entry, bool set_mode) {
  if (is_root_ && ::fchown(fd, static_cast<uid_t>(archive_entry_uid(entry)),
                           static_cast<gid_t>(archive_entry_gid(entry))) != 0) {
    return fail("chown", errno);
  }
  ZLAYER_CHECK(set_xattrs_fd(fd, entry));
  if (set_mode) {
    if (::fchmod(fd, archive_entry_perm(entry) & 07777) != 0) return fail("chmod", errno);
    struct timespec times[2] = {entry_time(entry, true), entry_time(entry, false)};
    if (::futimens(fd, times) != 0) return fail("setting times", errno);
  }
  return {};
}

Status Extractor::apply_path_meta(int dirfd, const std::string& name, struct archive_entry* entry,
                                  bool set_mode) {
  if (is_root_ &&
      ::fchownat(dirfd, name.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                 static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) != 0) {
    return fail("chown", errno);
  }
  ZLAYER_CHECK(set_xattrs_path(dirfd, name, entry));
  if (set_mode) {
    // Only for nodes we have just created with mknodat/mkfifoat under this parent fd: the name
    // cannot be a symlink, so fchmodat's following of it is harmless.
    if (::fchmodat(dirfd, name.c_str(), archive_entry_perm(entry) & 07777, 0) != 0) {
      return fail("chmod", errno);
    }
  }
  struct timespec times[2] = {entry_time(entry, true), entry_time(entry, false)};
  if (::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return fail("setting times", errno);
  }
  return {};
}

Status Extractor::record_dir(int fd, const std::string& path, struct archive_entry* entry) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("stat", errno);
  DirMeta meta;
  meta.mode = archive_entry_perm(entry) & 07777;
  meta.times[0] = entry_time(entry, true);
  meta.times[1] = entry_time(entry, false);
  meta.dev = st.st_dev;
  meta.ino = st.st_ino;
  dirs_[path] = meta;
  return {};
}

Status Extractor::make_dir(const std::string& path, struct archive_entry* entry) {
  if (path.empty()) {
    ZLAYER_CHECK(apply_fd_meta(root_.get(), entry, false));
    return record_dir(root_.get(), path, entry);
  }
  auto [parent, name] = split(path);
  ZLAYER_TRY(dirfd, parent_fd(parent));
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
    if (errno != EEXIST) return fail("creating directory", errno);
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return fail("stat", errno);
    if (!S_ISDIR(st.st_mode)) {
      ZLAYER_CHECK(remove_existing(dirfd, name));
      ZLAYER_TRY(again, parent_fd(parent));
      dirfd = again;
      if (::mkdirat(dirfd, name.c_str(), 0700) != 0) return fail("creating directory", errno);
    }
  }
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return fail("opening the new directory", errno);
  ZLAYER_CHECK(apply_fd_meta(fd.get(), entry, false));
  return record_dir(fd.get(), path, entry);
}

Status Extractor::write_file(struct archive* tar, const std::string& path,
                             struct archive_entry* entry) {
  if (path.empty()) return invalid("the snapshot root must be a directory");
  auto [parent, name] = split(path);
  ZLAYER_TRY(dirfd, parent_fd(parent));
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::openat(dirfd, name.c_str(), kFlags, 0600));
  if (!fd.valid() && errno == EEXIST) {
    ZLAYER_CHECK(remove_existing(dirfd, name));
    ZLAYER_TRY(again, parent_fd(parent));
    dirfd = again;
    fd.reset(::openat(dirfd, name.c_str(), kFlags, 0600));
  }
  if (!fd.valid()) return fail("creating file", errno);
  std::int64_t end = 0;
  for (;;) {
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(tar, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* message = archive_error_string(tar);
      return invalid(fmt::format("corrupt or truncated archive: {}",
                                 message != nullptr ? message : "read error"));
    }
    const char* data = static_cast<const char*>(block);
    while (size > 0) {
      ssize_t n = ::pwrite(fd.get(), data, size, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail("writing", errno);
      }
      data += n;
      offset += n;
      size -= static_cast<std::size_t>(n);
    }
    end = std::max<std::int64_t>(end, offset);
  }
  // Sparse files end in a hole that no block covers.
  if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > end &&
      ::ftruncate(fd.get(), archive_entry_size(entry)) != 0) {
    return fail("extending", errno);
  }
  return apply_fd_meta(fd.get(), entry, true);
}

Status Extractor::make_symlink(const std::string& path, struct archive_entry* entry) {
  if (path.empty()) return invalid("the snapshot root must be a directory");
  const char* target = archive_entry_symlink(entry);
  if (target == nullptr || *target == '\0') return invalid("symlink without a target");
  auto [parent, name] = split(path);
  ZLAYER_TRY(dirfd, parent_fd(parent));
  if (::symlinkat(target, dirfd, name.c_str()) != 0) {
    if (errno != EEXIST) return fail("creating symlink", errno);
    ZLAYER_CHECK(remove_existing(dirfd, name));
    ZLAYER_TRY(again, parent_fd(parent));
    dirfd = again;
    if (::symlinkat(target, dirfd, name.c_str()) != 0) return fail("creating symlink", errno);
  }
  return apply_path_meta(dirfd, name, entry, false);
}

Status Extractor::make_node(const std::string& path, struct archive_entry* entry) {
  if (path.empty()) return invalid("the snapshot root must be a directory");
  unsigned type = archive_entry_filetype(entry);
  if ((type == AE_IFCHR || type == AE_IFBLK) && !is_root_) {
    spdlog::warn("layer {}: entry \"{}\": skipping device node (needs root)", layer_, entry_);
    return {};
  }
  auto [parent, name] = split(path);
  ZLAYER_TRY(dirfd, parent_fd(parent));
  mode_t mode = (type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO) | 0600;
  dev_t dev = type == AE_IFIFO
                  ? 0
                  : ::makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
  if (::mknodat(dirfd, name.c_str(), mode, dev) != 0) {
    if (errno != EEXIST) return fail("creating node", errno);
    ZLAYER_CHECK(remove_existing(dirfd, name));
    ZLAYER_TRY(again, parent_fd(parent));
    dirfd = again;
    if (::mknodat(dirfd, name.c_str(), mode, dev) != 0) return fail("creating node", errno);
  }
  return apply_path_meta(dirfd, name, entry, true);
}

Result<bool> Extractor::link(const std::string& name_path, const std::string& target_path) {
  if (name_path == target_path) return true;  // a link to itself changes nothing
  if (target_path.empty()) return invalid("hardlink to the snapshot root");
  auto [tparent, tname] = split(target_path);
  auto target_dir = resolve_dir(tparent, false);
  if (!target_dir) {
    if (target_dir.error().code == Errc::kNotFound) return false;
    return unexpected(target_dir.error());
  }
  struct stat st {};
  if (::fstatat(target_dir->get(), tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return fail(fmt::format("hardlink target \"{}\"", target_path), errno);
  }
  if (S_ISDIR(st.st_mode)) return invalid(fmt::format("hardlink to directory \"{}\"", target_path));
  if (name_path.empty()) return invalid("the snapshot root must be a directory");
  auto [parent, name] = split(name_path);
  ZLAYER_TRY(dirfd, parent_fd(parent));
  // Flags 0: a symlink target is linked itself, never followed.
  if (::linkat(target_dir->get(), tname.c_str(), dirfd, name.c_str(), 0) != 0) {
    if (errno != EEXIST) return fail(fmt::format("hardlinking to \"{}\"", target_path), errno);
    ZLAYER_CHECK(remove_existing(dirfd, name));
    ZLAYER_TRY(again, parent_fd(parent));
    if (::linkat(target_dir->get(), tname.c_str(), again, name.c_str(), 0) != 0) {
      return fail(fmt::format("hardlinking to \"{}\"", target_path), errno);
    }
  }
  return true;
}

Status Extractor::extract(struct archive* tar, struct archive_entry* entry) {
  const char* raw = archive_entry_pathname(entry);
  if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
  if (raw == nullptr) {
    entry_ = "?";
    return invalid("entry without a name");
  }
  entry_ = raw;
  auto path = normalize(entry_);
  if (!path) return escape();
  auto [parent, name] = split(*path);

  if (name.starts_with(kWhiteoutPrefix)) {
    if (name == kOpaqueName) {
      ZLAYER_CHECK(resolve_dir(parent, true));
      opaque_.push_back(parent);
      return {};
    }
    if (name.starts_with(".wh..wh.")) return {};  // AUFS bookkeeping (.wh..wh.plnk etc.)
    std::string hidden = name.substr(kWhiteoutPrefix.size());
    if (hidden.empty() || hidden == "." || hidden == "..") return invalid("malformed whiteout");
    // Checked now so a whiteout through a planted symlink fails at its own entry.
    ZLAYER_CHECK(parent_fd(parent));
    whiteouts_.push_back(join(parent, hidden));
    return {};
  }

  if (const char* hardlink = archive_entry_hardlink(entry); hardlink != nullptr) {
    auto target = normalize(hardlink);
    if (!target) return escape(fmt::format(" (hardlink to \"{}\")", hardlink));
    ZLAYER_TRY(done, link(*path, *target));
    if (!done) pending_links_.push_back({entry_, *path, *target});
    return {};
  }

  switch (archive_entry_filetype(entry)) {
    case AE_IFDIR:
      return make_dir(*path, entry);
    case AE_IFREG:
      return write_file(tar, *path, entry);
    case AE_IFLNK:
      return make_symlink(*path, entry);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      return make_node(*path, entry);
    default:
      spdlog::warn("layer {}: entry \"{}\": skipping unsupported file type", layer_, entry_);
      return {};
  }
}

Status Extractor::finish() {
  for (const auto& pending : pending_links_) {
    entry_ = pending.entry;
    ZLAYER_TRY(done, link(pending.name, pending.target));
    if (!done) {
      return invalid(fmt::format("hardlink target \"{}\" is not in the layer", pending.target));
    }
  }
  // Whiteouts hide lower layers only: a name this layer creates stays; a directory this layer
  // creates over a whited-out name becomes opaque so the lower directory's contents stay hidden.
  for (const auto& path : whiteouts_) {
    entry_ = path;
    auto [parent, name] = split(path);
    ZLAYER_TRY(dirfd, parent_fd(parent));
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) opaque_.push_back(path);
      continue;
    }
    if (errno != ENOENT) return fail("stat", errno);
    if (::mknodat(dirfd, name.c_str(), S_IFCHR, ::makedev(0, 0)) != 0) {
      if (errno == EPERM) {
        return make_error(Errc::kPermissionDenied,
                          fmt::format("layer {}: whiteout \"{}\": creating a 0:0 character "
                                      "device needs root",
                                      layer_, path),
                          EPERM);
      }
      return fail("creating whiteout", errno);
    }
  }
  for (const auto& path : opaque_) {
    entry_ = path;
    UniqueFd fd;
    if (path.empty()) {
      fd.reset(::dup(root_.get()));
    } else {
      auto [parent, name] = split(path);
      ZLAYER_TRY(dirfd, parent_fd(parent));
      fd.reset(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) continue;  // replaced by a non-directory later in the layer
    }
    if (::fsetxattr(fd.get(), kOpaqueXattr, "y", 1, 0) != 0) {
      if (errno == EPERM) {
        return make_error(Errc::kPermissionDenied,
                          fmt::format("layer {}: opaque whiteout on \"{}\": setting {} needs root",
                                      layer_, path, kOpaqueXattr),
                          EPERM);
      }
      return fail("marking the directory opaque", errno);
    }
  }
  // Directory modes and mtimes last: creating children changed the mtimes, and a read-only mode
  // would have blocked a non-root unpack. The inode check skips directories replaced since.
  for (const auto& [path, meta] : dirs_) {
    entry_ = path;
    UniqueFd fd;
    if (path.empty()) {
      fd.reset(::dup(root_.get()));
    } else {
      auto [parent, name] = split(path);
      auto dirfd = resolve_dir(parent, false);
      if (!dirfd) continue;
      fd.reset(
          ::openat(dirfd->get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || st.st_dev != meta.dev ||
        st.st_ino != meta.ino) {
      continue;
    }
    if (::fchmod(fd.get(), meta.mode) != 0) return fail("chmod", errno);
    if (::futimens(fd.get(), meta.times) != 0) return fail("setting times", errno);
  }
  return {};
}

}  // namespace

Result<LayerStats> unpack_layer(const std::filesystem::path& snapshot_dir,
                                const std::filesystem::path& blob_path, std::string_view media_type,
                                std::string_view layer_name) {
  UniqueFd blob(::open(blob_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!blob.valid()) {
    return sys_error(fmt::format("layer {}: opening blob {}", layer_name, blob_path.string()),
                     errno);
  }
  char magic[4] = {};
  ssize_t got = ::pread(blob.get(), magic, sizeof magic, 0);
  if (got < 0) {
    return sys_error(fmt::format("layer {}: reading blob {}", layer_name, blob_path.string()),
                     errno);
  }
  Compression by_magic = compression_from_magic(std::string_view(magic, static_cast<size_t>(got)));
  Compression compression = compression_from_media_type(media_type);
  if (compression == Compression::kUnknown) {
    compression = by_magic;
  } else if (compression != by_magic) {
    spdlog::warn("layer {}: media type {} says {}, but the blob looks like {}; using the latter",
                 layer_name, media_type, compression_name(compression), compression_name(by_magic));
    compression = by_magic;
  }

  UniqueFd root(::open(snapshot_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    return sys_error(
        fmt::format("layer {}: opening snapshot {}", layer_name, snapshot_dir.string()), errno);
  }

  LayerStream stream(blob.get(), compression);
  if (auto message = stream.open(); !message.empty()) {
    return errorf(Errc::kInvalidArgument, "layer {}: {}", layer_name, message);
  }
  struct archive* tar = archive_read_new();
  struct TarCloser {
    struct archive* a;
    ~TarCloser() { archive_read_free(a); }
  } closer{tar};
  archive_read_support_format_tar(tar);
  if (archive_read_open(tar, &stream, nullptr, stream_read, nullptr) != ARCHIVE_OK) {
    const char* message = archive_error_string(tar);
    return errorf(Errc::kInvalidArgument, "layer {}: not a tar archive ({}): {}", layer_name,
                  compression_name(compression), message != nullptr ? message : "unreadable");
  }

  Extractor extractor(std::move(root), layer_name);
  LayerStats stats;
  for (;;) {
    struct archive_entry* entry = nullptr;
    int r = archive_read_next_header(tar, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* message = archive_error_string(tar);
      return errorf(Errc::kInvalidArgument,
                    "layer {}: corrupt or truncated archive after {} entries: {}", layer_name,
                    stats.entries, message != nullptr ? message : "read error");
    }
    if (r == ARCHIVE_WARN) {
      spdlog::debug("layer {}: {}", layer_name, archive_error_string(tar));
    }
    ++stats.entries;
    ZLAYER_CHECK(extractor.extract(tar, entry));
  }
  ZLAYER_CHECK(extractor.finish());
  if (!stream.drain()) {
    return errorf(Errc::kInvalidArgument, "layer {}: {}", layer_name, stream.error());
  }
  stats.uncompressed_bytes = stream.bytes();
  stats.diff_id = stream.digest();
  return stats;
}

}  // namespace zlayer::image
