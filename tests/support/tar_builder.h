// Builds layer tarballs in memory for tests (libarchive, pax format): regular files, directories,
// symlinks, hardlinks, device nodes, fifos, OCI whiteouts, xattrs, and hostile entries (names
// with "..", absolute names) that a real tar tool would refuse to write. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace zlayer::testing {

enum class TarCompression { kNone, kGzip, kZstd };

struct TarEntryOptions {
  unsigned mode = 0;  // permission bits incl. setuid/setgid/sticky; 0 = 0644 files / 0755 dirs
  unsigned uid = 0;
  unsigned gid = 0;
  std::int64_t mtime = 1'600'000'000;  // unix seconds
  std::map<std::string, std::string> xattrs;
};

class TarBuilder {
 public:
  TarBuilder& file(std::string_view name, std::string_view content, TarEntryOptions o = {});
  TarBuilder& dir(std::string_view name, TarEntryOptions o = {});
  TarBuilder& symlink(std::string_view name, std::string_view target, TarEntryOptions o = {});
  TarBuilder& hardlink(std::string_view name, std::string_view target);
  TarBuilder& char_device(std::string_view name, unsigned major, unsigned minor,
                          TarEntryOptions o = {});
  TarBuilder& block_device(std::string_view name, unsigned major, unsigned minor,
                           TarEntryOptions o = {});
  TarBuilder& fifo(std::string_view name, TarEntryOptions o = {});
  // OCI whiteout for `path` (writes "<dir>/.wh.<base>").
  TarBuilder& whiteout(std::string_view path);
  // OCI opaque whiteout for directory `dir` (writes "<dir>/.wh..wh..opq").
  TarBuilder& opaque(std::string_view dir);

  // The tar stream (uncompressed), and the same compressed.
  [[nodiscard]] std::string tar() const;
  [[nodiscard]] std::string build(TarCompression compression) const;

 private:
  struct Entry {
    std::string name;
    unsigned type = 0;  // AE_IF* value
    std::string content;
    std::string link;  // symlink target
    std::string hardlink;
    unsigned dev_major = 0, dev_minor = 0;
    TarEntryOptions options;
  };
  std::vector<Entry> entries_;
};

// Compresses `data` with gzip or zstd (libarchive's raw filters); kNone returns it unchanged.
std::string compress(std::string_view data, TarCompression compression);

}  // namespace zlayer::testing
