// Text forms of times and durations: RFC 3339 timestamps with nanoseconds (the CRI log format,
// `docker logs -t`), Go-style durations (`1h30m`, `500ms`, `1.5s`) shared by the CLI and spec
// validation, and the `--since`/`--until` argument forms Docker accepts. Pure functions, plus one
// small caching formatter; thread-safe except that one Rfc3339NanoFormatter serves one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/error.h"

namespace zlayer {

// Length of "2026-11-30T02:18:25.123456789Z": every time a Clock can hold (years 1677–2262) has
// four year digits, so the form is fixed-width.
inline constexpr std::size_t kRfc3339NanoSize = 30;

// Formats `time` as RFC 3339 in UTC with exactly nine fraction digits and a `Z`, e.g.
// "2026-11-30T02:18:25.123456789Z" (Go's RFC3339NanoFixed, as `docker logs -t` prints; fixed
// width keeps log files sortable). Times before 1970 are floored correctly.
[[nodiscard]] std::string format_rfc3339_nano(Clock::WallTime time);

// The same format for hot paths (the log writer): the "YYYY-MM-DDTHH:MM:SS" part is recomputed
// only when the second changes, so consecutive calls cost nine digit stores. Not thread-safe.
class Rfc3339NanoFormatter {
 public:
  // Returns a view of an internal buffer, valid until the next call.
  [[nodiscard]] std::string_view format(Clock::WallTime time);

 private:
  std::int64_t cached_second_ = std::numeric_limits<std::int64_t>::min();
  std::array<char, kRfc3339NanoSize> buffer_{};
};

// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`; `t`/`z` may
// be lower case (RFC 3339 §5.6). Fractions of 1–9 digits are exact; further digits are
// truncated (as Go does). Seconds must be 00–59 (no leap second, as Go).
// Errors: kInvalidArgument naming the text and the part that is wrong (e.g. a missing offset),
// or the time being outside what a Clock can hold (1677–2262).
[[nodiscard]] Result<Clock::WallTime> parse_rfc3339(std::string_view text);

// Parses a Go `time.ParseDuration` string: an optional sign, then one or more decimal numbers
// each with a unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`), e.g. "1h30m", "1.5s", "-500ms";
// the bare "0" is zero. Fractions are exact to the nanosecond (truncated below it).
// Errors: kInvalidArgument naming the text and what was expected (missing or unknown unit,
// missing number, overflow of ±292 years).
[[nodiscard]] Result<Clock::Duration> parse_duration(std::string_view text);

// Parses Unix seconds with an optional fraction of up to 9 digits ("1700000000",
// "1700000000.25"), as `docker logs --since` accepts. Errors: kInvalidArgument (not digits, more
// than 9 fraction digits, out of range).
[[nodiscard]] Result<Clock::WallTime> parse_unix_seconds(std::string_view text);

// Parses a `--since`/`--until` argument the way Docker does (api/types/time.GetTimestamp):
// a Go duration means that long before `now` ("10m" = ten minutes ago; a negative duration lies
// in the future), else RFC 3339 (see parse_rfc3339), else Unix seconds. "0" is the Unix epoch.
// Date-only and offset-less forms, which Docker reads in local time, are refused: the agent
// works in UTC and says so rather than guess.
// Errors: kInvalidArgument naming the text and listing the accepted forms; when the text looks
// like a date, the RFC 3339 parser's specific message.
[[nodiscard]] Result<Clock::WallTime> parse_time_or_duration(std::string_view text,
                                                             Clock::WallTime now);

}  // namespace zlayer
