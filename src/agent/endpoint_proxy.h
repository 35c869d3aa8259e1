// EndpointProxy: the L4 (TCP) proxy behind a service endpoint, like kube-proxy's userspace mode.
// It listens on the endpoint's `port` on the host and forwards each accepted connection to one of
// the service's serving replicas (running and healthy) at its `target_port`, round robin; when a
// backend refuses, the next one is tried, so a replica that is going away costs no failed
// request. Backends are replaced as replicas become healthy or unhealthy (set_backends, any
// thread). One accept thread, one thread per connection (copying both directions with poll()).
// Design: docs/design.md "Endpoints".
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace zlayer::agent {

struct Backend {
  std::string address;  // IPv4 literal
  std::uint16_t port = 0;
  bool operator==(const Backend&) const = default;
};

class EndpointProxy {
 public:
  // Listens on `bind_address`:`port` (IPv4 literal; port 0 = any free port, see port()).
  // Errors: the socket's (kAlreadyExists for a port in use), naming `name` and the address.
  static Result<std::unique_ptr<EndpointProxy>> open(std::string name,
                                                     const std::string& bind_address,
                                                     std::uint16_t port);
  // Stops accepting, cuts the connections in progress and joins every thread.
  ~EndpointProxy();
  EndpointProxy(const EndpointProxy&) = delete;
  EndpointProxy& operator=(const EndpointProxy&) = delete;

  // Replaces the backends new connections go to (connections in progress keep theirs).
  void set_backends(std::vector<Backend> backends);
  [[nodiscard]] std::vector<Backend> backends() const;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  EndpointProxy(std::string name, UniqueFd listener, UniqueFd wake, std::uint16_t port);
  void accept_loop();
  void serve(UniqueFd client);
  // A connected socket to one of the backends, trying each once from the round-robin position.
  UniqueFd connect_backend();

  std::string name_;
  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: written by the destructor to end accept_loop
  std::uint16_t port_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::vector<Backend> backends_;
  std::size_t next_ = 0;
  std::set<int> connections_;  // client and backend fds in use, shut down on destruction
  std::size_t active_ = 0;     // connection threads still running
  bool stopping_ = false;
  std::thread acceptor_;
};

}  // namespace zlayer::agent
