#include "agent/endpoint_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zlayer::agent {
namespace {

// How long a backend may take to accept before the next one is tried.
constexpr int kConnectTimeoutMs = 1000;

// Non-blocking connect bounded by kConnectTimeoutMs; the socket is blocking again afterwards.
UniqueFd connect_to(const Backend& backend) {
  auto addr = detail::ipv4_address(backend.address, backend.port);
  if (!addr) return {};
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return {};
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    if (errno != EINPROGRESS) return {};
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, kConnectTimeoutMs) != 1) return {};
    int error = 0;
    socklen_t len = sizeof(error);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) return {};
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Copies both directions until both are closed; a half close is passed on (shutdown(SHUT_WR)).
void pump(int a, int b) {
  char buffer[16384];
  bool a_open = true;
  bool b_open = true;
  while (a_open || b_open) {
    pollfd fds[2] = {{a, static_cast<short>(a_open ? POLLIN : 0), 0},
                     {b, static_cast<short>(b_open ? POLLIN : 0), 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = i == 0 ? a : b;
      const int to = i == 0 ? b : a;
      ssize_t n = ::read(from, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        (i == 0 ? a_open : b_open) = false;
        ::shutdown(to, SHUT_WR);
        if (n < 0) return;  // reset: give up both directions
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::send(to, buffer + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

}  // namespace

namespace detail {

Result<sockaddr_in> ipv4_address(const std::string& address, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return errorf(Errc::kInvalidArgument, "\"{}\" is not an IPv4 address", address);
  }
  return addr;
}

Result<UniqueFd> bind_endpoint_socket(const std::string& name, int type, const std::string& address,
                                      std::uint16_t port, std::uint16_t& bound_port) {
  auto fail = [&](std::string_view what) {
    const int err = errno;
    auto error = sys_error(fmt::format("endpoint {}: {} {}:{}", name, what, address, port), err);
    if (err == EADDRINUSE) error.value().code = Errc::kAlreadyExists;
    return error;
  };
  ZLAYER_TRY(addr, ipv4_address(address, port));
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail("socket for");
  if (type == SOCK_STREAM) {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("bind");
  }
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return fail("getsockname of");
  }
  bound_port = ntohs(bound.sin_port);
  return fd;
}

}  // namespace detail

std::string EndpointProxy::name() const {
  std::lock_guard lock(name_mutex_);
  return name_;
}

void EndpointProxy::set_name(std::string name) {
  std::lock_guard lock(name_mutex_);
  name_ = std::move(name);
}

Result<std::unique_ptr<TcpProxy>> TcpProxy::open(std::string name, const std::string& bind_address,
                                                 std::uint16_t port) {
  std::uint16_t bound = 0;
  ZLAYER_TRY(fd, detail::bind_endpoint_socket(name, SOCK_STREAM, bind_address, port, bound));
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return sys_error(fmt::format("endpoint {}: listen on {}:{}", name, bind_address, port), errno);
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake.valid()) return sys_error(fmt::format("endpoint {}: eventfd", name), errno);
  auto proxy = std::unique_ptr<TcpProxy>(
      new TcpProxy(std::move(name), std::move(fd), std::move(wake), bound));
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->accept_loop(); });
  return proxy;
}

TcpProxy::TcpProxy(std::string name, UniqueFd listener, UniqueFd wake, std::uint16_t port)
    : EndpointProxy(std::move(name), port),
      listener_(std::move(listener)),
      wake_(std::move(wake)) {}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return active_ == 0; });
}

void TcpProxy::set_backends(std::vector<Backend> backends) {
  std::lock_guard lock(mutex_);
  backends_ = std::move(backends);
}

std::vector<Backend> TcpProxy::backends() const {
  std::lock_guard lock(mutex_);
  return backends_;
}

void TcpProxy::accept_loop() {
  for (;;) {
    UniqueFd client = accept_until_woken(listener_.get(), wake_.get());
    if (!client.valid()) return;
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    ++active_;
    // Detached: the destructor waits for `active_` to reach 0 instead of joining.
    std::thread([this, c = std::move(client)]() mutable { serve(std::move(c)); }).detach();
  }
}

UniqueFd TcpProxy::connect_backend() {
  std::vector<Backend> candidates;
  std::size_t start = 0;
  {
    std::lock_guard lock(mutex_);
    candidates = backends_;
    start = next_++;
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Backend& b = candidates[(start + i) % candidates.size()];
    if (auto fd = connect_to(b); fd.valid()) return fd;
    spdlog::debug("endpoint {}: backend {}:{} refused; trying the next", name(), b.address, b.port);
  }
  return {};
}

void TcpProxy::serve(UniqueFd client) {
  UniqueFd backend = connect_backend();
  bool run = backend.valid();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) run = false;
    if (run) {
      connections_.insert(client.get());
      connections_.insert(backend.get());
    }
  }
  // No backend: the client sees the connection closed, as with kube-proxy's userspace mode.
  if (run) pump(client.get(), backend.get());
  std::lock_guard lock(mutex_);
  connections_.erase(client.get());
  connections_.erase(backend.get());
  client.reset();
  backend.reset();
  --active_;
  idle_.notify_all();
}

}  // namespace zlayer::agent
