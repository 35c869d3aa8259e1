#include "wasm/module_cache.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>

#include "core/fs.h"
#include "image/wasm_artifact.h"

namespace zlayer::wasm {
namespace {
// Binary modules start with it; anything else is WAT text.
constexpr std::string_view kMagic("\0asm", 4);
}  // namespace

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
    if (fetched.rfind(kMagic, 0) == 0) ZLAYER_CHECK(image::check_wasm_preamble(fetched, name));
    ZLAYER_CHECK(make_dirs(path.parent_path()));
    ZLAYER_CHECK(atomic_write_file(path, fetched));
    bytes = std::move(fetched);
  }
  return load(key, bytes, check_interval, name);
}

Result<std::shared_ptr<const Module>> ModuleCache::load(const std::string& key,
                                                        const std::string& bytes,
                                                        std::uint64_t check_interval,
                                                        const std::string& name) {
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  LoadOptions options;
  options.name = name;
  options.check_interval = check_interval;
  ZLAYER_TRY(module, load_module(data, options));
  std::lock_guard lock(mutex_);
  ++loads_;
  auto [it, inserted] = modules_.emplace(key, std::move(module));
  (void)inserted;
  return it->second;
}

Result<std::shared_ptr<const Module>> ModuleCache::get_file(const std::filesystem::path& path,
                                                            std::uint64_t check_interval,
                                                            const std::string& name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return sys_error(fmt::format("reading module {}", path.string()), errno);
  }
  const std::string key =
      fmt::format("file:{}:{}:{}:{}:{}.{}/{}", path.string(), st.st_dev, st.st_ino, st.st_size,
                  st.st_mtim.tv_sec, st.st_mtim.tv_nsec, check_interval);
  {
    std::lock_guard lock(mutex_);
    if (auto it = modules_.find(key); it != modules_.end()) return it->second;
  }
  ZLAYER_TRY(bytes, read_file(path));
  if (bytes.rfind(kMagic, 0) == 0) ZLAYER_CHECK(image::check_wasm_preamble(bytes, name));
  return load(key, bytes, check_interval, name);
}

}  // namespace zlayer::wasm
