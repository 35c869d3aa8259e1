#include "core/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "core/fs.h"

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

TEST(Subprocess, StreamsOutputToCallbacks) {
  std::string out;
  std::string err;
  int out_calls = 0;
  auto r = run_subprocess({"sh", "-c", "echo one; echo two >&2; echo three"},
                          {.on_stdout =
                               [&](std::string_view bytes) {
                                 out.append(bytes);
                                 ++out_calls;
                               },
                           .on_stderr = [&](std::string_view bytes) { err.append(bytes); }});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(out, "one\nthree\n");
  EXPECT_EQ(err, "two\n");
  EXPECT_GE(out_calls, 1);
  EXPECT_TRUE(r->out.empty());
}

int enter_own_uts_namespace() {
  if (::unshare(CLONE_NEWUTS) != 0) return errno;
  static constexpr char kName[] = "zlayer-setup";
  return ::sethostname(kName, sizeof kName - 1) == 0 ? 0 : errno;
}

int refuse_setup() { return EPERM; }

TEST(Subprocess, ChildSetupRunsInTheChildOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare)";
  char before[256] = {};
  ASSERT_EQ(::gethostname(before, sizeof before), 0);
  auto r = run_subprocess({"cat", "/proc/sys/kernel/hostname"},
                          {.child_setup = enter_own_uts_namespace});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "zlayer-setup\n");
  char after[256] = {};
  ASSERT_EQ(::gethostname(after, sizeof after), 0);
  EXPECT_STREQ(before, after);
}

TEST(Subprocess, FailingChildSetupFailsTheSpawn) {
  auto r = run_subprocess({"true"}, {.child_setup = refuse_setup});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kPermissionDenied);
  EXPECT_NE(r.error().message.find("true"), std::string::npos) << r.error().message;
}

// Field `index` (1-based, as proc(5) counts) of /proc/<pid>/stat.
long stat_field(pid_t pid, int index) {
  auto text = read_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return -1;
  std::istringstream fields(text->substr(text->rfind(')') + 2));
  std::string value;
  for (int i = 3; i <= index; ++i) fields >> value;
  return std::stol(value);
}

TEST(Subprocess, SpawnNewSessionAndInheritedDescriptor) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  auto script = fmt::format("echo hello >&{}; exec sleep 60", write_end.get());
  auto pid =
      spawn_process({"sh", "-c", script}, {.inherit_fds = {write_end.get()}, .new_session = true});
  ASSERT_TRUE(pid) << pid.error().message;
  write_end.reset();
  char buf[16] = {};
  ASSERT_EQ(::read(read_end.get(), buf, sizeof buf), 6);
  EXPECT_STREQ(buf, "hello\n");
  EXPECT_EQ(stat_field(*pid, 6), *pid);  // session id = its own pid: a session leader
  ::kill(*pid, SIGKILL);
  auto waited = wait_process(*pid);
  ASSERT_TRUE(waited);
  EXPECT_EQ(waited->signal, SIGKILL);
}

TEST(Subprocess, FindProgram) {
  auto sh = find_program("sh");
  ASSERT_TRUE(sh) << sh.error().message;
  EXPECT_EQ(sh->front(), '/');
  EXPECT_EQ(find_program("zlayer-no-such-program").error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace zlayer
