#include "core/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace zlayer {
namespace {

Result<int> fails() { return errorf(Errc::kNotFound, "blob {} missing", "sha256:ab"); }

Result<int> propagates() {
  ZLAYER_TRY(v, fails());
  return v + 1;
}

TEST(Error, WrapAddsOutermostContextFirst) {
  Error e{Errc::kNotFound, "no such file", ENOENT};
  auto wrapped = e.wrap("pulling busybox").wrap("deploy");
  EXPECT_EQ(wrapped.message, "deploy: pulling busybox: no such file");
  EXPECT_EQ(wrapped.code, Errc::kNotFound);
  EXPECT_EQ(wrapped.sys_errno, ENOENT);
}

TEST(Error, TryPropagates) {
  auto r = propagates();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "blob sha256:ab missing");
}

TEST(Error, ErrnoMapping) {
  EXPECT_EQ(sys_error("write", ENOSPC).value().code, Errc::kResourceExhausted);
  EXPECT_EQ(sys_error("open", ENOENT).value().code, Errc::kNotFound);
  EXPECT_EQ(sys_error("open", EACCES).value().code, Errc::kPermissionDenied);
  EXPECT_EQ(errc_name(Errc::kFailedPrecondition), "failed_precondition");
}

}  // namespace
}  // namespace zlayer
