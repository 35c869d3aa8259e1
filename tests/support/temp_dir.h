// A temporary directory for one test, removed (without following symlinks) on destruction.
// Tests point ZLAYER_ROOT_DIR/ZLAYER_RUNTIME_DIR/ZLAYER_WASM_CACHE_DIR into one of these.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/paths.h"

namespace zlayer::testing {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "zlayer-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Paths for an agent whose every directory lives under this temp dir.
  [[nodiscard]] Paths paths() const;

 private:
  std::filesystem::path path_;
};

}  // namespace zlayer::testing
