#include "core/time_format.h"

#include <chrono>
#include <optional>

namespace zlayer {

namespace {

namespace chrono = std::chrono;

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

// Writes `value` as exactly `width` decimal digits (zero-padded) at `out`.
void put_digits(char* out, std::uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// Splits `time` into whole seconds since the epoch (floored) and the nanoseconds within them.
void split_seconds(Clock::WallTime time, std::int64_t& seconds, std::int64_t& nanos) {
  std::int64_t ns = time.time_since_epoch().count();
  seconds = ns / kNanosPerSecond;
  nanos = ns % kNanosPerSecond;
  if (nanos < 0) {
    nanos += kNanosPerSecond;
    --seconds;
  }
}

// Writes "YYYY-MM-DDTHH:MM:SS" (19 characters) for `seconds` since the epoch, UTC.
void put_date_time(char* out, std::int64_t seconds) {
  chrono::sys_seconds tp{chrono::seconds(seconds)};
  auto day = chrono::floor<chrono::days>(tp);
  chrono::year_month_day ymd{day};
  auto second_of_day = (tp - day).count();
  put_digits(out, static_cast<std::uint64_t>(static_cast<int>(ymd.year())), 4);
  out[4] = '-';
  put_digits(out + 5, static_cast<unsigned>(ymd.month()), 2);
  out[7] = '-';
  put_digits(out + 8, static_cast<unsigned>(ymd.day()), 2);
  out[10] = 'T';
  put_digits(out + 11, static_cast<std::uint64_t>(second_of_day / 3600), 2);
  out[13] = ':';
  put_digits(out + 14, static_cast<std::uint64_t>(second_of_day / 60 % 60), 2);
  out[16] = ':';
  put_digits(out + 17, static_cast<std::uint64_t>(second_of_day % 60), 2);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A cursor over the text being parsed; each read returns false when the expected shape is absent.
struct Cursor {
  std::string_view text;
  std::size_t pos = 0;

  [[nodiscard]] bool at_end() const { return pos >= text.size(); }
  [[nodiscard]] char peek() const { return at_end() ? '\0' : text[pos]; }
  bool number(int width, int& value) {
    if (pos + static_cast<std::size_t>(width) > text.size()) return false;
    value = 0;
    for (int i = 0; i < width; ++i) {
      char c = text[pos + static_cast<std::size_t>(i)];
      if (!is_digit(c)) return false;
      value = value * 10 + (c - '0');
    }
    pos += static_cast<std::size_t>(width);
    return true;
  }
  bool literal(char c) {
    if (peek() != c) return false;
    ++pos;
    return true;
  }
};

tl::unexpected<Error> rfc3339_error(std::string_view text, std::string_view reason) {
  return errorf(Errc::kInvalidArgument,
                "\"{}\" is not an RFC 3339 time like 2006-01-02T15:04:05Z: {}", text, reason);
}

// Seconds + nanoseconds → WallTime, or nullopt when a Clock cannot hold it.
std::optional<Clock::WallTime> make_wall_time(std::int64_t seconds, std::int64_t nanos) {
  std::int64_t ns = 0;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &ns) ||
      __builtin_add_overflow(ns, nanos, &ns)) {
    return std::nullopt;
  }
  return Clock::WallTime(Clock::Duration(ns));
}

// Reads up to 9 fraction digits after a '.', as nanoseconds; further digits are truncated.
std::int64_t read_fraction(Cursor& cursor, std::size_t& digits) {
  std::int64_t nanos = 0;
  digits = 0;
  while (is_digit(cursor.peek())) {
    if (digits < 9) nanos = nanos * 10 + (cursor.peek() - '0');
    ++digits;
    ++cursor.pos;
  }
  for (std::size_t i = digits; i < 9; ++i) nanos *= 10;
  return nanos;
}

struct UnitScale {
  std::string_view name;
  std::uint64_t nanos;
};

constexpr UnitScale kDurationUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC Greek small letter mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

constexpr std::string_view kUnitList = "ns, us, \xC2\xB5s, ms, s, m or h";

// Go's time.ParseDuration. Returns the reason on failure, for callers to wrap.
Result<Clock::Duration> parse_duration_reason(std::string_view text) {
  auto fail = [](std::string reason) { return make_error(Errc::kInvalidArgument, reason); };
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") return Clock::Duration(0);
  if (rest.empty()) return fail("expected a number with a unit, like 10s or 1h30m");

  constexpr std::uint64_t kLimit = std::uint64_t{1} << 63;  // |INT64_MIN|
  std::uint64_t total = 0;
  while (!rest.empty()) {
    std::uint64_t whole = 0;
    bool has_whole = false;
    while (!rest.empty() && is_digit(rest.front())) {
      auto digit = static_cast<std::uint64_t>(rest.front() - '0');
      if (whole > (kLimit - digit) / 10) return fail("out of range (at most about 292 years)");
      whole = whole * 10 + digit;
      has_whole = true;
      rest.remove_prefix(1);
    }
    std::uint64_t fraction = 0;
    std::uint64_t scale = 1;
    bool has_fraction = false;
    if (!rest.empty() && rest.front() == '.') {
      rest.remove_prefix(1);
      while (!rest.empty() && is_digit(rest.front())) {
        // Digits past 1e18 cannot change the result by a nanosecond for any unit up to hours.
        if (scale < 1'000'000'000'000'000'000ULL) {
          fraction = fraction * 10 + static_cast<std::uint64_t>(rest.front() - '0');
          scale *= 10;
        }
        has_fraction = true;
        rest.remove_prefix(1);
      }
    }
    if (!has_whole && !has_fraction) {
      return fail(fmt::format("expected a number at \"{}\"", rest));
    }
    std::size_t unit_end = 0;
    while (unit_end < rest.size() && rest[unit_end] != '.' && !is_digit(rest[unit_end])) {
      ++unit_end;
    }
    std::string_view unit = rest.substr(0, unit_end);
    rest.remove_prefix(unit_end);
    if (unit.empty()) return fail(fmt::format("missing unit (expected {}, e.g. 10s)", kUnitList));
    std::uint64_t unit_nanos = 0;
    for (const auto& candidate : kDurationUnits) {
      if (candidate.name == unit) unit_nanos = candidate.nanos;
    }
    if (unit_nanos == 0) {
      return fail(fmt::format("unknown unit \"{}\" (expected {})", unit, kUnitList));
    }
    if (whole > kLimit / unit_nanos) return fail("out of range (at most about 292 years)");
    std::uint64_t value = whole * unit_nanos;
    if (fraction > 0) {
      __extension__ using Wide = unsigned __int128;
      value += static_cast<std::uint64_t>(static_cast<Wide>(fraction) * unit_nanos / scale);
    }
    if (value > kLimit || total > kLimit - value) {
      return fail("out of range (at most about 292 years)");
    }
    total += value;
  }
  if (negative) {
    if (total == kLimit) return Clock::Duration(std::numeric_limits<std::int64_t>::min());
    return Clock::Duration(-static_cast<std::int64_t>(total));
  }
  if (total > kLimit - 1) return fail("out of range (at most about 292 years)");
  return Clock::Duration(static_cast<std::int64_t>(total));
}

}  // namespace

std::string format_rfc3339_nano(Clock::WallTime time) {
  Rfc3339NanoFormatter formatter;
  return std::string(formatter.format(time));
}

std::string_view Rfc3339NanoFormatter::format(Clock::WallTime time) {
  std::int64_t seconds = 0;
  std::int64_t nanos = 0;
  split_seconds(time, seconds, nanos);
  if (seconds != cached_second_) {
    put_date_time(buffer_.data(), seconds);
    buffer_[19] = '.';
    buffer_[29] = 'Z';
    cached_second_ = seconds;
  }
  put_digits(buffer_.data() + 20, static_cast<std::uint64_t>(nanos), 9);
  return {buffer_.data(), buffer_.size()};
}

Result<Clock::WallTime> parse_rfc3339(std::string_view text) {
  Cursor cursor{text};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!cursor.number(4, year)) return rfc3339_error(text, "expected a 4-digit year first");
  if (!cursor.literal('-') || !cursor.number(2, month) || !cursor.literal('-') ||
      !cursor.number(2, day)) {
    return rfc3339_error(text, "expected the date as YYYY-MM-DD");
  }
  if (!cursor.literal('T') && !cursor.literal('t')) {
    return rfc3339_error(text, "expected 'T' and a time of day after the date");
  }
  if (!cursor.number(2, hour) || !cursor.literal(':') || !cursor.number(2, minute) ||
      !cursor.literal(':') || !cursor.number(2, second)) {
    return rfc3339_error(text, "expected the time of day as HH:MM:SS");
  }
  std::int64_t nanos = 0;
  if (cursor.literal('.')) {
    std::size_t digits = 0;
    nanos = read_fraction(cursor, digits);
    if (digits == 0) return rfc3339_error(text, "expected digits after the '.'");
  }
  int offset_seconds = 0;
  if (cursor.literal('Z') || cursor.literal('z')) {
    offset_seconds = 0;
  } else if (cursor.peek() == '+' || cursor.peek() == '-') {
    int sign = cursor.peek() == '-' ? -1 : 1;
    ++cursor.pos;
    int offset_hours = 0, offset_minutes = 0;
    if (!cursor.number(2, offset_hours) || !cursor.literal(':') ||
        !cursor.number(2, offset_minutes)) {
      return rfc3339_error(text, "expected the offset as +hh:mm or -hh:mm");
    }
    if (offset_hours > 23 || offset_minutes > 59) {
      return rfc3339_error(text, "offset out of range (hh 00-23, mm 00-59)");
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return rfc3339_error(text, "expected 'Z' or a +hh:mm/-hh:mm offset after the seconds");
  }
  if (!cursor.at_end()) {
    return rfc3339_error(
        text, fmt::format("unexpected \"{}\" after the offset", text.substr(cursor.pos)));
  }
  if (month < 1 || month > 12)
    return rfc3339_error(text, fmt::format("month {} out of range", month));
  chrono::year_month_day ymd{chrono::year(year), chrono::month(static_cast<unsigned>(month)),
                             chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    return rfc3339_error(text,
                         fmt::format("day {} does not exist in {:04}-{:02}", day, year, month));
  }
  if (hour > 23 || minute > 59 || second > 59) {
    return rfc3339_error(text, "time of day out of range (00:00:00-23:59:59)");
  }
  std::int64_t days = chrono::sys_days(ymd).time_since_epoch().count();
  std::int64_t seconds = days * 86'400 + hour * 3600 + minute * 60 + second - offset_seconds;
  auto time = make_wall_time(seconds, nanos);
  if (!time) return rfc3339_error(text, "outside the years 1677-2262 that a timestamp can hold");
  return *time;
}

Result<Clock::Duration> parse_duration(std::string_view text) {
  auto duration = parse_duration_reason(text);
  if (!duration) {
    return errorf(Errc::kInvalidArgument, "invalid duration \"{}\": {}", text,
                  duration.error().message);
  }
  return *duration;
}

Result<Clock::WallTime> parse_unix_seconds(std::string_view text) {
  auto fail = [&](std::string_view reason) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not Unix seconds like 1700000000.5: {}", text,
                  reason);
  };
  Cursor cursor{text};
  std::int64_t seconds = 0;
  bool has_digits = false;
  while (is_digit(cursor.peek())) {
    if (seconds > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return fail("out of range");
    seconds = seconds * 10 + (cursor.peek() - '0');
    has_digits = true;
    ++cursor.pos;
  }
  if (!has_digits) return fail("expected digits");
  std::int64_t nanos = 0;
  if (cursor.literal('.')) {
    std::size_t digits = 0;
    nanos = read_fraction(cursor, digits);
    if (digits == 0 || digits > 9) return fail("expected 1 to 9 digits after the '.'");
  }
  if (!cursor.at_end()) return fail(fmt::format("unexpected \"{}\"", text.substr(cursor.pos)));
  auto time = make_wall_time(seconds, nanos);
  if (!time) return fail("out of range (after 2262)");
  return *time;
}

