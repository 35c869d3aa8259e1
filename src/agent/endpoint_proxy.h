// The L4 proxies behind service endpoints, like kube-proxy's userspace mode: each listens on an
// endpoint's `port` on the host and forwards to the service's serving replicas (running and
// healthy) at its `target_port`, round robin. Backends are replaced as replicas become healthy
// or unhealthy (set_backends, any thread); destroying a proxy closes its socket and joins its
// threads. TcpProxy: one accept thread and one thread per connection (copying both directions
// with poll()); a backend that refuses is skipped for the next, so a replica that is going away
// costs no failed request. UdpProxy (udp_proxy.h): sessions per client address on one thread.
// Design: docs/design.md "Endpoints".
#pragma once

#include <netinet/in.h>

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
  auto operator<=>(const Backend&) const = default;
};

// What the EndpointPublisher needs of a proxy, whatever its transport. Thread-safe.
class EndpointProxy {
 public:
  enum class Transport { kTcp, kUdp };
  virtual ~EndpointProxy() = default;
  EndpointProxy(const EndpointProxy&) = delete;
  EndpointProxy& operator=(const EndpointProxy&) = delete;

  // Replaces the backends new connections (TCP) or new sessions (UDP) go to. TCP connections in
  // progress keep theirs; UDP sessions whose backend left the set are dropped.
  virtual void set_backends(std::vector<Backend> backends) = 0;
  [[nodiscard]] virtual std::vector<Backend> backends() const = 0;
  [[nodiscard]] virtual Transport transport() const = 0;
  // The port actually bound (the one asked for, or the kernel's choice for port 0).
  [[nodiscard]] std::uint16_t port() const { return port_; }
  // "service/endpoint", used in log lines; renamed when a redeploy gives the same port to
  // another endpoint (the listener is kept).
  [[nodiscard]] std::string name() const;
  void set_name(std::string name);

 protected:
  EndpointProxy(std::string name, std::uint16_t port) : name_(std::move(name)), port_(port) {}

 private:
  mutable std::mutex name_mutex_;
  std::string name_;
  std::uint16_t port_;
};

class TcpProxy final : public EndpointProxy {
 public:
  // Listens on `bind_address`:`port` (IPv4 literal; port 0 = any free port, see port()).
  // Errors: the socket's (kAlreadyExists for a port in use), naming `name` and the address.
  static Result<std::unique_ptr<TcpProxy>> open(std::string name, const std::string& bind_address,
                                                std::uint16_t port);
  // Stops accepting, cuts the connections in progress and joins every thread.
  ~TcpProxy() override;

  void set_backends(std::vector<Backend> backends) override;
  [[nodiscard]] std::vector<Backend> backends() const override;
  [[nodiscard]] Transport transport() const override { return Transport::kTcp; }

 private:
  TcpProxy(std::string name, UniqueFd listener, UniqueFd wake, std::uint16_t port);
  void accept_loop();
  void serve(UniqueFd client);
  // A connected socket to one of the backends, trying each once from the round-robin position.
  UniqueFd connect_backend();

  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: written by the destructor to end accept_loop
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::vector<Backend> backends_;
  std::size_t next_ = 0;
  std::set<int> connections_;  // client and backend fds in use, shut down on destruction
  std::size_t active_ = 0;     // connection threads still running
  bool stopping_ = false;
  std::thread acceptor_;
};

// Shared by the TCP and UDP proxies.
namespace detail {
// `address` (IPv4 literal) and `port` as a socket address. Errors: kInvalidArgument.
Result<sockaddr_in> ipv4_address(const std::string& address, std::uint16_t port);
// A socket of `type` (SOCK_STREAM or SOCK_DGRAM, CLOEXEC) bound to `address`:`port`; the port
// actually bound goes to `bound_port`. Only a stream socket gets SO_REUSEADDR (for TIME_WAIT; on
// a datagram socket it would let two sockets share the port). Errors: "endpoint NAME: bind
// ADDRESS:PORT: …" — kAlreadyExists for a port in use, errno-mapped others.
Result<UniqueFd> bind_endpoint_socket(const std::string& name, int type, const std::string& address,
                                      std::uint16_t port, std::uint16_t& bound_port);
}  // namespace detail

}  // namespace zlayer::agent
