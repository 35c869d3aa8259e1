#include "agent/control_socket.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zlayer::agent {
namespace {

// Requests are small (a spec); anything larger is refused.
constexpr std::size_t kMaxRequest = 4 << 20;

Result<sockaddr_un> unix_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof(addr.sun_path)) {
    return errorf(Errc::kInvalidArgument, "control socket path {} is longer than {} bytes", text,
                  sizeof(addr.sun_path) - 1);
  }
  std::memcpy(addr.sun_path, text.c_str(), text.size() + 1);
  return addr;
}

// Reads one '\n'-terminated line (or to EOF) within `timeout_ms` per read.
Result<std::string> read_line(int fd, int timeout_ms) {
  std::string line;
  char buffer[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return errorf(Errc::kDeadlineExceeded, "no answer on the control socket");
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading the control socket", errno);
    if (n == 0) return line;
    line.append(buffer, static_cast<std::size_t>(n));
    if (auto nl = line.find('\n'); nl != std::string::npos) return line.substr(0, nl);
    if (line.size() > kMaxRequest) return errorf(Errc::kInvalidArgument, "request too large");
  }
}

Status write_all(int fd, const std::string& text) {
  for (std::size_t off = 0; off < text.size();) {
    ssize_t n = ::send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("writing the control socket", errno);
    off += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::open(const std::filesystem::path& path,
                                                           ControlHandler handler) {
  ZLAYER_TRY(addr, unix_address(path));
  ZLAYER_CHECK(make_dirs(path.parent_path()));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return sys_error("socket for " + path.string(), errno);
  ::unlink(path.c_str());  // a dead owner's socket; we hold the lock
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return sys_error("bind " + path.string(), errno);
  }
  ::chmod(path.c_str(), 0600);
  if (::listen(fd.get(), 16) != 0) return sys_error("listen on " + path.string(), errno);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC));
  if (!wake.valid()) return sys_error("eventfd", errno);
  auto server = std::unique_ptr<ControlServer>(
      new ControlServer(path, std::move(fd), std::move(wake), std::move(handler)));
  server->thread_ = std::thread([s = server.get()] { s->serve(); });
  return server;
}

ControlServer::ControlServer(std::filesystem::path path, UniqueFd listener, UniqueFd wake,
                             ControlHandler handler)
    : path_(std::move(path)),
      listener_(std::move(listener)),
      wake_(std::move(wake)),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  ::unlink(path_.c_str());
}

void ControlServer::serve() {
  for (;;) {
    UniqueFd client = accept_until_woken(listener_.get(), wake_.get());
    if (!client.valid()) return;
    nlohmann::json answer;
    auto line = read_line(client.get(), 5000);
    if (!line) {
      answer = {{"ok", false}, {"error", line.error().message}};
    } else {
      auto request = nlohmann::json::parse(*line, nullptr, false);
      if (request.is_discarded() || !request.is_object()) {
        answer = {{"ok", false}, {"error", "the request is not a JSON object"}};
      } else {
        answer = handler_(request);
      }
    }
    (void)write_all(client.get(), answer.dump() + "\n");
  }
}

Result<nlohmann::json> control_request(const std::filesystem::path& path,
                                       const nlohmann::json& request,
                                       std::chrono::milliseconds timeout) {
  ZLAYER_TRY(addr, unix_address(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return sys_error("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return errorf(Errc::kUnavailable, "nobody serves {}: {}", path.string(), std::strerror(errno));
  }
  ZLAYER_CHECK(write_all(fd.get(), request.dump() + "\n"));
  ZLAYER_TRY(line, read_line(fd.get(), static_cast<int>(timeout.count())));
  auto answer = nlohmann::json::parse(line, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return errorf(Errc::kInternal, "{} answered something that is not JSON: {}", path.string(),
                  line);
  }
  if (!answer.value("ok", false)) {
    return errorf(Errc::kFailedPrecondition, "{}", answer.value("error", std::string("failed")));
  }
  return answer;
}

}  // namespace zlayer::agent
