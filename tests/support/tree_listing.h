// Describes a directory tree as sorted text lines, one per entry, so tests can compare a whole
// tree with an expected listing: `path type+mode uid:gid [-> target] [= "content"] [dev M:m]
// [opaque] [mtime=N]`. Never follows symlinks. Not thread-safe with writers of the same tree.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace zlayer::testing {

struct ListingOptions {
  bool mtimes = false;   // append mtime=<unix seconds> (directories included)
  std::string skip;      // a relative path whose subtree (and itself) is left out
  bool contents = true;  // append = "content" for regular files up to 64 bytes
};

// Lines for every entry below `root` (not `root` itself), sorted by path. Type letters: d f l c
// b p s. Mode is 4 octal digits. Directories with trusted.overlay.opaque=y say "opaque".
std::vector<std::string> list_tree(const std::filesystem::path& root,
                                   const ListingOptions& options = {});

}  // namespace zlayer::testing
