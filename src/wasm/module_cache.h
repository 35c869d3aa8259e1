// The module cache of the WASM backend: module bytes of artifacts on disk by digest under
// $ZLAYER_WASM_CACHE_DIR (runtime WasmConfig cache_dir) — `<dir>/sha256/<hex>.wasm`, written
// atomically (temp, fsync, rename) so a crash never leaves half a module — and, within one
// process, decoded + validated + instrumented modules by (digest, check interval), so a second
// create of the same module neither reads nor parses it again. A later compiled tier (wasm2c)
// keeps its objects beside the bytes under the same digest. Thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "image/digest.h"
#include "wasm/engine/engine.h"

namespace zlayer::wasm {

class ModuleCache {
 public:
  // `dir` is created on first store. Several processes may share it.
  explicit ModuleCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // `<dir>/sha256/<hex>.wasm`.
  [[nodiscard]] std::filesystem::path path_of(const image::Digest& digest) const;

  // The module `digest` names, decoded for `check_interval` (engine LoadOptions): from memory,
  // else from the disk cache, else from `fetch` (which returns the module's bytes, e.g. the
  // content store's blob) — the bytes are then checked against `digest` and stored on disk.
  // `name` labels error messages (file or image reference).
  // Errors: kInvalidArgument (digest mismatch, invalid module naming what is wrong), kUnsupported
  // (a component), fetch's errors, errno-mapped cache write errors naming the file.
  Result<std::shared_ptr<const Module>> get(const image::Digest& digest,
                                            std::uint64_t check_interval, const std::string& name,
                                            const std::function<Result<std::string>()>& fetch);

  // A local module file (.wasm or .wat): decoded once per process for each (path, device, inode,
  // size, mtime, check_interval) — an edited file is decoded again — and not copied to the disk
  // cache: it is on disk already, and hashing it for a digest would cost more than it saves.
  // Errors: kNotFound / errno-mapped naming the file, load_module's, kUnsupported (a component).
  Result<std::shared_ptr<const Module>> get_file(const std::filesystem::path& path,
                                                 std::uint64_t check_interval,
                                                 const std::string& name);

  // How many times get()/get_file() decoded a module (load_module) in this object — for tests and
  // stats.
  [[nodiscard]] std::uint64_t loads() const;

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  // Decodes `bytes` and remembers the module under `key` (the first of two racing decodes wins).
  Result<std::shared_ptr<const Module>> load(const std::string& key, const std::string& bytes,
                                             std::uint64_t check_interval, const std::string& name);

  // "<digest>/<interval>" or "file:<path>:<dev>:<ino>:<size>:<mtime ns>/<interval>"
  std::map<std::string, std::shared_ptr<const Module>> modules_;
  std::uint64_t loads_ = 0;
};

}  // namespace zlayer::wasm
