#include "support/fake_runtime.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace zlayer::testing {

using runtime::ContainerState;
using runtime::ExitStatus;
using Phase = ContainerState::Phase;

FakeRuntime::FakeRuntime(std::string backend, std::string ip_prefix)
    : backend_(std::move(backend)), ip_prefix_(std::move(ip_prefix)) {}

Status FakeRuntime::enter(const std::string& op, const std::string& subject) {
  journal_.push_back(op + " " + subject);
  auto it = failures_.find(op);
  if (it == failures_.end()) return {};
  Error error = std::move(it->second);
  failures_.erase(it);
  return tl::unexpected(std::move(error));
}

Result<FakeRuntime::Container*> FakeRuntime::find(const ContainerId& id) {
  auto it = containers_.find(id.str());
  if (it == containers_.end()) {
    return errorf(Errc::kNotFound, "{}: no container {}", backend_, id.str());
  }
  return &it->second;
}

void FakeRuntime::ended_locked(const ContainerId& id) {
  exited_.notify_all();
  auto it = exit_fds_.find(id.str());
  if (it == exit_fds_.end()) return;
  const std::uint64_t one = 1;
  for (const UniqueFd& fd : it->second) (void)::write(fd.get(), &one, sizeof(one));
  exit_fds_.erase(it);
}

void FakeRuntime::enable_exit_fds() {
  std::lock_guard lock(mutex_);
  exit_fds_enabled_ = true;
}

Result<UniqueFd> FakeRuntime::exit_fd(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  if (!exit_fds_enabled_) {
    return errorf(Errc::kUnsupported, "{}: exit descriptors are off", backend_);
  }
  ZLAYER_TRY(container, find(id));
  bool running = container->state.phase == Phase::kRunning;
  UniqueFd fd(::eventfd(running ? 0 : 1, EFD_CLOEXEC));
  if (!fd.valid()) return sys_error("eventfd", errno);
  if (running) exit_fds_[id.str()].emplace_back(::dup(fd.get()));
  return fd;
}

Status FakeRuntime::exit(const ContainerId& id, ExitStatus status) {
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  if (container->state.phase != Phase::kRunning) {
    return errorf(Errc::kFailedPrecondition, "{}: {} is {}, not running", backend_, id.str(),
                  container->state.phase_name());
  }
  container->state.phase = Phase::kExited;
  container->state.exit = status;
  ended_locked(id);
  return {};
}

void FakeRuntime::set_exec(ExecHandler handler) {
  std::lock_guard lock(mutex_);
  exec_handler_ = std::move(handler);
}

void FakeRuntime::fail_next(const std::string& op, Error error) {
  std::lock_guard lock(mutex_);
  failures_[op] = std::move(error);
}

std::vector<ContainerId> FakeRuntime::containers() const {
  std::lock_guard lock(mutex_);
  std::vector<ContainerId> ids;
  for (const auto& [name, container] : containers_) {
    if (auto parsed = ContainerId::parse(name)) ids.push_back(*parsed);
  }
  return ids;
}

bool FakeRuntime::running(const ContainerId& id) const {
  std::lock_guard lock(mutex_);
  auto it = containers_.find(id.str());
  return it != containers_.end() && it->second.state.phase == Phase::kRunning;
}

std::optional<runtime::ContainerConfig> FakeRuntime::config(const ContainerId& id) const {
  std::lock_guard lock(mutex_);
  auto it = containers_.find(id.str());
  if (it == containers_.end()) return std::nullopt;
  return it->second.config;
}

std::vector<std::string> FakeRuntime::journal() const {
  std::lock_guard lock(mutex_);
  return journal_;
}

void FakeRuntime::clear_journal() {
  std::lock_guard lock(mutex_);
  journal_.clear();
}

Status FakeRuntime::pull_image(std::string_view ref) {
  std::lock_guard lock(mutex_);
  return enter("pull", std::string(ref));
}

Status FakeRuntime::create_container(const ContainerId& id,
                                     const runtime::ContainerConfig& config) {
  std::lock_guard lock(mutex_);
  ZLAYER_CHECK(enter("create", id.str()));
  if (containers_.count(id.str()) != 0) {
    return errorf(Errc::kAlreadyExists, "{}: container {} already exists", backend_, id.str());
  }
  Container container{config, {}};
  container.state.phase = Phase::kCreated;
  containers_.emplace(id.str(), std::move(container));
  return {};
}

