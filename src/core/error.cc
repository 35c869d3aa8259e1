#include "core/error.h"

#include <cerrno>
#include <cstring>

namespace zlayer {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument:
      return "invalid_argument";
    case Errc::kNotFound:
      return "not_found";
    case Errc::kAlreadyExists:
      return "already_exists";
    case Errc::kFailedPrecondition:
      return "failed_precondition";
    case Errc::kPermissionDenied:
      return "permission_denied";
    case Errc::kResourceExhausted:
      return "resource_exhausted";
    case Errc::kDeadlineExceeded:
      return "deadline_exceeded";
    case Errc::kCancelled:
      return "cancelled";
    case Errc::kUnavailable:
      return "unavailable";
    case Errc::kUnsupported:
      return "unsupported";
    case Errc::kInternal:
      return "internal";
  }
  return "internal";
}

Error Error::wrap(std::string_view context) const& {
  Error e = *this;
  e.message = fmt::format("{}: {}", context, message);
  return e;
}

Error Error::wrap(std::string_view context) && {
  message = fmt::format("{}: {}", context, message);
  return std::move(*this);
}

Errc errc_from_errno(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return Errc::kResourceExhausted;
    case ENOENT:
      return Errc::kNotFound;
    case EEXIST:
      return Errc::kAlreadyExists;
    case EACCES:
    case EPERM:
      return Errc::kPermissionDenied;
    case EINVAL:
      return Errc::kInvalidArgument;
    case ENOSYS:
    case EOPNOTSUPP:
      return Errc::kUnsupported;
    default:
      return Errc::kInternal;
  }
}

tl::unexpected<Error> sys_error(std::string_view what, int err) {
  return make_error(errc_from_errno(err), fmt::format("{}: {}", what, std::strerror(err)), err);
}

}  // namespace zlayer
