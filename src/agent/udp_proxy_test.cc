// The UDP endpoint proxy against echo servers on loopback: replies reach each client, sessions
// go round robin and stay with their backend, a backend leaving the set or refusing moves its
// clients on, idle sessions expire, the session limit holds, and a port in use is an error.
// Outcomes only: a wait is a bound on how long to look, never an assertion.
#include "agent/udp_proxy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "agent/socket_test_support.h"

namespace zlayer::agent {
namespace {

using testing::UdpClient;
using testing::UdpEchoServer;

std::unique_ptr<UdpProxy> open_proxy(UdpProxyOptions options = {}) {
  auto proxy = UdpProxy::open("dns/udp", "127.0.0.1", 0, options);
  EXPECT_TRUE(proxy) << proxy.error().message;
  return proxy ? std::move(*proxy) : nullptr;
}

Backend at(const UdpEchoServer& server) { return {"127.0.0.1", server.port()}; }

// Waits up to 10 s for `pred`.
template <typename Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(UdpProxy, EachClientGetsItsRepliesAndSessionsGoRoundRobin) {
  UdpEchoServer a("a");
  UdpEchoServer b("b");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  ASSERT_GT(proxy->port(), 0);
  EXPECT_EQ(proxy->transport(), EndpointProxy::Transport::kUdp);
  proxy->set_backends({at(a), at(b)});

  UdpClient first;
  UdpClient second;
  // Sessions alternate between the backends; each client stays with its own.
  EXPECT_EQ(first.ask(proxy->port(), "one"), "a:one");
  EXPECT_EQ(second.ask(proxy->port(), "two"), "b:two");
  EXPECT_EQ(first.ask(proxy->port(), "three"), "a:three");
  EXPECT_EQ(second.ask(proxy->port(), "four"), "b:four");
  EXPECT_EQ(proxy->sessions(), 2U);

  // A large datagram passes whole.
  const std::string big(60000, 'x');
  EXPECT_EQ(first.ask(proxy->port(), big), "a:" + big);
}

TEST(UdpProxy, ABackendLeavingTheSetDropsItsSessions) {
  UdpEchoServer a("a");
  UdpEchoServer b("b");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends({at(a), at(b)});
  UdpClient on_a;
  UdpClient on_b;
  ASSERT_EQ(on_a.ask(proxy->port(), "x"), "a:x");
  ASSERT_EQ(on_b.ask(proxy->port(), "x"), "b:x");

  proxy->set_backends({at(b)});
  EXPECT_EQ(proxy->backends(), std::vector<Backend>{at(b)});
  // on_a's session went with its backend: its next datagram opens one to b.
  EXPECT_EQ(on_a.ask(proxy->port(), "y"), "b:y");
  EXPECT_EQ(on_b.ask(proxy->port(), "y"), "b:y");
  EXPECT_EQ(proxy->sessions(), 2U);
}

TEST(UdpProxy, IdleSessionsExpireAndTheNextDatagramStartsANewOne) {
  UdpEchoServer a("a");
  UdpEchoServer b("b");
  auto proxy = open_proxy({.idle_timeout = std::chrono::milliseconds(300)});
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends({at(a), at(b)});
  UdpClient client;
  ASSERT_EQ(client.ask(proxy->port(), "x"), "a:x");
  EXPECT_TRUE(eventually([&] { return proxy->sessions() == 0; }));
  // A new session: the next backend in turn.
  EXPECT_EQ(client.ask(proxy->port(), "y"), "b:y");
}

TEST(UdpProxy, AShorterIdleTimeoutAppliesToOpenSessions) {
  UdpEchoServer a("a");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(proxy->idle_timeout(), std::chrono::seconds(30));
  proxy->set_backends({at(a)});
  UdpClient client;
  ASSERT_EQ(client.ask(proxy->port(), "x"), "a:x");
  EXPECT_EQ(proxy->sessions(), 1U);
  proxy->set_idle_timeout(std::chrono::milliseconds(100));
  EXPECT_EQ(proxy->idle_timeout(), std::chrono::milliseconds(100));
  EXPECT_TRUE(eventually([&] { return proxy->sessions() == 0; }));
}

TEST(UdpProxy, ARefusingBackendIsLeftForTheNext) {
  UdpEchoServer a("a");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends({{"127.0.0.1", testing::free_port(SOCK_DGRAM)}, at(a)});
  UdpClient client;
  // The first datagram goes to the closed port and is lost (ICMP port unreachable ends the
  // session); the client's retry reaches a.
  EXPECT_EQ(client.ask_until_answered(proxy->port(), "x"), "a:x");
}

TEST(UdpProxy, NoBackendDropsTheDatagram) {
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  UdpClient client;
  EXPECT_EQ(client.ask(proxy->port(), "x", 200), std::nullopt);
  EXPECT_EQ(proxy->sessions(), 0U);
  UdpEchoServer a("a");
  proxy->set_backends({at(a)});
  EXPECT_EQ(client.ask_until_answered(proxy->port(), "x"), "a:x");
}

TEST(UdpProxy, NewClientsAreDroppedWhileTheSessionTableIsFull) {
  UdpEchoServer a("a");
  UdpEchoServer b("b");
  auto proxy = open_proxy({.max_sessions = 1});
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends({at(a)});
  UdpClient first;
  UdpClient second;
  ASSERT_EQ(first.ask(proxy->port(), "x"), "a:x");
  EXPECT_EQ(second.ask(proxy->port(), "x", 200), std::nullopt);
  EXPECT_EQ(proxy->sessions(), 1U);
  // The first session ends with its backend; the second client gets the place.
  proxy->set_backends({at(b)});
  EXPECT_EQ(second.ask_until_answered(proxy->port(), "y"), "b:y");
}

TEST(UdpProxy, APortInUseIsAnErrorNamingTheEndpoint) {
  auto first = open_proxy();
  ASSERT_NE(first, nullptr);
  auto second = UdpProxy::open("dns/udp", "127.0.0.1", first->port());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::kAlreadyExists);
  EXPECT_NE(second.error().message.find("endpoint dns/udp"), std::string::npos)
      << second.error().message;
  // TCP and UDP are separate port spaces: a TCP endpoint may share the number.
  auto tcp = TcpProxy::open("dns/tcp", "127.0.0.1", first->port());
  EXPECT_TRUE(tcp) << tcp.error().message;
}

}  // namespace
}  // namespace zlayer::agent
