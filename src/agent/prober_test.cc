// The real probes against loopback servers (a listening socket, cpp-httplib), the host shell and
// a FakeRuntime's exec. No timing assertions: only outcomes.
#include "agent/prober.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/fs.h"
#include "support/fake_http_server.h"
#include "support/fake_runtime.h"

namespace zlayer::agent {
namespace {

using std::chrono::seconds;

// A loopback TCP listener on a free port; closed on destruction.
struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
  Listener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd.get(), 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
};

TEST(NetworkProber, TcpConnectsToAListenerAndFailsOnAClosedPort) {
  NetworkProber prober;
  std::uint16_t closed_port = 0;
  {
    Listener listener;
    auto ok = prober.tcp("127.0.0.1", listener.port, seconds(2));
    EXPECT_TRUE(ok.success) << ok.detail;
    closed_port = listener.port;
  }
  auto refused = prober.tcp("127.0.0.1", closed_port, seconds(2));
  EXPECT_FALSE(refused.success);
  EXPECT_NE(refused.detail.find(std::to_string(closed_port)), std::string::npos) << refused.detail;
  auto bad_host = prober.tcp("no-such-host.invalid", 80, seconds(2));
  EXPECT_FALSE(bad_host.success);
}

TEST(NetworkProber, HttpChecksTheStatus) {
  zlayer::testing::FakeServer server;
  server.http().Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server.http().Get("/sick",
                    [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  server.http().Get("/teapot",
                    [](const httplib::Request&, httplib::Response& res) { res.status = 418; });
  server.start();
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  NetworkProber prober;
  EXPECT_TRUE(prober.http(base + "/health", 200, seconds(5)).success);
  EXPECT_TRUE(prober.http(base + "/health", std::nullopt, seconds(5)).success);
  auto sick = prober.http(base + "/sick", 200, seconds(5));
  EXPECT_FALSE(sick.success);
  EXPECT_NE(sick.detail.find("HTTP 503, expected 200"), std::string::npos) << sick.detail;
  EXPECT_FALSE(prober.http(base + "/sick", std::nullopt, seconds(5)).success);
  EXPECT_TRUE(prober.http(base + "/teapot", 418, seconds(5)).success);
}

TEST(NetworkProber, HostCommandExitCodeAndTimeout) {
  NetworkProber prober;
  EXPECT_TRUE(prober.host_command("true", seconds(5)).success);
  auto failed = prober.host_command("exit 3", seconds(5));
  EXPECT_FALSE(failed.success);
  EXPECT_NE(failed.detail.find("code 3"), std::string::npos) << failed.detail;
  auto slow = prober.host_command("exec sleep 30", std::chrono::milliseconds(100));
  EXPECT_FALSE(slow.success);
  EXPECT_NE(slow.detail.find("timed out"), std::string::npos) << slow.detail;
}

TEST(NetworkProber, ExecRunsInsideTheContainerWithTheTimeout) {
  zlayer::testing::FakeRuntime runtime;
  ContainerId id{"web", 1};
  ASSERT_TRUE(runtime.create_container(id, {}));
  ASSERT_TRUE(runtime.start_container(id));
  std::vector<runtime::ExecOptions> seen;
  runtime.set_exec(
      [&](const ContainerId&, const runtime::ExecOptions& options) -> Result<runtime::ExecResult> {
        seen.push_back(options);
        if (options.command.back() == "slow") {
          return errorf(Errc::kDeadlineExceeded, "killed after {} ms", options.timeout.count());
        }
        return runtime::ExecResult{options.command.back() == "ok" ? 0 : 1, "", ""};
      });
  NetworkProber prober;
  EXPECT_TRUE(prober.exec(runtime, id, "ok", seconds(3)).success);
  EXPECT_FALSE(prober.exec(runtime, id, "bad", seconds(3)).success);
  auto slow = prober.exec(runtime, id, "slow", seconds(3));
  EXPECT_FALSE(slow.success);
  EXPECT_NE(slow.detail.find("killed"), std::string::npos) << slow.detail;
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].command, (std::vector<std::string>{"sh", "-c", "ok"}));
  EXPECT_EQ(seen[0].timeout, std::chrono::milliseconds(3000));
  auto journal = runtime.journal();
  EXPECT_EQ(journal.back(), "exec-timeout web-rep-1");
  // A stopped container: the probe fails, it does not throw or hang.
  ASSERT_TRUE(runtime.exit(id, runtime::ExitStatus::exited(0)));
  EXPECT_FALSE(prober.exec(runtime, id, "ok", seconds(3)).success);
}

TEST(RewriteProbeUrl, ReplacesLocalHostsOnly) {
  EXPECT_EQ(rewrite_probe_url("http://localhost:3000/health", "10.0.0.2"),
            "http://10.0.0.2:3000/health");
  EXPECT_EQ(rewrite_probe_url("http://127.0.0.1/x", "10.0.0.2"), "http://10.0.0.2/x");
  EXPECT_EQ(rewrite_probe_url("http://localhost", "fd00::2"), "http://[fd00::2]");
  EXPECT_EQ(rewrite_probe_url("http://localhostx/", "10.0.0.2"), "http://localhostx/");
  EXPECT_EQ(rewrite_probe_url("http://example.com/localhost", "10.0.0.2"),
            "http://example.com/localhost");
  EXPECT_EQ(rewrite_probe_url("http://localhost:1/", ""), "http://localhost:1/");
}

}  // namespace
}  // namespace zlayer::agent
