// Probes: the blocking checks behind health checks and init actions — a TCP connect, an HTTP GET,
// a command inside a container (Runtime::exec, as Docker's and Kubernetes' exec probes do), a
// command on the host (init.run, as upstream). Each takes a timeout and reports failure rather
// than an error, so a slow or refused target simply counts as a failed probe. The ServiceManager
// calls them on its worker pool; tests of supervision logic substitute a scripted Prober.
// NetworkProber is thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/container_id.h"
#include "runtime/runtime.h"

namespace zlayer::agent {

struct ProbeOutcome {
  bool success = false;
  std::string detail;  // why it failed ("connection refused", "HTTP 503", "exit code 1", …)
};

class Prober {
 public:
  virtual ~Prober() = default;
  // Connects to host:port (IPv4/IPv6 literal or name) within `timeout`.
  virtual ProbeOutcome tcp(const std::string& host, std::uint16_t port,
                           Clock::Duration timeout) = 0;
  // GET `url` within `timeout`; success = exactly `expect_status`, or any 2xx when unset.
  virtual ProbeOutcome http(const std::string& url, std::optional<std::uint16_t> expect_status,
                            Clock::Duration timeout) = 0;
  // `sh -c command` inside the running container `id`; success = exit 0. After `timeout` the
  // backend kills the command (ExecOptions::timeout) and the probe fails.
  virtual ProbeOutcome exec(runtime::Runtime& runtime, const ContainerId& id,
                            const std::string& command, Clock::Duration timeout) = 0;
  // `sh -c command` on the host; success = exit 0; killed (SIGKILL) after `timeout`.
  virtual ProbeOutcome host_command(const std::string& command, Clock::Duration timeout) = 0;
};

// The real probes: sockets for tcp, libcurl for http, Runtime::exec and core/subprocess.h.
class NetworkProber final : public Prober {
 public:
  ProbeOutcome tcp(const std::string& host, std::uint16_t port, Clock::Duration timeout) override;
  ProbeOutcome http(const std::string& url, std::optional<std::uint16_t> expect_status,
                    Clock::Duration timeout) override;
  ProbeOutcome exec(runtime::Runtime& runtime, const ContainerId& id, const std::string& command,
                    Clock::Duration timeout) override;
  ProbeOutcome host_command(const std::string& command, Clock::Duration timeout) override;
};

// Upstream's rule for http checks: `localhost` and `127.0.0.1` in the URL's host part are
// replaced by the replica's `address`, so one URL probes every replica. Empty address → unchanged.
std::string rewrite_probe_url(std::string_view url, std::string_view address);

}  // namespace zlayer::agent
