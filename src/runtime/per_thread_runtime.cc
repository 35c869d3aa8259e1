#include "runtime/per_thread_runtime.h"

namespace zlayer::runtime {

Result<Runtime*> PerThreadRuntime::local() {
  const auto self = std::this_thread::get_id();
  {
    std::lock_guard lock(mutex_);
    if (auto it = instances_.find(self); it != instances_.end()) return it->second.get();
  }
  // Created outside the lock: opening a backend can take a while (state.db, OCI runtime probe).
  ZLAYER_TRY(instance, factory_());
  std::lock_guard lock(mutex_);
  auto& slot = instances_[self];
  slot = std::move(instance);
  return slot.get();
}

// Each call forwards to this thread's instance.
#define ZLAYER_FORWARD(call) \
  ZLAYER_TRY(rt, local());   \
  return rt->call

Status PerThreadRuntime::pull_image(std::string_view ref) { ZLAYER_FORWARD(pull_image(ref)); }
Status PerThreadRuntime::create_container(const ContainerId& id, const ContainerConfig& config) {
  ZLAYER_FORWARD(create_container(id, config));
}
Status PerThreadRuntime::start_container(const ContainerId& id) {
  ZLAYER_FORWARD(start_container(id));
}
Status PerThreadRuntime::stop_container(const ContainerId& id, std::chrono::milliseconds grace) {
  ZLAYER_FORWARD(stop_container(id, grace));
}
Status PerThreadRuntime::kill_container(const ContainerId& id, int signal) {
  ZLAYER_FORWARD(kill_container(id, signal));
}
Status PerThreadRuntime::pause_container(const ContainerId& id) {
  ZLAYER_FORWARD(pause_container(id));
}
Status PerThreadRuntime::unpause_container(const ContainerId& id) {
  ZLAYER_FORWARD(unpause_container(id));
}
Status PerThreadRuntime::remove_container(const ContainerId& id) {
  ZLAYER_FORWARD(remove_container(id));
}
Result<ContainerState> PerThreadRuntime::container_state(const ContainerId& id) {
  ZLAYER_FORWARD(container_state(id));
}
Result<ExitStatus> PerThreadRuntime::wait_container(const ContainerId& id) {
  ZLAYER_FORWARD(wait_container(id));
}
Result<UniqueFd> PerThreadRuntime::exit_fd(const ContainerId& id) {
  ZLAYER_FORWARD(exit_fd(id));
}
Status PerThreadRuntime::container_logs(const ContainerId& id, const LogOptions& options,
                                        const LogCallback& callback) {
  ZLAYER_FORWARD(container_logs(id, options, callback));
}
Result<ExecResult> PerThreadRuntime::exec(const ContainerId& id, const ExecOptions& options) {
  ZLAYER_FORWARD(exec(id, options));
}
Result<ContainerStats> PerThreadRuntime::container_stats(const ContainerId& id) {
  ZLAYER_FORWARD(container_stats(id));
}
Result<int> PerThreadRuntime::container_pid(const ContainerId& id) {
  ZLAYER_FORWARD(container_pid(id));
}
Result<std::string> PerThreadRuntime::container_ip(const ContainerId& id) {
  ZLAYER_FORWARD(container_ip(id));
}
Result<std::vector<ContainerId>> PerThreadRuntime::list_containers() {
  ZLAYER_FORWARD(list_containers());
}

#undef ZLAYER_FORWARD

}  // namespace zlayer::runtime
