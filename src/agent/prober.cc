#include "agent/prober.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/fs.h"
#include "core/subprocess.h"

namespace zlayer::agent {
namespace {

int to_ms(Clock::Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 1, 24 * 3600 * 1000));
}

// One non-blocking connect attempt to `ai`, waiting at most `ms`.
ProbeOutcome connect_one(const addrinfo* ai, int ms) {
  UniqueFd fd(
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) return {false, fmt::format("socket: {}", std::strerror(errno))};
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return {true, {}};
  if (errno != EINPROGRESS) return {false, std::strerror(errno)};
  pollfd pfd{fd.get(), POLLOUT, 0};
  int ready = ::poll(&pfd, 1, ms);
  if (ready == 0) return {false, fmt::format("no answer within {} ms", ms)};
  if (ready < 0) return {false, fmt::format("poll: {}", std::strerror(errno))};
  int err = 0;
  socklen_t len = sizeof(err);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return {false, std::strerror(err)};
  return {true, {}};
}

}  // namespace

ProbeOutcome NetworkProber::tcp(const std::string& host, std::uint16_t port,
                                Clock::Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return {false, fmt::format("tcp {}:{}: {}", host, port, ::gai_strerror(rc))};
  }
  ProbeOutcome outcome{false, "no address"};
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    outcome = connect_one(ai, to_ms(timeout));
    if (outcome.success) break;
  }
  ::freeaddrinfo(found);
  if (!outcome.success) outcome.detail = fmt::format("tcp {}:{}: {}", host, port, outcome.detail);
  return outcome;
}

ProbeOutcome NetworkProber::http(const std::string& url, std::optional<std::uint16_t> expect_status,
                                 Clock::Duration timeout) {
  // One handle per probing thread, reset before each probe: curl_easy_init/cleanup per probe was
  // most of an http check's cost (bench/deploy_bench.sh).
  thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(),
                                                                          curl_easy_cleanup);
  CURL* curl = handle.get();
  if (curl == nullptr) return {false, "http: curl_easy_init failed"};
  curl_easy_reset(curl);
  auto discard = +[](char*, size_t size, size_t count, void*) -> size_t { return size * count; };
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(to_ms(timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");  // probes go straight to the replica
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  // A fresh connection per check, as the kubelet's probes (keep-alive off): a check must see
  // whether the replica accepts connections now.
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) return {false, fmt::format("GET {}: {}", url, curl_easy_strerror(rc))};
  bool ok = expect_status ? status == *expect_status : (status >= 200 && status < 300);
  if (ok) return {true, {}};
  return {false, expect_status
                     ? fmt::format("GET {}: HTTP {}, expected {}", url, status, *expect_status)
                     : fmt::format("GET {}: HTTP {}, expected 2xx", url, status)};
}

ProbeOutcome NetworkProber::exec(runtime::Runtime& runtime, const ContainerId& id,
                                 const std::string& command, Clock::Duration timeout) {
  runtime::ExecOptions options;
  options.command = {"sh", "-c", command};
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  auto result = runtime.exec(id, options);
  if (!result) {
    if (result.error().code == Errc::kDeadlineExceeded) {
      return {false, fmt::format("command timed out after {} ms and was killed", to_ms(timeout))};
    }
    return {false, result.error().message};
  }
  if (result->exit_code == 0) return {true, {}};
  return {false, fmt::format("command exited with code {}", result->exit_code)};
}

ProbeOutcome NetworkProber::host_command(const std::string& command, Clock::Duration timeout) {
  SubprocessOptions options;
  options.timeout = std::chrono::milliseconds(to_ms(timeout));
  auto result = run_subprocess({"sh", "-c", command}, options);
  if (!result) {
    if (result.error().code == Errc::kDeadlineExceeded) {
      return {false,
              fmt::format("`{}` timed out after {} ms and was killed", command, to_ms(timeout))};
    }
    return {false, result.error().message};
  }
  if (result->exit_code == 0) return {true, {}};
  return {false, fmt::format("`{}` exited with code {}", command, result->exit_code)};
}

std::string rewrite_probe_url(std::string_view url, std::string_view address) {
  std::string out(url);
  if (address.empty()) return out;
  auto scheme = out.find("://");
  std::size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  for (std::string_view local : {"localhost", "127.0.0.1"}) {
    if (out.compare(host_start, local.size(), local) == 0) {
      std::size_t after = host_start + local.size();
      if (after == out.size() || out[after] == ':' || out[after] == '/') {
        bool v6 = address.find(':') != std::string_view::npos;
        out.replace(host_start, local.size(),
                    v6 ? fmt::format("[{}]", address) : std::string(address));
      }
      break;
    }
  }
  return out;
}

}  // namespace zlayer::agent
