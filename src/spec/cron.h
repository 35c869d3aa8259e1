// Cron schedule syntax as upstream ZLayer accepts it (the Rust `cron` crate 0.15,
// ../shared/reference/spec-schema.md §3.12): 6 or 7 fields, seconds first —
// `sec min hour day-of-month month day-of-week [year]`. The classic 5-field crontab is refused.
// Syntax only for now; computing run times comes with the jobs-and-cron work. Pure; thread-safe.
#pragma once

#include <string_view>

#include "core/error.h"

namespace zlayer::spec {

// Checks `schedule`: each field is `*`, `?` (day fields), a value, a range `a-b`, a step
// `*/n` or `a-b/n` or `a/n`, or a comma list of those. Ranges: sec 0–59, min 0–59, hour 0–23,
// day 1–31, month 1–12 or JAN–DEC, weekday 1–7 (1 = Sunday, the crate's numbering) or SUN–SAT,
// year 1970–2099. Errors: kInvalidArgument saying which field is wrong and what it allows, e.g.
// "field 1 (seconds) value 60 is out of range 0-59".
[[nodiscard]] Status validate_cron_schedule(std::string_view schedule);

}  // namespace zlayer::spec
