#include "core/container_id.h"

#include <charconv>

namespace zlayer {

std::string ContainerId::str() const { return fmt::format("{}-rep-{}", service, replica); }

Status ContainerId::validate_service_name(std::string_view name) {
  auto valid_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  };
  if (name.empty() || name.size() > 63) {
    return errorf(Errc::kInvalidArgument, "service name \"{}\" must be 1-63 characters", name);
  }
  for (char c : name) {
    if (!valid_char(c)) {
      return errorf(Errc::kInvalidArgument, "service name \"{}\" may contain only a-z, 0-9 and '-'",
                    name);
    }
  }
  if (name.front() == '-' || name.back() == '-') {
    return errorf(Errc::kInvalidArgument, "service name \"{}\" must not start or end with '-'",
                  name);
  }
  return {};
}

Result<ContainerId> ContainerId::parse(std::string_view text) {
  constexpr std::string_view kSep = "-rep-";
  auto pos = text.rfind(kSep);
  if (pos == std::string_view::npos) {
    return errorf(Errc::kInvalidArgument,
                  "container id \"{}\" is not of the form {{service}}-rep-{{n}}", text);
  }
  std::string_view service = text.substr(0, pos);
  std::string_view number = text.substr(pos + kSep.size());
  std::uint32_t replica = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), replica);
  if (number.empty() || ec != std::errc() || ptr != number.data() + number.size() || replica == 0 ||
      number.front() == '0') {
    return errorf(Errc::kInvalidArgument,
                  "container id \"{}\": replica \"{}\" is not a positive integer (1-based)", text,
                  number);
  }
  if (auto ok = validate_service_name(service); !ok) {
    return unexpected(std::move(ok).error().wrap(fmt::format("container id \"{}\"", text)));
  }
  return ContainerId{std::string(service), replica};
}

}  // namespace zlayer
