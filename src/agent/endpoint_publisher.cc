#include "agent/endpoint_publisher.h"

#include <fmt/format.h>

namespace zlayer::agent {

Result<std::unique_ptr<EndpointPublisher>> EndpointPublisher::open(
    const spec::DeploymentSpec& spec, const ServiceManager& manager,
    const std::string& bind_address) {
  auto publisher = std::unique_ptr<EndpointPublisher>(new EndpointPublisher(manager));
  for (const auto& [name, service] : spec.services) {
    if (service.rtype != spec::ResourceType::kService) continue;
    for (const auto& endpoint : service.endpoints) {
      if (endpoint.protocol == spec::EndpointProtocol::kUdp) continue;
      const std::string key = name + "/" + endpoint.name;
      ZLAYER_TRY(proxy, EndpointProxy::open(key, bind_address, endpoint.port));
      publisher->published_.push_back({name, endpoint.effective_target_port(), proxy.get()});
      publisher->proxies_.emplace(key, std::move(proxy));
    }
  }
  return publisher;
}

void EndpointPublisher::on_event(const Event& event) {
  if (!event.service.empty()) refresh(event.service);
}

void EndpointPublisher::refresh(const std::string& service) {
  std::vector<ReplicaStatus> serving;
  bool looked_up = false;
  for (const auto& p : published_) {
    if (p.service != service) continue;
    if (!looked_up) {
      serving = manager_.serving_replicas(service);
      looked_up = true;
    }
    std::vector<Backend> backends;
    for (const auto& r : serving) {
      // A replica without an address of its own shares the host's network.
      backends.push_back({r.address.empty() ? "127.0.0.1" : r.address, p.target_port});
    }
    if (backends != p.proxy->backends()) p.proxy->set_backends(std::move(backends));
  }
}

std::vector<std::string> service_host_entries(const spec::DeploymentSpec& spec,
                                              const std::string& address) {
  std::vector<std::string> hosts;
  for (const auto& [name, service] : spec.services) {
    if (service.endpoints.empty()) continue;
    hosts.push_back(fmt::format("{}:{}", name, address));
    hosts.push_back(fmt::format("{}.service:{}", name, address));
  }
  return hosts;
}

}  // namespace zlayer::agent
