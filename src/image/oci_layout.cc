#include "image/oci_layout.h"

#include <fcntl.h>
#include <fmt/ranges.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

namespace zlayer::image {
namespace {

using nlohmann::json;

std::string quoted_list(const std::vector<std::string>& items) {
  if (items.empty()) return "none";
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += "\"" + item + "\"";
  }
  return out;
}

// Reads a JSON document from `path`; kNotFound/kInvalidArgument name the file.
Result<json> read_json(const std::filesystem::path& path, std::string_view what) {
  auto text = read_file(path);
  if (!text) {
    // The directory exists (checked first), so a missing file means a bad layout, not a missing
    // image: kInvalidArgument, like every other malformed-layout error.
    if (text.error().code == Errc::kNotFound) {
      return errorf(Errc::kInvalidArgument, "{} is missing: {} is not an OCI image layout",
                    path.string(), path.parent_path().string());
    }
    return unexpected(text.error().wrap(fmt::format("reading {}", path.string())));
  }
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return errorf(Errc::kInvalidArgument, "{} is not a JSON object (expected {})", path.string(),
                  what);
  }
  return doc;
}

std::string tag_of(const Descriptor& d) {
  auto it = d.annotations.find(std::string(kRefNameAnnotation));
  return it == d.annotations.end() ? std::string() : it->second;
}

bool is_name_component(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '+' || c == '-' ||
              c == '.' || c == '_';
    if (!ok) return false;
  }
  return s != "." && s != "..";
}

