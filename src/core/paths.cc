#include "core/paths.h"

#include <cstdlib>

namespace zlayer {
namespace {

std::filesystem::path env_path(const char* name, const std::filesystem::path& fallback) {
  const char* value = std::getenv(name);
  std::filesystem::path p =
      (value != nullptr && *value != '\0') ? std::filesystem::path(value) : fallback;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(p, ec);
  return ec ? p : absolute.lexically_normal();
}

}  // namespace

Paths Paths::from_env() {
  Paths p;
  p.root_dir = env_path("ZLAYER_ROOT_DIR", "/var/lib/zlayer");
  p.runtime_dir = env_path("ZLAYER_RUNTIME_DIR", "/var/run/zlayer");
  p.wasm_cache_dir = env_path("ZLAYER_WASM_CACHE_DIR", "/var/lib/zlayer/wasm");
  return p;
}

}  // namespace zlayer
