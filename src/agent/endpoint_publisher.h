// EndpointPublisher: publishes a deployment's endpoints on the host through EndpointProxy (one
// per TCP-based endpoint: tcp, http, https, websocket, at its `port`) and keeps each proxy's
// backends equal to the service's serving replicas (running and healthy) at the endpoint's
// target_port, refreshed on every event of that service. UDP endpoints are not proxied yet.
// Loop thread only (an EventSink reading the ServiceManager).
// Design: docs/design.md "Endpoints".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/endpoint_proxy.h"
#include "agent/recorder.h"
#include "agent/service_manager.h"
#include "spec/spec.h"

namespace zlayer::agent {

class EndpointPublisher final : public EventSink {
 public:
  // Opens a listener on `bind_address`:port for every TCP-based endpoint of `spec`; `manager`
  // must outlive the publisher. Errors: EndpointProxy::open's (a port in use), naming the
  // service and endpoint; nothing stays open on error.
  static Result<std::unique_ptr<EndpointPublisher>> open(const spec::DeploymentSpec& spec,
                                                         const ServiceManager& manager,
                                                         const std::string& bind_address);
  void on_event(const Event& event) override;
  // Sets the backends of every endpoint of `service` from the manager's serving replicas.
  void refresh(const std::string& service);
  // The proxies, "service/endpoint" → proxy (for tests and the status display).
  [[nodiscard]] const std::map<std::string, std::unique_ptr<EndpointProxy>>& proxies() const {
    return proxies_;
  }

 private:
  struct Published {
    std::string service;
    std::uint16_t target_port = 0;
    EndpointProxy* proxy = nullptr;
  };
  explicit EndpointPublisher(const ServiceManager& manager) : manager_(manager) {}

  const ServiceManager& manager_;
  std::map<std::string, std::unique_ptr<EndpointProxy>> proxies_;
  std::vector<Published> published_;
};

// extra_hosts entries that make every service with an endpoint resolvable inside containers:
// "NAME:ADDRESS" and "NAME.service:ADDRESS" for each, ADDRESS being where the publisher's proxies
// answer for containers (the bridge gateway).
std::vector<std::string> service_host_entries(const spec::DeploymentSpec& spec,
                                              const std::string& address);

}  // namespace zlayer::agent
