#include "agent/udp_proxy.h"

#include <arpa/inet.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace zlayer::agent {
namespace {

// Datagrams taken from one socket per wake-up, so a busy client cannot starve the others.
constexpr int kBatch = 64;
// The largest UDP payload over IPv4 is 65507 bytes.
constexpr std::size_t kBufferSize = 65536;

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

std::uint64_t client_key(const sockaddr_in& client) {
  return (static_cast<std::uint64_t>(ntohl(client.sin_addr.s_addr)) << 16) | ntohs(client.sin_port);
}

}  // namespace

Result<std::unique_ptr<UdpProxy>> UdpProxy::open(std::string name, const std::string& bind_address,
                                                 std::uint16_t port, UdpProxyOptions options) {
  std::uint16_t bound = 0;
  ZLAYER_TRY(fd, detail::bind_endpoint_socket(name, SOCK_DGRAM | SOCK_NONBLOCK, bind_address, port,
                                              bound));
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return sys_error(fmt::format("endpoint {}: eventfd", name), errno);
  auto proxy = std::unique_ptr<UdpProxy>(
      new UdpProxy(std::move(name), std::move(fd), std::move(wake), bound, options));
  proxy->thread_ = std::thread([p = proxy.get()] { p->run(); });
  return proxy;
}

UdpProxy::UdpProxy(std::string name, UniqueFd listener, UniqueFd wake, std::uint16_t port,
                   UdpProxyOptions options)
    : EndpointProxy(std::move(name), port),
      max_sessions_(options.max_sessions),
      listener_(std::move(listener)),
      wake_(std::move(wake)),
      idle_timeout_(options.idle_timeout),
      current_idle_timeout_(options.idle_timeout) {}

UdpProxy::~UdpProxy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

void UdpProxy::set_backends(std::vector<Backend> backends) {
  {
    std::lock_guard lock(mutex_);
    backends_ = std::move(backends);
  }
  std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
}

std::vector<Backend> UdpProxy::backends() const {
  std::lock_guard lock(mutex_);
  return backends_;
}

void UdpProxy::set_idle_timeout(std::chrono::milliseconds idle_timeout) {
  {
    std::lock_guard lock(mutex_);
    idle_timeout_ = idle_timeout;
  }
  std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
}

std::chrono::milliseconds UdpProxy::idle_timeout() const {
  std::lock_guard lock(mutex_);
  return idle_timeout_;
}

std::size_t UdpProxy::sessions() const { return session_count_.load(); }

void UdpProxy::run() {
  std::vector<char> buffer(kBufferSize);
  std::vector<pollfd> fds;
  std::vector<ClientKey> keys;
  int timeout = -1;
  for (;;) {
    fds.clear();
    keys.clear();
    fds.push_back({wake_.get(), POLLIN, 0});
    fds.push_back({listener_.get(), POLLIN, 0});
    for (const auto& [key, session] : sessions_) {
      fds.push_back({session.socket.get(), POLLIN, 0});
      keys.push_back(key);
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("endpoint {}: poll failed ({}); UDP proxy stopped", name(),
                    std::strerror(errno));
      return;
    }
    if (ready > 0 && fds[0].revents != 0) {
      std::uint64_t count = 0;
      (void)::read(wake_.get(), &count, sizeof(count));
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      current_ = backends_;
      current_idle_timeout_ = idle_timeout_;
      drop_sessions_without_backend();
    }
    if (ready > 0) {
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = sessions_.find(keys[i - 2]);
        if (it == sessions_.end()) continue;
        if (!forward_to_client(it->second, buffer)) close_session(it->first);
      }
      if (fds[1].revents != 0) forward_from_clients(buffer);
    }
    timeout = expire(std::chrono::steady_clock::now());
  }
}

void UdpProxy::forward_from_clients(std::vector<char>& buffer) {
  for (int i = 0; i < kBatch; ++i) {
    sockaddr_in client{};
    socklen_t len = sizeof(client);
    const ssize_t n = ::recvfrom(listener_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&client), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!would_block(errno)) {
        spdlog::debug("endpoint {}: receive: {}", name(), std::strerror(errno));
      }
      return;
    }
    const ClientKey key = client_key(client);
    Session* session = nullptr;
    if (auto it = sessions_.find(key); it != sessions_.end()) {
      session = &it->second;
    } else {
      session = open_session(client);
    }
    if (session == nullptr) continue;  // dropped, as a lost datagram
    session->last_active = std::chrono::steady_clock::now();
    if (::send(session->socket.get(), buffer.data(), static_cast<std::size_t>(n), MSG_DONTWAIT) <
            0 &&
        errno == ECONNREFUSED) {
      // An earlier datagram met a closed port: this backend is gone; the client's next datagram
      // opens a session to the next one.
      spdlog::debug("endpoint {}: backend {}:{} refused", name(), session->backend.address,
                    session->backend.port);
      close_session(key);
    }
  }
}

bool UdpProxy::forward_to_client(Session& session, std::vector<char>& buffer) {
  for (int i = 0; i < kBatch; ++i) {
    const ssize_t n = ::recv(session.socket.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (would_block(errno)) return true;
      spdlog::debug("endpoint {}: backend {}:{}: {}", name(), session.backend.address,
                    session.backend.port, std::strerror(errno));
      return false;  // ECONNREFUSED: the backend's port is closed
    }
    session.last_active = std::chrono::steady_clock::now();
    (void)::sendto(listener_.get(), buffer.data(), static_cast<std::size_t>(n), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&session.client), sizeof(session.client));
  }
  return true;
}

UdpProxy::Session* UdpProxy::open_session(const sockaddr_in& client) {
  if (current_.empty()) return nullptr;  // no backend: dropped, as kube-proxy does
  if (sessions_.size() >= max_sessions_) {
    if (!full_warned_) {
      spdlog::warn("endpoint {}: {} UDP sessions open (the limit); new clients are dropped", name(),
                   max_sessions_);
      full_warned_ = true;
    }
    return nullptr;
  }
  for (std::size_t tried = 0; tried < current_.size(); ++tried) {
    const Backend& backend = current_[next_++ % current_.size()];
    auto addr = detail::ipv4_address(backend.address, backend.port);
    if (!addr) continue;
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) {
      spdlog::warn("endpoint {}: no socket for a UDP session: {}", name(), std::strerror(errno));
      return nullptr;
    }
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
      continue;
    }
    auto [it, inserted] = sessions_.emplace(
        client_key(client),
        Session{client, backend, std::move(fd), std::chrono::steady_clock::now()});
    session_count_ = sessions_.size();
    return &it->second;
  }
  return nullptr;
}

void UdpProxy::drop_sessions_without_backend() {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const Backend& backend = it->second.backend;
    const auto key = it++->first;
    if (std::find(current_.begin(), current_.end(), backend) == current_.end()) {
      close_session(key);
    }
  }
}

int UdpProxy::expire(std::chrono::steady_clock::time_point now) {
  std::optional<std::chrono::steady_clock::duration> next;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const auto idle = now - it->second.last_active;
    const auto key = it++->first;
    if (idle >= current_idle_timeout_) {
      close_session(key);
      continue;
    }
    const auto left = current_idle_timeout_ - idle;
    if (!next || left < *next) next = left;
  }
  if (!next) return -1;
  // Rounded up, so the session has expired when poll returns.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(*next).count());
}

void UdpProxy::close_session(ClientKey key) {
  sessions_.erase(key);
  session_count_ = sessions_.size();
  if (sessions_.size() < max_sessions_) full_warned_ = false;
}

}  // namespace zlayer::agent
