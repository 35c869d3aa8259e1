// The one error contract of zlayer-agent: every fallible function returns Result<T>, an
// expected-or-Error. No exception crosses our APIs; third-party exceptions are caught at the edge
// and converted. A message names the thing (path, field, image, container id) and what was
// expected. Thread-safe: values only.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace zlayer {

enum class Errc {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kPermissionDenied,
  kResourceExhausted,
  kDeadlineExceeded,
  kCancelled,
  kUnavailable,
  kUnsupported,
  kInternal,
};

// Stable lower-case name of a code ("not_found"), used in logs and `--format json`.
std::string_view errc_name(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  int sys_errno = 0;  // errno of the failing system call, 0 when none

  // Returns a copy whose message is "context: message" (context is outermost first, as crun does).
  [[nodiscard]] Error wrap(std::string_view context) const &;
  [[nodiscard]] Error wrap(std::string_view context) &&;
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> make_error(Errc code, std::string message, int sys_errno = 0) {
  return tl::unexpected<Error>(Error{code, std::move(message), sys_errno});
}

template <class... Args>
tl::unexpected<Error> errorf(Errc code, fmt::format_string<Args...> format, Args &&...args) {
  return make_error(code, fmt::format(format, std::forward<Args>(args)...));
}

// Builds an Error from errno: "what: strerror(err)". ENOSPC/EDQUOT/EMFILE map to
// kResourceExhausted, ENOENT to kNotFound, EEXIST to kAlreadyExists, EACCES/EPERM to
// kPermissionDenied, everything else to kInternal.
tl::unexpected<Error> sys_error(std::string_view what, int err);
Errc errc_from_errno(int err);

inline tl::unexpected<Error> unexpected(Error e) { return tl::unexpected<Error>(std::move(e)); }

}  // namespace zlayer

// Propagates an error with added context: ZLAYER_TRY(x, expr, "context") declares `x`.
#define ZLAYER_CONCAT_INNER(a, b) a##b
#define ZLAYER_CONCAT(a, b) ZLAYER_CONCAT_INNER(a, b)
#define ZLAYER_TRY_IMPL(tmp, var, expr)                          \
  auto tmp = (expr);                                             \
  if (!tmp) return ::zlayer::unexpected(std::move(tmp).error()); \
  auto var = std::move(*tmp)
#define ZLAYER_TRY(var, expr) ZLAYER_TRY_IMPL(ZLAYER_CONCAT(zlayer_try_, __LINE__), var, expr)
#define ZLAYER_CHECK_IMPL(tmp, expr)                               \
  do {                                                             \
    auto tmp = (expr);                                             \
    if (!tmp) return ::zlayer::unexpected(std::move(tmp).error()); \
  } while (0)
#define ZLAYER_CHECK(expr) ZLAYER_CHECK_IMPL(ZLAYER_CONCAT(zlayer_check_, __COUNTER__), expr)
