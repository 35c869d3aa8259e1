#include "spec/cron.h"

#include <array>
#include <cctype>
#include <charconv>
#include <string>
#include <vector>

namespace zlayer::spec {
namespace {

struct FieldRule {
  const char* name;
  int min;
  int max;
  std::array<const char*, 12> names;  // names[i] = value min + i (empty when none)
  bool question_mark;
};

constexpr std::array<FieldRule, 7> kFields{{
    {"seconds", 0, 59, {}, false},
    {"minutes", 0, 59, {}, false},
    {"hours", 0, 23, {}, false},
    {"day of month", 1, 31, {}, true},
    {"month",
     1,
     12,
     {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
     false},
    {"day of week", 1, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, true},
    {"year", 1970, 2099, {}, false},
}};

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

Result<int> value_of(const std::string& text, const FieldRule& rule, std::size_t index) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::size_t i = 0; i < rule.names.size() && rule.names[i]; ++i) {
    // Full names ("MONDAY", "January") work too, as in the crate.
    if (upper.rfind(rule.names[i], 0) == 0) return rule.min + static_cast<int>(i);
  }
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return errorf(Errc::kInvalidArgument, "field {} ({}) has \"{}\", not a number", index + 1,
                  rule.name, text);
  }
  if (value < rule.min || value > rule.max) {
    return errorf(Errc::kInvalidArgument, "field {} ({}) value {} is out of range {}-{}", index + 1,
                  rule.name, value, rule.min, rule.max);
  }
  return value;
}

Status check_field(const std::string& field, const FieldRule& rule, std::size_t index) {
  if (field == "?" && rule.question_mark) return {};
  for (const auto& item : split(field, ',')) {
    auto parts = split(item, '/');
    if (parts.size() > 2) {
      return errorf(Errc::kInvalidArgument, "field {} ({}) has \"{}\" with two steps", index + 1,
                    rule.name, item);
    }
    if (parts.size() == 2) {
      int step = 0;
      auto [end, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), step);
      if (ec != std::errc() || end != parts[1].data() + parts[1].size() || step <= 0) {
        return errorf(Errc::kInvalidArgument,
                      "field {} ({}) has step \"{}\", not a positive number", index + 1, rule.name,
                      parts[1]);
      }
    }
    const std::string& base = parts[0];
    if (base == "*") continue;
    auto range = split(base, '-');
    if (range.size() > 2) {
      return errorf(Errc::kInvalidArgument, "field {} ({}) has \"{}\", not a range a-b", index + 1,
                    rule.name, base);
    }
    ZLAYER_TRY(low, value_of(range[0], rule, index));
    if (range.size() == 2) {
      ZLAYER_TRY(high, value_of(range[1], rule, index));
      if (high < low) {
        return errorf(Errc::kInvalidArgument, "field {} ({}) range {} ends before it starts",
                      index + 1, rule.name, base);
      }
    }
  }
  return {};
}

}  // namespace

Status validate_cron_schedule(std::string_view schedule) {
  std::vector<std::string> fields;
  std::string current;
  for (char c : schedule) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!current.empty()) fields.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) fields.push_back(std::move(current));
  if (fields.size() != 6 && fields.size() != 7) {
    return errorf(Errc::kInvalidArgument,
                  "expected 6 or 7 fields, seconds first (sec min hour day month weekday "
                  "[year]), got {}",
                  fields.size());
  }
  for (std::size_t i = 0; i < fields.size(); ++i) {
    ZLAYER_CHECK(check_field(fields[i], kFields[i], i));
  }
  return {};
}

}  // namespace zlayer::spec
