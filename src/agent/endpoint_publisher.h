// EndpointPublisher: publishes a deployment's endpoints on the host — a TcpProxy for each
// TCP-based endpoint (tcp, http, https, websocket), a UdpProxy for each udp one, at its `port` —
// and keeps each proxy's backends equal to the service's serving replicas (running and healthy)
// at the endpoint's target_port, refreshed on every event of that service. A redeploy changes the
// published set (prepare + apply, or update): new ports are opened before anything changes, a
// listener whose port stays is kept with its connections, listeners of endpoints that are gone
// are closed. Loop thread only (an EventSink reading the ServiceManager).
// ServiceHosts: the /etc/hosts entries naming those services inside containers.
// Design: docs/design.md "Endpoints".
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/endpoint_proxy.h"
#include "agent/recorder.h"
#include "agent/service_manager.h"
#include "agent/udp_proxy.h"
#include "spec/spec.h"

namespace zlayer::agent {

class EndpointPublisher final : public EventSink {
 public:
  // A listener is identified by its transport and port: the host has one of each.
  using ListenerKey = std::pair<EndpointProxy::Transport, std::uint16_t>;

  // A published set computed from a spec, with the listeners it needs that are not open yet
  // already open (they have no backends until apply()). Destroying it unapplied closes them.
  class Change {
   public:
    Change(Change&&) = default;
    Change& operator=(Change&&) = default;
    ~Change() = default;

   private:
    friend class EndpointPublisher;
    struct Planned {
      std::string service;
      std::string endpoint;
      ListenerKey key;
      std::uint16_t target_port = 0;
      std::chrono::milliseconds idle_timeout{0};  // UDP sessions
      std::unique_ptr<EndpointProxy> opened;      // null: keep the listener published at `key`
    };
    Change() = default;
    std::vector<Planned> planned_;
  };

  // Opens a listener on `bind_address`:port for every endpoint of every `rtype: service` service
  // of `spec` and sets its backends; `manager` must outlive the publisher. `udp` configures the
  // UDP proxies (session limit; idle timeout unless the endpoint sets stream.session_timeout).
  // Errors: the proxy's (a port in use: kAlreadyExists naming "endpoint SERVICE/ENDPOINT" and the
  // address); nothing stays open on error.
  static Result<std::unique_ptr<EndpointPublisher>> open(const spec::DeploymentSpec& spec,
                                                         const ServiceManager& manager,
                                                         const std::string& bind_address,
                                                         UdpProxyOptions udp = {});

  // Redeploy, step 1: opens the listeners `spec` needs that are not published yet (a port that
  // stays with its transport keeps its listener, whichever endpoint now has it). Changes nothing
  // published. Errors: as open(); whatever it opened is closed again.
  Result<Change> prepare(const spec::DeploymentSpec& spec) const;
  // Redeploy, step 2 (after the ServiceManager took the spec): publishes `change` — new
  // listeners join, kept ones get their new endpoint name, target_port and UDP session timeout,
  // the others are closed
  // (their connections and sessions end) — and refreshes every backend set. `change` must come
  // from prepare() with nothing applied in between (same loop task).
  void apply(Change change);
  // prepare() + apply(). Errors: prepare()'s, with nothing changed.
  Status update(const spec::DeploymentSpec& spec);

  void on_event(const Event& event) override;
  // Sets the backends of every endpoint of `service` from the manager's serving replicas.
  void refresh(const std::string& service);
  // The proxies, "service/endpoint" → proxy (tests and the status display). The pointers are
  // valid until the next apply()/update().
  [[nodiscard]] std::map<std::string, EndpointProxy*> proxies() const;

 private:
  struct Published {
    std::string service;
    std::string endpoint;
    std::uint16_t target_port = 0;
    std::unique_ptr<EndpointProxy> proxy;
  };
  EndpointPublisher(const ServiceManager& manager, std::string bind_address, UdpProxyOptions udp)
      : manager_(manager), bind_address_(std::move(bind_address)), udp_(udp) {}

  const ServiceManager& manager_;
  const std::string bind_address_;
  const UdpProxyOptions udp_;
  std::map<ListenerKey, Published> published_;
};

// extra_hosts entries that make every service with an endpoint resolvable inside containers:
// "NAME:ADDRESS" and "NAME.service:ADDRESS" for each, ADDRESS being where the publisher's proxies
// answer for containers (the bridge gateway).
std::vector<std::string> service_host_entries(const spec::DeploymentSpec& spec,
                                              const std::string& address);

// The current service_host_entries() of a deployment: set on the loop thread when a spec is
// (re)deployed, read by the ConfigBuilder on executor threads, so a container created after a
// redeploy names the services of the new spec. Thread-safe.
class ServiceHosts {
 public:
  void set(std::vector<std::string> entries);
  [[nodiscard]] std::vector<std::string> entries() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

}  // namespace zlayer::agent
