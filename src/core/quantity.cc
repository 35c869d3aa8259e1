#include "core/quantity.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <string>

namespace zlayer {
namespace {

// Splits "12.5Mi" into the number part and the unit part; false when the number is malformed.
bool split_number(std::string_view text, std::string_view& number, std::string_view& unit) {
  std::size_t i = 0;
  std::size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    std::size_t fraction = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++fraction;
    if (fraction == 0) return false;
  }
  if (digits == 0) return false;
  number = text.substr(0, i);
  unit = text.substr(i);
  return true;
}

int binary_shift(std::string_view unit, bool allow_byte_suffix) {
  std::string lower;
  for (char c : unit) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool has_i = false;
  if (!lower.empty() && lower.back() == 'b') {
    if (!allow_byte_suffix) return -1;
    lower.pop_back();
    // "iB" is only a suffix after a unit letter ("MiB").
    if (!lower.empty() && lower.back() == 'i') {
      lower.pop_back();
      has_i = true;
      if (lower.empty()) return -1;
    }
  } else if (!lower.empty() && lower.back() == 'i') {
    // Kubernetes binary suffixes are case-exact (Ki, Mi, Gi, Ti, Pi, Ei); the docker CLI reads
    // any case ("64mi").
    bool exact =
        unit.size() == 2 && unit[1] == 'i' && std::isupper(static_cast<unsigned char>(unit[0]));
    if (!exact && !allow_byte_suffix) return -1;
    lower.pop_back();
    has_i = true;
  }
  if (lower.empty()) return has_i ? -1 : 0;
  if (lower.size() != 1) return -1;
  switch (lower[0]) {
    case 'k':
      return 10;
    case 'm':
      return 20;
    case 'g':
      return 30;
    case 't':
      return 40;
    case 'p':
      return 50;
    case 'e':
      return has_i ? 60 : -1;  // "E" alone is not a Docker unit
    default:
      return -1;
  }
}

}  // namespace

Result<std::uint64_t> parse_byte_quantity(std::string_view text, ByteQuantityForm form) {
  auto invalid = [&] {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a size like 64m, 512Mi or 1048576", text);
  };
  std::string_view number;
  std::string_view unit;
  if (!split_number(text, number, unit)) return invalid();
  int shift = binary_shift(unit, form.allow_byte_suffix);
  if (shift < 0) return invalid();
  long double value = std::stold(std::string(number)) * std::ldexp(1.0L, shift);
  if (value > static_cast<long double>(std::numeric_limits<std::int64_t>::max())) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is too large (at most 8 EiB)", text);
  }
  return static_cast<std::uint64_t>(value);
}

Result<double> parse_cpu_quantity(std::string_view text) {
  std::string_view number;
  std::string_view unit;
  if (!split_number(text, number, unit) || (unit != "" && unit != "m")) {
    return errorf(Errc::kInvalidArgument,
                  "\"{}\" is not a CPU amount like 0.5, 2 or 500m (millicores)", text);
  }
  double value = std::stod(std::string(number));
  if (unit == "m") value /= 1000.0;
  if (!(value > 0) || !std::isfinite(value)) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not a positive CPU amount", text);
  }
  return value;
}

}  // namespace zlayer
