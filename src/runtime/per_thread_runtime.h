// PerThreadRuntime: a thread-safe Runtime made of one backend instance per calling thread, for
// backends that must not be shared between threads (LinuxRuntime owns a state.db connection).
// The ServiceManager calls its runtime from a pool of worker threads; each worker gets its own
// instance from `factory` on first use, and keeps it until the PerThreadRuntime is destroyed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "runtime/runtime.h"

namespace zlayer::runtime {

class PerThreadRuntime final : public Runtime {
 public:
  // Creates one backend instance; called once per thread that uses this runtime, possibly from
  // several threads at once (it must be thread-safe). Its error is returned by the call that
  // needed the instance (and the next call on that thread tries again).
  using Factory = std::function<Result<std::unique_ptr<Runtime>>()>;
  explicit PerThreadRuntime(Factory factory) : factory_(std::move(factory)) {}

  Status pull_image(std::string_view ref) override;
  Status create_container(const ContainerId& id, const ContainerConfig& config) override;
  Status start_container(const ContainerId& id) override;
  Status stop_container(const ContainerId& id, std::chrono::milliseconds grace) override;
  Status kill_container(const ContainerId& id, int signal) override;
  Status pause_container(const ContainerId& id) override;
  Status unpause_container(const ContainerId& id) override;
  Status remove_container(const ContainerId& id) override;
  Result<ContainerState> container_state(const ContainerId& id) override;
  Result<ExitStatus> wait_container(const ContainerId& id) override;
  Result<UniqueFd> exit_fd(const ContainerId& id) override;
  Status container_logs(const ContainerId& id, const LogOptions& options,
                        const LogCallback& callback) override;
  Result<ExecResult> exec(const ContainerId& id, const ExecOptions& options) override;
  Result<ContainerStats> container_stats(const ContainerId& id) override;
  Result<int> container_pid(const ContainerId& id) override;
  Result<std::string> container_ip(const ContainerId& id) override;
  Result<std::vector<ContainerId>> list_containers() override;

 private:
  // This thread's instance (created on first use). Errors: the factory's.
  Result<Runtime*> local();

  Factory factory_;
  std::mutex mutex_;
  std::map<std::thread::id, std::unique_ptr<Runtime>> instances_;
};

}  // namespace zlayer::runtime