Status FakeRuntime::start_container(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_CHECK(enter("start", id.str()));
  ZLAYER_TRY(container, find(id));
  if (!container->state.can_start()) {
    return errorf(Errc::kFailedPrecondition, "{}: {} is {}; only a created container starts",
                  backend_, id.str(), container->state.phase_name());
  }
  container->state.phase = Phase::kRunning;
  return {};
}

Status FakeRuntime::stop_container(const ContainerId& id, std::chrono::milliseconds grace) {
  (void)grace;
  std::lock_guard lock(mutex_);
  ZLAYER_CHECK(enter("stop", id.str()));
  ZLAYER_TRY(container, find(id));
  if (container->state.can_stop()) {
    container->state.phase = Phase::kExited;
    container->state.exit = ExitStatus::killed_by(SIGTERM);
    ended_locked(id);
  }
  return {};
}

Status FakeRuntime::kill_container(const ContainerId& id, int signal) {
  std::lock_guard lock(mutex_);
  ZLAYER_CHECK(enter("kill", id.str()));
  ZLAYER_TRY(container, find(id));
  if (container->state.phase != Phase::kRunning) {
    return errorf(Errc::kFailedPrecondition, "{}: {} is not running", backend_, id.str());
  }
  container->state.phase = Phase::kExited;
  container->state.exit = ExitStatus::killed_by(signal);
  ended_locked(id);
  return {};
}

Status FakeRuntime::pause_container(const ContainerId& id) {
  return errorf(Errc::kUnsupported, "{}: pause of {} is not faked", backend_, id.str());
}

Status FakeRuntime::unpause_container(const ContainerId& id) {
  return errorf(Errc::kUnsupported, "{}: unpause of {} is not faked", backend_, id.str());
}

Status FakeRuntime::remove_container(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_CHECK(enter("remove", id.str()));
  containers_.erase(id.str());
  ended_locked(id);
  return {};
}

Result<ContainerState> FakeRuntime::container_state(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  return container->state;
}

Result<ExitStatus> FakeRuntime::wait_container(const ContainerId& id) {
  std::unique_lock lock(mutex_);
  for (;;) {
    ZLAYER_TRY(container, find(id));
    if (container->state.is_finished()) return *container->state.exit;
    exited_.wait(lock);
  }
}

Status FakeRuntime::container_logs(const ContainerId& id, const runtime::LogOptions& options,
                                   const runtime::LogCallback& callback) {
  (void)options;
  (void)callback;
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  (void)container;
  return {};
}

Result<runtime::ExecResult> FakeRuntime::exec(const ContainerId& id,
                                              const runtime::ExecOptions& options) {
  ExecHandler handler;
  {
    std::lock_guard lock(mutex_);
    auto it = failures_.find("exec");
    if (it != failures_.end()) {
      Error error = std::move(it->second);
      failures_.erase(it);
      return tl::unexpected(std::move(error));
    }
    ZLAYER_TRY(container, find(id));
    if (container->state.phase != Phase::kRunning) {
      return errorf(Errc::kFailedPrecondition, "{}: exec in {}: not running", backend_, id.str());
    }
    handler = exec_handler_;
  }
  // The handler runs unlocked so it may call back into the fake (exit a container, …).
  auto result = handler ? handler(id, options) : runtime::ExecResult{};
  if (!result && result.error().code == Errc::kDeadlineExceeded) {
    std::lock_guard lock(mutex_);
    journal_.push_back("exec-timeout " + id.str());
  }
  return result;
}

Result<runtime::ContainerStats> FakeRuntime::container_stats(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  (void)container;
  return runtime::ContainerStats{};
}

Result<int> FakeRuntime::container_pid(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  (void)container;
  return errorf(Errc::kUnsupported, "{}: fake containers have no process", backend_);
}

Result<std::string> FakeRuntime::container_ip(const ContainerId& id) {
  std::lock_guard lock(mutex_);
  ZLAYER_TRY(container, find(id));
  (void)container;
  if (ip_prefix_.empty()) {
    return errorf(Errc::kUnsupported, "{}: {} has no network of its own", backend_, id.str());
  }
  return ip_prefix_ + std::to_string(id.replica);
}

Result<std::vector<ContainerId>> FakeRuntime::list_containers() { return containers(); }

}  // namespace zlayer::testing
