#include "cli/run_support.h"

#include <fmt/format.h>

#include <cctype>
#include <random>

namespace zlayer::cli {

// "1048576", "64m", "64M", "64Mi", "1g", "512k" (binary units, as Docker's --memory).
Result<std::uint64_t> parse_bytes(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string suffix(text.substr(digits));
  for (auto& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (digits == 0 || digits > 15) {
    return errorf(Errc::kInvalidArgument, "--memory: \"{}\" is not a size like 64m or 1048576",
                  text);
  }
  std::uint64_t value = std::stoull(std::string(text.substr(0, digits)));
  if (suffix.empty() || suffix == "b") return value;
  if (suffix == "k" || suffix == "kb" || suffix == "ki") return value << 10;
  if (suffix == "m" || suffix == "mb" || suffix == "mi") return value << 20;
  if (suffix == "g" || suffix == "gb" || suffix == "gi") return value << 30;
  return errorf(Errc::kInvalidArgument, "--memory: unknown unit \"{}\" in \"{}\" (b, k, m, g)",
                suffix, text);
}

Result<ContainerId> container_id_for(const std::string& name) {
  if (!name.empty()) {
    if (name.find("-rep-") != std::string::npos) return ContainerId::parse(name);
    ZLAYER_CHECK(ContainerId::validate_service_name(name));
    return ContainerId{name, 1};
  }
  std::random_device random;
  return ContainerId{fmt::format("run-{:08x}", random()), 1};
}

}  // namespace zlayer::cli
