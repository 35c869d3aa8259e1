#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include "core/fs.h"

namespace zlayer::testing {

TempDir::TempDir(std::string_view prefix) {
  // /var/tmp rather than /tmp: overlayfs upper dirs and trusted.* xattrs need a real filesystem,
  // and /tmp may be a tmpfs on some machines.
  auto dir = make_temp_dir("/var/tmp", prefix);
  if (!dir) {
    ADD_FAILURE() << dir.error().message;
    return;
  }
  path_ = *dir;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (auto ok = remove_tree(path_); !ok) ADD_FAILURE() << ok.error().message;
}

Paths TempDir::paths() const {
  return Paths{path_ / "root", path_ / "run", path_ / "root" / "wasm"};
}

}  // namespace zlayer::testing
