// The agent's directories, from the ZLAYER_* environment variables (defaults as upstream):
// ZLAYER_ROOT_DIR (/var/lib/zlayer) holds durable state — state.db, content store, snapshots,
// volumes; ZLAYER_RUNTIME_DIR (/var/run/zlayer) holds what dies with the machine — sockets,
// locks, bundles, mounts; ZLAYER_WASM_CACHE_DIR (/var/lib/zlayer/wasm) holds compiled modules.
// docs/design.md §1 gives the full layout. Values only; thread-safe.
#pragma once

#include <filesystem>

#include "core/error.h"

namespace zlayer {

struct Paths {
  std::filesystem::path root_dir;
  std::filesystem::path runtime_dir;
  std::filesystem::path wasm_cache_dir;

  // Reads the environment. Relative values are made absolute against the current directory.
  static Paths from_env();

  [[nodiscard]] std::filesystem::path state_db() const { return root_dir / "state.db"; }
  // Content store: blobs/sha256/<hex>, plus ingest/ for downloads in progress.
  [[nodiscard]] std::filesystem::path content_dir() const { return root_dir / "content"; }
  // One directory per unpacked layer, keyed by diff_id hex (docs/design.md §2).
  [[nodiscard]] std::filesystem::path snapshots_dir() const { return root_dir / "snapshots"; }
  [[nodiscard]] std::filesystem::path volumes_dir() const { return root_dir / "volumes"; }
  [[nodiscard]] std::filesystem::path containers_dir() const { return root_dir / "containers"; }
  [[nodiscard]] std::filesystem::path locks_dir() const { return runtime_dir / "locks"; }
};

}  // namespace zlayer
