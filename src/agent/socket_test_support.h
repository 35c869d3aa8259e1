// Loopback sockets for the endpoint proxy tests: UDP and TCP echo servers that prefix each reply
// with their name (so a test sees which backend answered), a UDP client with its own address,
// and free ports. Everything binds 127.0.0.1 with kernel-chosen ports.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/fs.h"

namespace zlayer::agent::testing {

inline sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

// A socket of `type` bound to 127.0.0.1 on a port the kernel chose; `port` gets it.
inline UniqueFd bound_socket(int type, std::uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in addr = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// A loopback port nothing uses now (bound, then closed).
inline std::uint16_t free_port(int type = SOCK_STREAM) {
  std::uint16_t port = 0;
  (void)bound_socket(type, port);
  return port;
}

// Echoes every datagram as "NAME:payload" until destroyed.
class UdpEchoServer {
 public:
  explicit UdpEchoServer(std::string name) : name_(std::move(name)) {
    socket_ = bound_socket(SOCK_DGRAM, port_);
    thread_ = std::thread([this] { run(); });
  }
  ~UdpEchoServer() {
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof(one));
    thread_.join();
  }
  UdpEchoServer(const UdpEchoServer&) = delete;
  UdpEchoServer& operator=(const UdpEchoServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  void run() {
    char buffer[65536];
    for (;;) {
      pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {socket_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[0].revents != 0) return;
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      ssize_t n = ::recvfrom(socket_.get(), buffer, sizeof(buffer), 0,
                             reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) continue;
      std::string reply = name_ + ":" + std::string(buffer, static_cast<std::size_t>(n));
      ::sendto(socket_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
               len);
    }
  }
  std::string name_;
  std::uint16_t port_ = 0;
  UniqueFd socket_;
  UniqueFd wake_{::eventfd(0, EFD_CLOEXEC)};
  std::thread thread_;
};

// A UDP client with an address of its own (a session of the proxy).
class UdpClient {
 public:
  UdpClient() { socket_ = bound_socket(SOCK_DGRAM, port_); }
  // Sends `payload` to 127.0.0.1:`port` and waits up to `wait_ms` for one reply.
  std::optional<std::string> ask(std::uint16_t port, const std::string& payload,
                                 int wait_ms = 2000) {
    sockaddr_in to = loopback(port);
    if (::sendto(socket_.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof(to)) < 0) {
      return std::nullopt;
    }
    pollfd p{socket_.get(), POLLIN, 0};
    if (::poll(&p, 1, wait_ms) != 1) return std::nullopt;
    char buffer[65536];
    ssize_t n = ::recv(socket_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }
  // ask() until a reply comes, `attempts` times at most (a datagram lost to a backend that went
  // away is retried, as a UDP client does).
  std::optional<std::string> ask_until_answered(std::uint16_t port, const std::string& payload,
                                                int attempts = 10) {
    for (int i = 0; i < attempts; ++i) {
      if (auto reply = ask(port, payload, 500)) return reply;
    }
    return std::nullopt;
  }

 private:
  UniqueFd socket_;
  std::uint16_t port_ = 0;
};

// Accepts connections and echoes every read as "NAME:data" on it, until destroyed.
class TcpEchoServer {
 public:
  explicit TcpEchoServer(std::string name) : name_(std::move(name)) {
    listener_ = bound_socket(SOCK_STREAM, port_);
    ::listen(listener_.get(), 16);
    thread_ = std::thread([this] { run(); });
  }
  ~TcpEchoServer() {
    std::uint64_t one = 1;
    (void)::write(wake_.get(), &one, sizeof(one));
    thread_.join();
  }
  TcpEchoServer(const TcpEchoServer&) = delete;
  TcpEchoServer& operator=(const TcpEchoServer&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }

 private:
  void run() {
    std::vector<UniqueFd> clients;
    char buffer[16384];
    for (;;) {
      std::vector<pollfd> fds = {{wake_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
      for (const auto& c : clients) fds.push_back({c.get(), POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) return;
      std::vector<int> closed;
      for (std::size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
        if (n <= 0) {
          closed.push_back(fds[i].fd);
          continue;
        }
        std::string reply = name_ + ":" + std::string(buffer, static_cast<std::size_t>(n));
        (void)::send(fds[i].fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      std::erase_if(clients, [&](const UniqueFd& c) {
        return std::find(closed.begin(), closed.end(), c.get()) != closed.end();
      });
      if (fds[1].revents != 0) {
        UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client.valid()) clients.push_back(std::move(client));
      }
    }
  }
  std::string name_;
  std::uint16_t port_ = 0;
  UniqueFd listener_;
  UniqueFd wake_{::eventfd(0, EFD_CLOEXEC)};
  std::thread thread_;
};

// A TCP connection to 127.0.0.1:`port`; exchange() sends and waits for one read.
class TcpClient {
 public:
  explicit TcpClient(std::uint16_t port) {
    socket_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in to = loopback(port);
    connected_ = ::connect(socket_.get(), reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
  }
  std::optional<std::string> exchange(const std::string& data, int wait_ms = 2000) {
    if (!connected_) return std::nullopt;
    if (::send(socket_.get(), data.data(), data.size(), MSG_NOSIGNAL) < 0) return std::nullopt;
    pollfd p{socket_.get(), POLLIN, 0};
    if (::poll(&p, 1, wait_ms) != 1) return std::nullopt;
    char buffer[16384];
    ssize_t n = ::read(socket_.get(), buffer, sizeof(buffer));
    if (n <= 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  UniqueFd socket_;
  bool connected_ = false;
};

}  // namespace zlayer::agent::testing
