// Test-only helpers for linux_net_test: a throw-away network namespace the test's main thread
// lives in (so bridges, veths, iptables rules and addresses never touch the host), processes
// started inside a container's namespace, and a tiny HTTP client. Main test thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace zlayer::runtime::linux::testing {

// `ip netns add zl-test-<random>`, entered by the calling thread (setns) with `lo` up; the
// destructor returns the thread to the namespace it came from and runs `ip netns del`.
class TestNetns {
 public:
  // Errors: whatever `ip` or setns reports; on error nothing is left behind.
  static Result<TestNetns> enter();
  TestNetns(TestNetns&& other) noexcept;
  TestNetns& operator=(TestNetns&&) = delete;
  TestNetns(const TestNetns&) = delete;
  ~TestNetns();

  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  TestNetns(std::string name, UniqueFd original)
      : name_(std::move(name)), original_(std::move(original)) {}
  std::string name_;
  UniqueFd original_;  // the namespace to return to
};

// A process exec'd inside the network namespace at `netns` (fork, setns, execv). The destructor
// sends SIGKILL to that pid and reaps it.
class NetnsProcess {
 public:
  static Result<NetnsProcess> start(const std::filesystem::path& netns,
                                    const std::vector<std::string>& argv);
  NetnsProcess(NetnsProcess&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  NetnsProcess& operator=(NetnsProcess&&) = delete;
  NetnsProcess(const NetnsProcess&) = delete;
  ~NetnsProcess();
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  explicit NetnsProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

// HTTP/1.0 GET of "/" at ip:port from the calling thread's namespace; returns the body.
// Each attempt waits at most 2 s; connection refusals are retried until `patience` has passed
// (a server that is still starting), other failures are returned at once.
// Errors: kUnavailable (refused/timed out until patience ran out), errno-mapped others.
Result<std::string> http_get(const std::string& ip, std::uint16_t port,
                             std::chrono::milliseconds patience = std::chrono::seconds(30));

// A random number in [low, high].
int random_int(int low, int high);

// stdout of a command run in the calling thread's namespace; fails the call on a non-zero exit.
Result<std::string> run_command(const std::vector<std::string>& argv);

}  // namespace zlayer::runtime::linux::testing
