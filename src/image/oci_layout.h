// Reading an OCI image layout directory (image-spec image-layout.md: `oci-layout`, `index.json`,
// `blobs/<alg>/<hex>`), as umoci and skopeo's `oci:` transport write it, for
// `zlayer-agent image import DIR[:TAG] [REF]`. Tags are the index.json entries'
// `org.opencontainers.image.ref.name` annotations. Blob reads never leave the layout directory
// and are digest-checked. Stateless free functions; callable from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "image/digest.h"
#include "image/manifest.h"

namespace zlayer::image {

// The annotation that names an index.json entry (image-spec annotations.md).
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// One entry of index.json, chosen for import.
struct LayoutSelection {
  std::filesystem::path dir;  // the layout directory
  std::string tag;            // its ref.name annotation; empty when the entry has none
  Descriptor descriptor;      // an image manifest or an image index (media type says which)
};

// "DIR" or "DIR:TAG" from one command-line argument.
struct LayoutArgument {
  std::filesystem::path dir;
  std::optional<std::string> tag;
};

// Splits `arg` at its last ':' only when what follows is non-empty and has no '/', so
// "/srv/a:b/layout" is a directory and "/srv/layout:v1" is directory + tag. "layout:" is
// "layout" without a tag. A directory whose own name ends in ":x" cannot be named without a
// tag; give one ("dir:x:latest").
LayoutArgument parse_layout_argument(std::string_view arg);

// Checks `dir`/oci-layout is {"imageLayoutVersion":"1.0.0"} (any 1.x is accepted).
// Errors: kNotFound when `dir` does not exist; kInvalidArgument when it is not a directory, the
// file is missing ("… is not an OCI image layout"), not JSON, or names another version;
// errno-mapped others.
Status check_layout_version(const std::filesystem::path& dir);

// Checks oci-layout and parses `dir`/index.json (image-index.md).
// Errors: those of check_layout_version; kInvalidArgument naming index.json (and the bad field)
// when it is missing, not an image index, or a descriptor is malformed.
Result<ImageIndex> read_layout_index(const std::filesystem::path& dir);

// The ref.name annotations of index.json, in file order (entries without one are skipped).
// Errors: those of read_layout_index.
Result<std::vector<std::string>> list_layout_tags(const std::filesystem::path& dir);

// Picks the index.json entry to import: the one whose ref.name is `tag`; with no tag, the only
// entry. Errors: those of read_layout_index; kNotFound when `tag` is not there (the message
// lists the tags found) or index.json has no entries; kInvalidArgument when no tag was given and
// there are several entries (lists them and asks for DIR:TAG); kInvalidArgument when two entries
// carry the same tag.
Result<LayoutSelection> select_layout_image(const std::filesystem::path& dir,
                                            const std::optional<std::string>& tag);

// Opens blobs/<algorithm>/<hex> read-only without leaving `dir`: `..` and symlinks that point
// outside the layout are refused (openat2 RESOLVE_BENEATH), and only a regular file is accepted.
// The bytes are not checked here; whoever reads them must verify the digest.
// Errors: kNotFound (no such blob, naming it); kPermissionDenied when the path resolves outside
// the layout; kInvalidArgument when it is not a regular file; errno-mapped others.
Result<UniqueFd> open_layout_blob(const std::filesystem::path& dir, const Digest& digest);

// Reads a whole blob (manifests, configs — small documents) via open_layout_blob and verifies
// its sha256 and, when `expected_size` ≥ 0, its size (bytes).
// Errors: those of open_layout_blob; kInvalidArgument "digest mismatch"/"size mismatch" naming
// the blob; kUnsupported for algorithms other than sha256; kResourceExhausted when the blob is
// larger than `max_size` bytes (a manifest has no business being bigger than a few MiB).
Result<std::string> read_layout_blob(const std::filesystem::path& dir, const Digest& digest,
                                     std::int64_t expected_size = -1,
                                     std::int64_t max_size = std::int64_t{64} << 20);

}  // namespace zlayer::image
