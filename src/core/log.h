// Logging setup (spdlog). The agent logs to stderr; the level comes from `--log-level`, else the
// ZLAYER_LOG environment variable, else "info". Call init_logging() once from main() before any
// other thread starts; afterwards spdlog's default logger is thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace zlayer {

// level: trace|debug|info|warn|error|off (case-insensitive); nullopt → ZLAYER_LOG → "info".
// Errors: kInvalidArgument naming the level and the accepted values.
Status init_logging(std::optional<std::string_view> level);

}  // namespace zlayer