long sys_openat2(int dirfd, const char* path, open_how* how) {
  return ::syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

// For kernels without openat2 (< 5.6): resolve the path and check it stays under the layout.
Result<UniqueFd> open_beneath_fallback(const std::filesystem::path& dir,
                                       const std::string& relative, const std::string& name) {
  char dir_real[PATH_MAX];
  char blob_real[PATH_MAX];
  if (::realpath(dir.c_str(), dir_real) == nullptr) {
    return sys_error(fmt::format("resolving layout {}", dir.string()), errno);
  }
  auto blob_path = dir / relative;
  if (::realpath(blob_path.c_str(), blob_real) == nullptr) {
    if (errno == ENOENT) {
      return errorf(Errc::kNotFound, "OCI layout {} has no blob {} ({} is missing)", dir.string(),
                    name, relative);
    }
    return sys_error(fmt::format("resolving {}", blob_path.string()), errno);
  }
  std::string prefix = std::string(dir_real) + "/";
  if (std::string_view(blob_real).substr(0, prefix.size()) != prefix) {
    return errorf(Errc::kPermissionDenied,
                  "OCI layout {}: blob {} ({}) resolves to {}, outside the layout", dir.string(),
                  name, relative, blob_real);
  }
  int fd = ::open(blob_real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return sys_error(fmt::format("opening {}", blob_real), errno);
  return UniqueFd(fd);
}

}  // namespace

LayoutArgument parse_layout_argument(std::string_view arg) {
  auto colon = arg.rfind(':');
  if (colon == std::string_view::npos) return {std::filesystem::path(arg), std::nullopt};
  std::string_view after = arg.substr(colon + 1);
  if (after.find('/') != std::string_view::npos) return {std::filesystem::path(arg), std::nullopt};
  std::filesystem::path dir(arg.substr(0, colon));
  if (after.empty()) return {dir, std::nullopt};
  return {dir, std::string(after)};
}

Status check_layout_version(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return errorf(Errc::kNotFound, "OCI layout directory {} does not exist", dir.string());
    return sys_error(fmt::format("OCI layout directory {}", dir.string()), errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return errorf(Errc::kInvalidArgument, "{} is not a directory (expected an OCI image layout)",
                  dir.string());
  }
  auto path = dir / "oci-layout";
  ZLAYER_TRY(doc, read_json(path, "{\"imageLayoutVersion\":\"1.0.0\"}"));
  auto version = doc.find("imageLayoutVersion");
  if (version == doc.end() || !version->is_string()) {
    return errorf(Errc::kInvalidArgument,
                  "{}: \"imageLayoutVersion\" is missing (expected \"1.0.0\")", path.string());
  }
  auto text = version->get<std::string>();
  // Same major version: 1.x layouts are compatible by the spec's versioning rules.
  if (text != "1.0.0" && text.rfind("1.", 0) != 0) {
    return errorf(Errc::kInvalidArgument,
                  "{}: imageLayoutVersion \"{}\" is not supported (expected \"1.0.0\")",
                  path.string(), text);
  }
  return {};
}

Result<ImageIndex> read_layout_index(const std::filesystem::path& dir) {
  ZLAYER_CHECK(check_layout_version(dir));
  auto path = dir / "index.json";
  ZLAYER_CHECK(read_json(path, "an OCI image index"));  // a missing file is a bad layout
  ZLAYER_TRY(body, read_file(path));
  // index.json is an image index (image-layout.md): the same parser as a registry's index.
  auto doc = parse_manifest(body, media_type::kOciIndex);
  if (!doc) return unexpected(doc.error().wrap(path.string()));
  auto* index = std::get_if<ImageIndex>(&*doc);
  if (index == nullptr) {
    return errorf(Errc::kInvalidArgument, "{}: expected an image index, found an image manifest",
                  path.string());
  }
  return std::move(*index);
}

Result<std::vector<std::string>> list_layout_tags(const std::filesystem::path& dir) {
  ZLAYER_TRY(index, read_layout_index(dir));
  std::vector<std::string> tags;
  for (const auto& d : index.manifests) {
    if (auto tag = tag_of(d); !tag.empty()) tags.push_back(std::move(tag));
  }
  return tags;
}

Result<LayoutSelection> select_layout_image(const std::filesystem::path& dir,
                                            const std::optional<std::string>& tag) {
  ZLAYER_TRY(index, read_layout_index(dir));
  std::vector<std::string> tags;
  for (const auto& d : index.manifests) {
    if (auto t = tag_of(d); !t.empty()) tags.push_back(std::move(t));
  }
  if (index.manifests.empty()) {
    return errorf(Errc::kNotFound, "OCI layout {} holds no images (index.json has no manifests)",
                  dir.string());
  }
  if (!tag) {
    if (index.manifests.size() > 1) {
      return errorf(Errc::kInvalidArgument,
                    "OCI layout {} holds {} images (tags: {}); choose one with {}:TAG",
                    dir.string(), index.manifests.size(), quoted_list(tags), dir.string());
    }
    const Descriptor& only = index.manifests.front();
    return LayoutSelection{dir, tag_of(only), only};
  }
  const Descriptor* found = nullptr;
  for (const auto& d : index.manifests) {
    if (tag_of(d) != *tag) continue;
    if (found != nullptr && found->digest != d.digest) {
      return errorf(Errc::kInvalidArgument,
                    "OCI layout {}: tag \"{}\" names two different images ({} and {})",
                    dir.string(), *tag, found->digest.str(), d.digest.str());
    }
    found = &d;
  }
  if (found == nullptr) {
    return errorf(Errc::kNotFound, "OCI layout {} has no tag \"{}\" (tags found: {})", dir.string(),
                  *tag, quoted_list(tags));
  }
  return LayoutSelection{dir, *tag, *found};
}

Result<UniqueFd> open_layout_blob(const std::filesystem::path& dir, const Digest& digest) {
  // A Digest can be built by hand; its parts become path components, so check them here too.
  if (!is_name_component(digest.algorithm) || !is_name_component(digest.hex) ||
      digest.hex.find('.') != std::string::npos) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a digest that names a layout blob",
                  digest.str());
  }
  std::string relative = "blobs/" + digest.algorithm + "/" + digest.hex;
  std::string name = digest.str();
  UniqueFd dir_fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return sys_error(fmt::format("opening OCI layout {}", dir.string()), errno);

  open_how how{};
  // O_NONBLOCK: a FIFO planted as a blob must not block the open; it is refused below.
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long rc = sys_openat2(dir_fd.get(), relative.c_str(), &how);
  UniqueFd fd;
  if (rc >= 0) {
    fd.reset(static_cast<int>(rc));
  } else if (errno == ENOSYS) {
    ZLAYER_TRY(opened, open_beneath_fallback(dir, relative, name));
    fd = std::move(opened);
  } else if (errno == ENOENT) {
    return errorf(Errc::kNotFound, "OCI layout {} has no blob {} ({} is missing)", dir.string(),
                  name, relative);
  } else if (errno == EXDEV || errno == ELOOP) {
    return errorf(Errc::kPermissionDenied,
                  "OCI layout {}: blob {} ({}) is a link that leads outside the layout",
                  dir.string(), name, relative);
  } else {
    return sys_error(fmt::format("opening {} in OCI layout {}", relative, dir.string()), errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error(fmt::format("stat {}", relative), errno);
  if (!S_ISREG(st.st_mode)) {
    return errorf(Errc::kInvalidArgument, "OCI layout {}: blob {} ({}) is not a regular file",
                  dir.string(), name, relative);
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Result<std::string> read_layout_blob(const std::filesystem::path& dir, const Digest& digest,
                                     std::int64_t expected_size, std::int64_t max_size) {
  if (digest.algorithm != "sha256") {
    return errorf(Errc::kUnsupported, "OCI layout {}: blob {}: only sha256 digests are verified",
                  dir.string(), digest.str());
  }
  ZLAYER_TRY(fd, open_layout_blob(dir, digest));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return sys_error(fmt::format("stat blob {}", digest.str()), errno);
  if (expected_size >= 0 && st.st_size != expected_size) {
    return errorf(Errc::kInvalidArgument,
                  "OCI layout {}: blob {}: size mismatch: expected {} bytes, got {}", dir.string(),
                  digest.str(), expected_size, static_cast<std::int64_t>(st.st_size));
  }
  if (st.st_size > max_size) {
    return errorf(Errc::kResourceExhausted,
                  "OCI layout {}: blob {} is {} bytes, more than the {} allowed here", dir.string(),
                  digest.str(), static_cast<std::int64_t>(st.st_size), max_size);
  }
  std::string bytes;
  bytes.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (true) {
    if (done == bytes.size()) bytes.resize(bytes.size() + 4096);  // the file may have grown
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(fmt::format("reading blob {}", digest.str()), errno);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    if (static_cast<std::int64_t>(done) > max_size) {
      return errorf(Errc::kResourceExhausted, "OCI layout {}: blob {} grew past {} bytes",
                    dir.string(), digest.str(), max_size);
    }
  }
  bytes.resize(done);
  if (expected_size >= 0 && static_cast<std::int64_t>(done) != expected_size) {
    return errorf(Errc::kInvalidArgument,
                  "OCI layout {}: blob {}: size mismatch: expected {} bytes, got {}", dir.string(),
                  digest.str(), expected_size, done);
  }
  Digest actual = sha256_of(bytes);
  if (actual != digest) {
    return errorf(Errc::kInvalidArgument,
                  "OCI layout {}: blob {}: digest mismatch: got {} ({} bytes)", dir.string(),
                  digest.str(), actual.str(), done);
  }
  return bytes;
}

}  // namespace zlayer::image
