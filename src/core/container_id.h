// ContainerId: the identity of one replica of a service, displayed `{service}-rep-{n}` with n
// 1-based (the upstream ZLayer convention). Values only; thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace zlayer {

struct ContainerId {
  std::string service;  // a DNS-label-like name: [a-z0-9]([a-z0-9-]*[a-z0-9])?, at most 63 chars
  std::uint32_t replica = 1;  // 1-based replica number

  // "{service}-rep-{replica}", e.g. "web-rep-1".
  [[nodiscard]] std::string str() const;

  // Parses "{service}-rep-{n}"; the last "-rep-" separates service and replica, so service names
  // may themselves contain "-rep-". Errors: kInvalidArgument quoting `text` when the suffix is
  // missing, n is not a positive decimal integer, or the service name is not a valid name.
  static Result<ContainerId> parse(std::string_view text);

  // Validates a service name as a DNS label (lower-case letters, digits, '-', 1-63 chars).
  static Status validate_service_name(std::string_view name);

  auto operator<=>(const ContainerId&) const = default;
};

}  // namespace zlayer
