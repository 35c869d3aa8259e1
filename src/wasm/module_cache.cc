#include "wasm/module_cache.h"

#include <fmt/format.h>

#include "core/fs.h"
#include "image/wasm_artifact.h"

namespace zlayer::wasm {

std::filesystem::path ModuleCache::path_of(const image::Digest& digest) const {
  return dir_ / digest.algorithm / (digest.hex + ".wasm");
}

std::uint64_t ModuleCache::loads() const {
  std::lock_guard lock(mutex_);
  return loads_;
}

Result<std::shared_ptr<const Module>> ModuleCache::get(
    const image::Digest& digest, std::uint64_t check_interval, const std::string& name,
    const std::function<Result<std::string>()>& fetch) {
  const std::string key = fmt::format("{}/{}", digest.str(), check_interval);
  {
    std::lock_guard lock(mutex_);
    if (auto it = modules_.find(key); it != modules_.end()) return it->second;
  }
  const std::filesystem::path path = path_of(digest);
  std::string bytes;
  if (auto cached = read_file(path)) {
    bytes = std::move(*cached);
  } else {
    if (cached.error().code != Errc::kNotFound) return unexpected(cached.error());
    ZLAYER_TRY(fetched, fetch());
    if (image::sha256_of(fetched) != digest) {
      return errorf(Errc::kInvalidArgument, "{}: module bytes do not match digest {}", name,
                    digest.str());
    }
    // Refuse a component before anything is stored: the preamble says what it is.
    if (fetched.rfind(std::string_view("\0asm", 4), 0) == 0) ZLAYER_CHECK(image::check_wasm_preamble(fetched, name));
    ZLAYER_CHECK(make_dirs(path.parent_path()));
    ZLAYER_CHECK(atomic_write_file(path, fetched));
    bytes = std::move(fetched);
  }
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  LoadOptions options;
  options.name = name;
  options.check_interval = check_interval;
  ZLAYER_TRY(module, load_module(data, options));
  std::lock_guard lock(mutex_);
  ++loads_;
  // Two creates racing on the same new module both decode it; the first one stored wins.
  auto [it, inserted] = modules_.emplace(key, std::move(module));
  (void)inserted;
  return it->second;
}

}  // namespace zlayer::wasm
