#include "runtime/linux/net_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <thread>

#include "core/subprocess.h"

namespace zlayer::runtime::linux::testing {

int random_int(int low, int high) {
  static std::mt19937 generator{std::random_device{}()};
  return std::uniform_int_distribution<int>(low, high)(generator);
}

Result<std::string> run_command(const std::vector<std::string>& argv) {
  ZLAYER_TRY(ran, run_subprocess(argv));
  if (ran.exit_code != 0) {
    return errorf(Errc::kInternal, "{} exited with {}: {}", argv.front(), ran.exit_code, ran.err);
  }
  return ran.out;
}

Result<TestNetns> TestNetns::enter() {
  const std::string name = fmt::format("zl-test-{:08x}", random_int(0, 0x7fffffff));
  UniqueFd original(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original.valid()) return sys_error("opening our network namespace", errno);
  ZLAYER_CHECK(run_command({"ip", "netns", "add", name}));
  TestNetns result(name, std::move(original));  // from here the destructor deletes it
  UniqueFd target(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!target.valid()) return sys_error("opening /run/netns/" + name, errno);
  if (::setns(target.get(), CLONE_NEWNET) != 0) return sys_error("entering " + name, errno);
  // Guard: never go on in the namespace we came from.
  struct stat ours {};
  struct stat theirs {};
  ::fstat(result.original_.get(), &theirs);
  ::stat("/proc/thread-self/ns/net", &ours);
  if (ours.st_ino == theirs.st_ino) {
    return errorf(Errc::kInternal, "still in the original network namespace after setns");
  }
  ZLAYER_CHECK(run_command({"ip", "link", "set", "lo", "up"}));
  return result;
}

TestNetns::TestNetns(TestNetns&& other) noexcept
    : name_(std::move(other.name_)), original_(std::move(other.original_)) {
  other.name_.clear();
}

TestNetns::~TestNetns() {
  if (name_.empty()) return;
  if (original_.valid()) ::setns(original_.get(), CLONE_NEWNET);
  (void)run_subprocess({"ip", "netns", "del", name_});
}

Result<NetnsProcess> NetnsProcess::start(const std::filesystem::path& netns,
                                         const std::vector<std::string>& argv) {
  UniqueFd ns(::open(netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return sys_error("opening " + netns.string(), errno);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", errno);
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    if (::setns(ns.get(), CLONE_NEWNET) != 0) ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return NetnsProcess(pid);
}

NetnsProcess::~NetnsProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

namespace {

// One attempt. Returns kUnavailable on ECONNREFUSED (the server is not listening yet).
Result<std::string> http_get_once(const std::string& ip, std::uint16_t port) {
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock.valid()) return sys_error("socket", errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1) {
    return errorf(Errc::kInvalidArgument, "not an IPv4 address: {}", ip);
  }
  const std::string where = fmt::format("{}:{}", ip, port);
  const auto wait_for = [&](short events) -> Status {
    pollfd p{sock.get(), events, 0};
    const int rc = ::poll(&p, 1, 2000);
    if (rc == 0) return errorf(Errc::kUnavailable, "{}: timed out", where);
    if (rc < 0) return sys_error("poll " + where, errno);
    return {};
  };
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) return sys_error("connect " + where, errno);
    ZLAYER_CHECK(wait_for(POLLOUT));
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error == ECONNREFUSED) return errorf(Errc::kUnavailable, "{}: connection refused", where);
    if (error != 0) return sys_error("connect " + where, error);
  }
  const std::string request = "GET / HTTP/1.0\r\nHost: " + where + "\r\n\r\n";
  if (::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return sys_error("send " + where, errno);
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    ZLAYER_CHECK(wait_for(POLLIN));
    const ssize_t n = ::recv(sock.get(), buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) return sys_error("recv " + where, errno);
    if (n == 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  const auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return errorf(Errc::kInternal, "{}: not an HTTP response: {}", where, response.substr(0, 100));
  }
  return response.substr(body + 4);
}

}  // namespace

Result<std::string> http_get(const std::string& ip, std::uint16_t port,
                             std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto got = http_get_once(ip, port);
    if (got || got.error().code != Errc::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return got;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll: server still starting
  }
}

}  // namespace zlayer::runtime::linux::testing
