#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

namespace zlayer {

Status init_logging(std::optional<std::string_view> level) {
  std::string name;
  if (level) {
    name = std::string(*level);
  } else if (const char* env = std::getenv("ZLAYER_LOG"); env != nullptr && *env != '\0') {
    name = env;
  } else {
    name = "info";
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name == "warning") name = "warn";
  auto parsed = spdlog::level::from_str(name);
  // from_str returns `off` for anything unknown, so tell the two apart.
  if (parsed == spdlog::level::off && name != "off") {
    return errorf(Errc::kInvalidArgument,
                  "log level \"{}\" is not one of trace, debug, info, warn, error, off", name);
  }
  auto logger = spdlog::stderr_color_mt("zlayer");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace zlayer
