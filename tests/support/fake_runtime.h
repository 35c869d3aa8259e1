// FakeRuntime: an in-memory Runtime for supervision tests under a ManualClock. Containers never
// run anything; the test decides when one exits (exit()), what an exec returns (set_exec()), and
// which call fails next (fail_next()). Like an OCI runtime, a container that has exited cannot be
// started again (kFailedPrecondition), so supervisors must remove and recreate it. Every call is
// appended to a journal ("create web-rep-1", "stop web-rep-1", …) that tests assert on.
// Thread-safe (one mutex), so it also serves ThreadPool-driven tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace zlayer::testing {

class FakeRuntime final : public runtime::Runtime {
 public:
  // `backend` names the fake in messages; `ip_prefix` + replica number is container_ip()
  // ("10.0.0." → web-rep-2 at 10.0.0.2); an empty prefix makes container_ip() kUnsupported.
  explicit FakeRuntime(std::string backend = "fake", std::string ip_prefix = "10.0.0.");

  // --- test controls ---
  // Ends a running container with `status` (kFailedPrecondition when it is not running).
  Status exit(const ContainerId& id, runtime::ExitStatus status);
  // Answers exec calls; default: exit 0. Gets the container and the options.
  using ExecHandler =
      std::function<Result<runtime::ExecResult>(const ContainerId&, const runtime::ExecOptions&)>;
  void set_exec(ExecHandler handler);
  // The next call of operation `op` ("create", "start", "stop", "remove", "pull", "exec") fails
  // with `error`.
  void fail_next(const std::string& op, Error error);
  // Containers currently known (created, running or exited) and whether each is running.
  [[nodiscard]] std::vector<ContainerId> containers() const;
  [[nodiscard]] bool running(const ContainerId& id) const;
  [[nodiscard]] std::optional<runtime::ContainerConfig> config(const ContainerId& id) const;
  // The journal of calls so far; clear_journal() empties it. container_state, container_ip and
  // exec calls are not journaled (they are polls), except exec timeouts ("exec-timeout <id>").
  [[nodiscard]] std::vector<std::string> journal() const;
  void clear_journal();
  // Makes exit_fd() answer (an eventfd written when the container ends); off by default, so
  // supervisors fall back to polling container_state.
  void enable_exit_fds();

  // --- Runtime ---
  Status pull_image(std::string_view ref) override;
  Status create_container(const ContainerId& id, const runtime::ContainerConfig& config) override;
  Status start_container(const ContainerId& id) override;
  Status stop_container(const ContainerId& id, std::chrono::milliseconds grace) override;
  Status kill_container(const ContainerId& id, int signal) override;
  Status pause_container(const ContainerId& id) override;
  Status unpause_container(const ContainerId& id) override;
  Status remove_container(const ContainerId& id) override;
  Result<runtime::ContainerState> container_state(const ContainerId& id) override;
  Result<runtime::ExitStatus> wait_container(const ContainerId& id) override;
  Result<UniqueFd> exit_fd(const ContainerId& id) override;
  Status container_logs(const ContainerId& id, const runtime::LogOptions& options,
                        const runtime::LogCallback& callback) override;
  Result<runtime::ExecResult> exec(const ContainerId& id,
                                   const runtime::ExecOptions& options) override;
  Result<runtime::ContainerStats> container_stats(const ContainerId& id) override;
  Result<int> container_pid(const ContainerId& id) override;
  Result<std::string> container_ip(const ContainerId& id) override;
  Result<std::vector<ContainerId>> list_containers() override;

 private:
  struct Container {
    runtime::ContainerConfig config;
    runtime::ContainerState state;
  };
  // Journals `op id` and returns the injected failure for `op`, if any. Lock held.
  Status enter(const std::string& op, const std::string& subject);
  Result<Container*> find(const ContainerId& id);
  // The container stopped running: wakes waiters and fires its exit descriptors. Lock held.
  void ended_locked(const ContainerId& id);

  std::string backend_;
  std::string ip_prefix_;
  mutable std::mutex mutex_;
  std::condition_variable exited_;
  std::map<std::string, Container> containers_;
  std::map<std::string, Error> failures_;
  std::vector<std::string> journal_;
  bool exit_fds_enabled_ = false;
  std::map<std::string, std::vector<UniqueFd>> exit_fds_;  // write ends, by container id
  ExecHandler exec_handler_;
};

}  // namespace zlayer::testing
