// UdpProxy: the UDP side of an endpoint (protocol: udp), as kube-proxy's userspace mode and
// docker-proxy do it. It listens on the endpoint's `port`; the first datagram from a client
// address opens a session — a socket of its own connected to one serving replica's target_port,
// chosen round robin across sessions — and every datagram of that client goes there. Replies from
// the backend are sent to the client from the listening socket, so the client sees the address
// it sent to. A session ends after `idle_timeout` without a datagram either way, when its backend
// leaves the set (set_backends), when the backend refuses (ICMP port unreachable: the next
// datagram opens a session to the next backend) and when the proxy is destroyed.
// One thread per proxy polls the listener and every session (a datagram needs no blocking copy,
// unlike a TCP stream, so no thread per session). At most `max_sessions` sessions; while full,
// datagrams of new clients are dropped (as conntrack does when its table is full).
// Design: docs/design.md "Endpoints".
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>

#include "agent/endpoint_proxy.h"

namespace zlayer::agent {

struct UdpProxyOptions {
  // Linux conntrack's nf_conntrack_udp_timeout (30 s); kube-proxy's userspace mode defaults to
  // 250 ms (--udp-timeout), too short for a request that takes a while to answer, docker-proxy
  // uses 90 s.
  std::chrono::milliseconds idle_timeout{30'000};
  // An endpoint's `stream.session_timeout` replaces it.
  // Each session holds one socket; 256 per endpoint stays well under the usual soft
  // RLIMIT_NOFILE of 1024 with a few UDP endpoints.
  std::size_t max_sessions = 256;
};

class UdpProxy final : public EndpointProxy {
 public:
  // Binds a UDP socket to `bind_address`:`port` (IPv4 literal; port 0 = any free port, see
  // port()) and starts the proxy thread. Errors: the socket's (kAlreadyExists for a port in use),
  // naming `name` and the address.
  static Result<std::unique_ptr<UdpProxy>> open(std::string name, const std::string& bind_address,
                                                std::uint16_t port, UdpProxyOptions options = {});
  // Ends every session, closes the sockets and joins the thread.
  ~UdpProxy() override;

  void set_backends(std::vector<Backend> backends) override;
  [[nodiscard]] std::vector<Backend> backends() const override;
  [[nodiscard]] Transport transport() const override { return Transport::kUdp; }
  // Changes the idle timeout of every session, open ones included (a redeploy changed the
  // endpoint's stream.session_timeout).
  void set_idle_timeout(std::chrono::milliseconds idle_timeout);
  [[nodiscard]] std::chrono::milliseconds idle_timeout() const;
  // Sessions open now (tests, status).
  [[nodiscard]] std::size_t sessions() const;

 private:
  struct Session {
    sockaddr_in client{};
    Backend backend;
    UniqueFd socket;  // connected to the backend
    std::chrono::steady_clock::time_point last_active;
  };
  using ClientKey = std::uint64_t;  // IPv4 address << 16 | port

  UdpProxy(std::string name, UniqueFd listener, UniqueFd wake, std::uint16_t port,
           UdpProxyOptions options);
  void run();
  // Datagrams waiting on the listener: each goes to its client's session (opened if needed).
  void forward_from_clients(std::vector<char>& buffer);
  // Replies waiting on `session`'s socket go back to its client. False: the session is done.
  bool forward_to_client(Session& session, std::vector<char>& buffer);
  // A new session for `client` to the next backend, or null (no backend, full, no socket).
  Session* open_session(const sockaddr_in& client);
  // Ends the sessions whose backend is not in current_ (after set_backends).
  void drop_sessions_without_backend();
  // Ends the sessions idle for idle_timeout; returns the poll timeout until the next one
  // expires, in ms (-1: no session).
  int expire(std::chrono::steady_clock::time_point now);
  void close_session(ClientKey key);

  const std::size_t max_sessions_;
  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: written by set_backends and the destructor

  // Shared with other threads.
  mutable std::mutex mutex_;
  std::vector<Backend> backends_;
  std::chrono::milliseconds idle_timeout_;
  bool stopping_ = false;

  // Proxy thread only (session_count_ is read by sessions()).
  std::map<ClientKey, Session> sessions_;
  std::atomic<std::size_t> session_count_{0};
  std::vector<Backend> current_;  // the proxy thread's copies of backends_ and idle_timeout_
  std::chrono::milliseconds current_idle_timeout_;
  std::size_t next_ = 0;
  bool full_warned_ = false;
  std::thread thread_;
};

}  // namespace zlayer::agent
