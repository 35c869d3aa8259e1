#include "core/subprocess.h"

#include <gtest/gtest.h>

namespace zlayer {
namespace {

using namespace std::chrono_literals;

TEST(Subprocess, FeedsStdinAndCapturesBothStreams) {
  auto r = run_subprocess({"sh", "-c", "cat; echo oops >&2; exit 3"}, {.input = "hello"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "hello");
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(Subprocess, LargeInputAndOutputDoNotDeadlock) {
  std::string big(1 << 20, 'x');
  auto r = run_subprocess({"cat"}, {.input = big});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out.size(), big.size());
}

TEST(Subprocess, ChildThatIgnoresItsInputDoesNotKillUsWithSigpipe) {
  // `true` exits at once; writing 4 MiB to its closed stdin raises SIGPIPE in this thread.
  std::string big(4 << 20, 'x');
  for (int i = 0; i < 3; ++i) {
    auto r = run_subprocess({"true"}, {.input = big});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->exit_code, 0);
  }
}

TEST(Subprocess, MissingProgramIsNotFound) {
  auto r = run_subprocess({"zlayer-no-such-program"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
}

TEST(Subprocess, SignalAndTimeout) {
  auto killed = run_subprocess({"sh", "-c", "kill -TERM $$"});
  ASSERT_TRUE(killed);
  EXPECT_EQ(killed->signal, 15);
  EXPECT_EQ(killed->exit_code, 143);
  auto slow = run_subprocess({"sleep", "5"}, {.timeout = 100ms});
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, Errc::kDeadlineExceeded);
}

}  // namespace
}  // namespace zlayer