Result<Clock::WallTime> parse_time_or_duration(std::string_view text, Clock::WallTime now) {
  if (text.empty()) {
    return make_error(Errc::kInvalidArgument,
                      "empty time: expected a duration before now like 10m, an RFC 3339 time "
                      "like 2006-01-02T15:04:05Z, or Unix seconds like 1700000000.5");
  }
  if (text != "0") {
    auto duration = parse_duration_reason(text);
    if (duration) {
      std::int64_t ns = 0;
      if (__builtin_sub_overflow(now.time_since_epoch().count(), duration->count(), &ns)) {
        return errorf(Errc::kInvalidArgument, "\"{}\" before now is out of range", text);
      }
      return Clock::WallTime(Clock::Duration(ns));
    }
    // "2026-" starts a date: the RFC 3339 parser explains best what is wrong with it.
    bool looks_like_date = text.size() >= 5 && is_digit(text[0]) && is_digit(text[1]) &&
                           is_digit(text[2]) && is_digit(text[3]) && text[4] == '-';
    if (looks_like_date) return parse_rfc3339(text);
    bool looks_like_number = text.find_first_not_of("0123456789.") == std::string_view::npos;
    if (!looks_like_number) {
      return errorf(Errc::kInvalidArgument,
                    "\"{}\" is not a time: expected a duration before now like 10m or 1h30m "
                    "({}), an RFC 3339 time like 2006-01-02T15:04:05Z, or Unix seconds like "
                    "1700000000.5",
                    text, duration.error().message);
    }
  }
  return parse_unix_seconds(text);
}

}  // namespace zlayer
