// The TCP endpoint proxy against real HTTP servers on loopback: forwarding, round robin, skipping a
// backend that refuses, switching backends, and no backend → the connection is closed.
#include "agent/endpoint_proxy.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>

#include "agent/socket_test_support.h"
#include "support/fake_http_server.h"

namespace zlayer::agent {
namespace {

using zlayer::testing::FakeServer;

std::unique_ptr<FakeServer> named_server(const std::string& name) {
  auto server = std::make_unique<FakeServer>();
  server->http().Get("/", [name](const httplib::Request&, httplib::Response& res) {
    res.set_content(name, "text/plain");
  });
  server->start();
  return server;
}

std::optional<std::string> get(std::uint16_t port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(2);
  auto res = client.Get("/");
  if (!res || res->status != 200) return std::nullopt;
  return res->body;
}

std::unique_ptr<TcpProxy> open_proxy() {
  auto proxy = TcpProxy::open("web/http", "127.0.0.1", 0);
  EXPECT_TRUE(proxy) << proxy.error().message;
  return proxy ? std::move(*proxy) : nullptr;
}

TEST(TcpProxy, ForwardsRoundRobinToEveryBackend) {
  auto a = named_server("a");
  auto b = named_server("b");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  ASSERT_GT(proxy->port(), 0);
  proxy->set_backends({{"127.0.0.1", static_cast<std::uint16_t>(a->port())},
                       {"127.0.0.1", static_cast<std::uint16_t>(b->port())}});
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto body = get(proxy->port());
    ASSERT_TRUE(body);
    seen.insert(*body);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
}

TEST(TcpProxy, SkipsABackendThatRefuses) {
  auto a = named_server("a");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends(
      {{"127.0.0.1", testing::free_port()}, {"127.0.0.1", static_cast<std::uint16_t>(a->port())}});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(get(proxy->port()), "a");
}

TEST(TcpProxy, NewBackendsTakeNewConnections) {
  auto a = named_server("a");
  auto b = named_server("b");
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  proxy->set_backends({{"127.0.0.1", static_cast<std::uint16_t>(a->port())}});
  EXPECT_EQ(get(proxy->port()), "a");
  proxy->set_backends({{"127.0.0.1", static_cast<std::uint16_t>(b->port())}});
  EXPECT_EQ(get(proxy->port()), "b");
}

TEST(TcpProxy, NoBackendClosesTheConnection) {
  auto proxy = open_proxy();
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(get(proxy->port()), std::nullopt);
}

TEST(TcpProxy, APortInUseIsAnErrorNamingTheEndpoint) {
  auto first = open_proxy();
  ASSERT_NE(first, nullptr);
  auto second = TcpProxy::open("web/http", "127.0.0.1", first->port());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("endpoint web/http"), std::string::npos)
      << second.error().message;
}

}  // namespace
}  // namespace zlayer::agent
