#include "support/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <stdexcept>

namespace zlayer::testing {
namespace {

struct WriteBuffer {
  std::string data;
};

la_ssize_t write_cb(struct archive*, void* client, const void* buf, size_t len) {
  static_cast<WriteBuffer*>(client)->data.append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}

void check(struct archive* a, int rc) {
  if (rc < ARCHIVE_WARN) throw std::runtime_error(archive_error_string(a));
}

}  // namespace

TarBuilder& TarBuilder::file(std::string_view name, std::string_view content, TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFREG, std::string(content), "", "", 0, 0, o});
  return *this;
}
TarBuilder& TarBuilder::dir(std::string_view name, TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFDIR, "", "", "", 0, 0, o});
  return *this;
}
TarBuilder& TarBuilder::symlink(std::string_view name, std::string_view target, TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFLNK, "", std::string(target), "", 0, 0, o});
  return *this;
}
TarBuilder& TarBuilder::hardlink(std::string_view name, std::string_view target) {
  entries_.push_back({std::string(name), AE_IFREG, "", "", std::string(target), 0, 0, {}});
  return *this;
}
TarBuilder& TarBuilder::char_device(std::string_view name, unsigned major, unsigned minor,
                                    TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFCHR, "", "", "", major, minor, o});
  return *this;
}
TarBuilder& TarBuilder::block_device(std::string_view name, unsigned major, unsigned minor,
                                     TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFBLK, "", "", "", major, minor, o});
  return *this;
}
TarBuilder& TarBuilder::fifo(std::string_view name, TarEntryOptions o) {
  entries_.push_back({std::string(name), AE_IFIFO, "", "", "", 0, 0, o});
  return *this;
}

TarBuilder& TarBuilder::whiteout(std::string_view path) {
  std::string p(path);
  auto slash = p.rfind('/');
  std::string name = slash == std::string::npos
                         ? ".wh." + p
                         : p.substr(0, slash + 1) + ".wh." + p.substr(slash + 1);
  return file(name, "");
}

TarBuilder& TarBuilder::opaque(std::string_view dir_name) {
  std::string d(dir_name);
  if (!d.empty() && d.back() != '/') d.push_back('/');
  return file(d + ".wh..wh..opq", "");
}

std::string TarBuilder::tar() const {
  WriteBuffer out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 0);
  check(a, archive_write_open(a, &out, nullptr, write_cb, nullptr));
  for (const auto& e : entries_) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_copy_pathname(entry, e.name.c_str());
    if (!e.hardlink.empty()) {
      archive_entry_copy_hardlink(entry, e.hardlink.c_str());
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_perm(entry, 0644);
      archive_entry_set_size(entry, 0);
    } else {
      archive_entry_set_filetype(entry, e.type);
      unsigned mode = e.options.mode != 0 ? e.options.mode : (e.type == AE_IFDIR ? 0755 : 0644);
      if (e.type == AE_IFLNK && e.options.mode == 0) mode = 0777;
      archive_entry_set_perm(entry, mode);
      archive_entry_set_uid(entry, e.options.uid);
      archive_entry_set_gid(entry, e.options.gid);
      archive_entry_set_mtime(entry, e.options.mtime, 0);
      if (e.type == AE_IFLNK) archive_entry_copy_symlink(entry, e.link.c_str());
      if (e.type == AE_IFCHR || e.type == AE_IFBLK) {
        archive_entry_set_rdevmajor(entry, e.dev_major);
        archive_entry_set_rdevminor(entry, e.dev_minor);
      }
      archive_entry_set_size(entry,
                             e.type == AE_IFREG ? static_cast<la_int64_t>(e.content.size()) : 0);
      for (const auto& [key, value] : e.options.xattrs) {
        archive_entry_xattr_add_entry(entry, key.c_str(), value.data(), value.size());
      }
    }
    check(a, archive_write_header(a, entry));
    if (e.hardlink.empty() && e.type == AE_IFREG && !e.content.empty()) {
      archive_write_data(a, e.content.data(), e.content.size());
    }
    archive_entry_free(entry);
  }
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out.data;
}

std::string compress(std::string_view data, TarCompression compression) {
  if (compression == TarCompression::kNone) return std::string(data);
  WriteBuffer out;
  struct archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  if (compression == TarCompression::kGzip) {
    archive_write_add_filter_gzip(a);
    // No timestamp in the gzip header: equal layers must give equal blobs (and digests), so
    // images built twice share their layers as real builds do.
    archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);
  } else {
    archive_write_add_filter_zstd(a);
  }
  archive_write_set_bytes_per_block(a, 0);
  check(a, archive_write_open(a, &out, nullptr, write_cb, nullptr));
  struct archive_entry* entry = archive_entry_new();
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_pathname(entry, "data");
  archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
  check(a, archive_write_header(a, entry));
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(entry);
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out.data;
}

std::string TarBuilder::build(TarCompression compression) const {
  return compress(tar(), compression);
}

}  // namespace zlayer::testing
