// Small text helpers shared by every component. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace zlayer {

// A printable one-line excerpt of `text` for error messages (an HTML error page, a helper's
// output): whitespace runs become one space, control bytes '?', and text longer than `max`
// characters is cut with "…".
std::string excerpt(std::string_view text, std::size_t max = 120);

// `text` without leading and trailing ASCII whitespace.
std::string trim(std::string_view text);

}  // namespace zlayer
