#include "agent/endpoint_publisher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>

namespace zlayer::agent {
namespace {

EndpointProxy::Transport transport_of(spec::EndpointProtocol protocol) {
  return protocol == spec::EndpointProtocol::kUdp ? EndpointProxy::Transport::kUdp
                                                  : EndpointProxy::Transport::kTcp;
}

}  // namespace

Result<std::unique_ptr<EndpointPublisher>> EndpointPublisher::open(const spec::DeploymentSpec& spec,
                                                                   const ServiceManager& manager,
                                                                   const std::string& bind_address,
                                                                   UdpProxyOptions udp) {
  auto publisher =
      std::unique_ptr<EndpointPublisher>(new EndpointPublisher(manager, bind_address, udp));
  ZLAYER_TRY(change, publisher->prepare(spec));
  publisher->apply(std::move(change));
  return publisher;
}

Result<EndpointPublisher::Change> EndpointPublisher::prepare(
    const spec::DeploymentSpec& spec) const {
  Change change;  // on error, its destructor closes what was opened
  for (const auto& [name, service] : spec.services) {
    if (service.rtype != spec::ResourceType::kService) continue;
    for (const auto& endpoint : service.endpoints) {
      Change::Planned planned{name,
                              endpoint.name,
                              {transport_of(endpoint.protocol), endpoint.port},
                              endpoint.effective_target_port(),
                              udp_.idle_timeout,
                              nullptr};
      if (endpoint.stream && endpoint.stream->session_timeout) {
        planned.idle_timeout =
            std::chrono::ceil<std::chrono::milliseconds>(*endpoint.stream->session_timeout);
      }
      if (!published_.contains(planned.key)) {
        const std::string label = name + "/" + endpoint.name;
        if (planned.key.first == EndpointProxy::Transport::kUdp) {
          UdpProxyOptions options = udp_;
          options.idle_timeout = planned.idle_timeout;
          ZLAYER_TRY(proxy, UdpProxy::open(label, bind_address_, endpoint.port, options));
          planned.opened = std::move(proxy);
        } else {
          ZLAYER_TRY(proxy, TcpProxy::open(label, bind_address_, endpoint.port));
          planned.opened = std::move(proxy);
        }
      }
      change.planned_.push_back(std::move(planned));
    }
  }
  return change;
}

void EndpointPublisher::apply(Change change) {
  std::map<ListenerKey, Published> next;
  for (auto& planned : change.planned_) {
    std::unique_ptr<EndpointProxy> proxy = std::move(planned.opened);
    if (!proxy) {
      auto it = published_.find(planned.key);
      if (it == published_.end()) continue;  // not from prepare() on this state
      proxy = std::move(it->second.proxy);
      published_.erase(it);
    }
    std::string label = planned.service + "/" + planned.endpoint;
    if (proxy->name() != label) proxy->set_name(std::move(label));
    if (proxy->transport() == EndpointProxy::Transport::kUdp) {
      auto& udp = static_cast<UdpProxy&>(*proxy);
      if (udp.idle_timeout() != planned.idle_timeout) udp.set_idle_timeout(planned.idle_timeout);
    }
    next.emplace(planned.key, Published{planned.service, planned.endpoint, planned.target_port,
                                        std::move(proxy)});
  }
  published_.swap(next);
  // What is left in `next` is no longer in the spec: closed here, ending its connections.
  for (const auto& [key, gone] : next) {
    spdlog::debug("endpoint {}: port {} closed (no longer in the spec)", gone.proxy->name(),
                  key.second);
  }
  next.clear();
  std::set<std::string> services;
  for (const auto& [key, published] : published_) services.insert(published.service);
  for (const auto& service : services) refresh(service);
}

Status EndpointPublisher::update(const spec::DeploymentSpec& spec) {
  ZLAYER_TRY(change, prepare(spec));
  apply(std::move(change));
  return {};
}

void EndpointPublisher::on_event(const Event& event) {
  if (!event.service.empty()) refresh(event.service);
}

void EndpointPublisher::refresh(const std::string& service) {
  std::vector<ReplicaStatus> serving;
  bool looked_up = false;
  for (const auto& [key, p] : published_) {
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

std::map<std::string, EndpointProxy*> EndpointPublisher::proxies() const {
  std::map<std::string, EndpointProxy*> out;
  for (const auto& [key, p] : published_) out.emplace(p.service + "/" + p.endpoint, p.proxy.get());
  return out;
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

void ServiceHosts::set(std::vector<std::string> entries) {
  std::lock_guard lock(mutex_);
  entries_ = std::move(entries);
}

std::vector<std::string> ServiceHosts::entries() const {
  std::lock_guard lock(mutex_);
  return entries_;
}

}  // namespace zlayer::agent
