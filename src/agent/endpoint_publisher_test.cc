// EndpointPublisher over a ServiceManager (Harness: FakeRuntime, manual clock) with real
// listeners and echo backends on loopback: TCP and UDP endpoints are published at their ports,
// and update() follows a redeploy — new endpoints open, removed ones close, a kept port keeps its
// listener and its connections, a changed target_port applies to new connections, and a port in
// use refuses the whole update with nothing changed. The services run on the fake "wasm" backend,
// whose replicas have no address of their own, so their backends are 127.0.0.1:target_port.
#include "agent/endpoint_publisher.h"

#include <gtest/gtest.h>

#include "agent/socket_test_support.h"
#include "agent/test_support.h"

namespace zlayer::agent {
namespace {

using testing::Harness;
using testing::TcpClient;
using testing::TcpEchoServer;
using testing::UdpClient;
using testing::UdpEchoServer;
using Endpoints = std::vector<spec::EndpointSpec>;

spec::EndpointSpec endpoint(std::string name, spec::EndpointProtocol protocol, std::uint16_t port,
                            std::uint16_t target_port) {
  spec::EndpointSpec e;
  e.name = std::move(name);
  e.protocol = protocol;
  e.port = port;
  e.target_port = target_port;
  return e;
}
spec::EndpointSpec tcp(std::string name, std::uint16_t port, std::uint16_t target_port) {
  return endpoint(std::move(name), spec::EndpointProtocol::kTcp, port, target_port);
}
spec::EndpointSpec udp(std::string name, std::uint16_t port, std::uint16_t target_port) {
  return endpoint(std::move(name), spec::EndpointProtocol::kUdp, port, target_port);
}

spec::DeploymentSpec deployment(const std::map<std::string, Endpoints>& services) {
  spec::DeploymentSpec d;
  d.deployment = "demo";
  for (const auto& [name, endpoints] : services) {
    spec::ServiceSpec s;
    s.image.name = "wasm/" + name;
    s.scale.mode = spec::ScaleMode::kFixed;
    s.scale.replicas = 1;
    s.endpoints = endpoints;
    d.services.emplace(name, std::move(s));
  }
  return d;
}

// Deploys `spec` on the harness and lets its replicas become serving.
void deploy(Harness& h, const spec::DeploymentSpec& spec) {
  ASSERT_TRUE(h.manager->deploy(spec));
  h.run_for(std::chrono::seconds(30));
}

std::vector<std::string> keys(const EndpointPublisher& publisher) {
  std::vector<std::string> out;
  for (const auto& [key, proxy] : publisher.proxies()) out.push_back(key);
  return out;
}

TEST(EndpointPublisher, PublishesTcpAndUdpEndpointsAtTheirPorts) {
  TcpEchoServer tcp_backend("t");
  UdpEchoServer udp_backend("u");
  const std::uint16_t port = testing::free_port();
  const auto spec = deployment(
      {{"dns", {tcp("tcp", port, tcp_backend.port()), udp("udp", port, udp_backend.port())}}});
  Harness h;
  deploy(h, spec);
  auto publisher = EndpointPublisher::open(spec, *h.manager, "127.0.0.1");
  ASSERT_TRUE(publisher) << publisher.error().message;
  auto proxies = (*publisher)->proxies();
  ASSERT_EQ(keys(**publisher), (std::vector<std::string>{"dns/tcp", "dns/udp"}));
  EXPECT_EQ(proxies["dns/tcp"]->transport(), EndpointProxy::Transport::kTcp);
  EXPECT_EQ(proxies["dns/udp"]->backends(),
            (std::vector<Backend>{{"127.0.0.1", udp_backend.port()}}));

  EXPECT_EQ(TcpClient(port).exchange("hi"), "t:hi");
  EXPECT_EQ(UdpClient().ask(port, "hi"), "u:hi");
}

TEST(EndpointPublisher, UpdateFollowsTheRedeployedSpec) {
  TcpEchoServer a("a");
  TcpEchoServer b("b");
  TcpEchoServer api_backend("api");
  UdpEchoServer dns_backend("dns");
  const std::uint16_t web_port = testing::free_port();
  const std::uint16_t api_port = testing::free_port();
  const std::uint16_t dns_port = testing::free_port(SOCK_DGRAM);
  const auto first = deployment({{"web", {tcp("http", web_port, a.port())}},
                                 {"api", {tcp("http", api_port, api_backend.port())}}});
  Harness h;
  deploy(h, first);
  auto opened = EndpointPublisher::open(first, *h.manager, "127.0.0.1");
  ASSERT_TRUE(opened) << opened.error().message;
  EndpointPublisher& publisher = **opened;
  EndpointProxy* web_proxy = publisher.proxies()["web/http"];

  TcpClient held_web(web_port);
  ASSERT_EQ(held_web.exchange("1"), "a:1");
  TcpClient held_api(api_port);
  ASSERT_EQ(held_api.exchange("1"), "api:1");

  // web's target_port changes and it gains a udp endpoint; api goes.
  const auto second = deployment(
      {{"web", {tcp("http", web_port, b.port()), udp("dns", dns_port, dns_backend.port())}}});
  deploy(h, second);
  ASSERT_TRUE(publisher.update(second));

  EXPECT_EQ(keys(publisher), (std::vector<std::string>{"web/dns", "web/http"}));
  // The web listener is the same one, and the connection it carried is still served by a.
  EXPECT_EQ(publisher.proxies()["web/http"], web_proxy);
  EXPECT_EQ(held_web.exchange("2"), "a:2");
  // New connections go to the new target_port.
  EXPECT_EQ(TcpClient(web_port).exchange("3"), "b:3");
  // The new udp endpoint answers.
  EXPECT_EQ(UdpClient().ask_until_answered(dns_port, "q"), "dns:q");
  // api's listener is closed, and the connection through it ended.
  EXPECT_EQ(held_api.exchange("2"), std::nullopt);
  EXPECT_EQ(TcpClient(api_port).exchange("3"), std::nullopt);
}

TEST(EndpointPublisher, AnEndpointRenamedOnItsPortKeepsTheListener) {
  TcpEchoServer a("a");
  const std::uint16_t port = testing::free_port();
  const auto first = deployment({{"web", {tcp("http", port, a.port())}}});
  Harness h;
  deploy(h, first);
  auto opened = EndpointPublisher::open(first, *h.manager, "127.0.0.1");
  ASSERT_TRUE(opened) << opened.error().message;
  EndpointProxy* proxy = (*opened)->proxies()["web/http"];
  TcpClient held(port);
  ASSERT_EQ(held.exchange("1"), "a:1");

  const auto second = deployment({{"web", {tcp("www", port, a.port())}}});
  deploy(h, second);
  ASSERT_TRUE((*opened)->update(second));
  EXPECT_EQ(keys(**opened), (std::vector<std::string>{"web/www"}));
  EXPECT_EQ((*opened)->proxies()["web/www"], proxy);
  EXPECT_EQ(proxy->name(), "web/www");
  EXPECT_EQ(held.exchange("2"), "a:2");
}

TEST(EndpointPublisher, APortInUseRefusesTheUpdateAndKeepsThePublishedSet) {
  TcpEchoServer a("a");
  const std::uint16_t web_port = testing::free_port();
  const std::uint16_t old_port = testing::free_port();
  const auto first = deployment(
      {{"web", {tcp("http", web_port, a.port())}}, {"old", {tcp("tcp", old_port, a.port())}}});
  Harness h;
  deploy(h, first);
  auto opened = EndpointPublisher::open(first, *h.manager, "127.0.0.1");
  ASSERT_TRUE(opened) << opened.error().message;
  EndpointPublisher& publisher = **opened;
  const auto before = publisher.proxies();

  // Someone else holds `busy`. The new spec drops `old`, adds an endpoint on a free port (opened
  // first: "aaa" sorts first) and one on `busy`.
  std::uint16_t busy = 0;
  UniqueFd holder = testing::bound_socket(SOCK_STREAM, busy);
  ASSERT_EQ(::listen(holder.get(), 1), 0);
  const std::uint16_t fresh = testing::free_port();
  const auto second =
      deployment({{"aaa", {tcp("tcp", fresh, a.port())}},
                  {"web", {tcp("http", web_port, a.port()), tcp("busy", busy, 1)}}});
  auto updated = publisher.update(second);
  ASSERT_FALSE(updated);
  EXPECT_EQ(updated.error().code, Errc::kAlreadyExists);
  EXPECT_NE(updated.error().message.find("endpoint web/busy"), std::string::npos)
      << updated.error().message;
  EXPECT_NE(updated.error().message.find(std::to_string(busy)), std::string::npos)
      << updated.error().message;

  // Nothing changed: the same listeners, still serving, and the port opened first is free again.
  EXPECT_EQ(publisher.proxies(), before);
  EXPECT_EQ(TcpClient(old_port).exchange("x"), "a:x");
  EXPECT_EQ(TcpClient(web_port).exchange("x"), "a:x");
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = testing::loopback(fresh);
  EXPECT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << "port " << fresh << " was left open";
}

TEST(EndpointPublisher, UdpSessionsIdleForTheEndpointsSessionTimeout) {
  UdpEchoServer backend("u");
  const std::uint16_t port = testing::free_port(SOCK_DGRAM);
  auto with_timeout = [&](std::optional<spec::Duration> timeout) {
    spec::EndpointSpec e = udp("dns", port, backend.port());
    if (timeout) e.stream = spec::StreamEndpointConfig{.session_timeout = timeout};
    return deployment({{"dns", {e}}});
  };
  const auto first = with_timeout(std::chrono::seconds(5));
  Harness h;
  deploy(h, first);
  auto opened = EndpointPublisher::open(first, *h.manager, "127.0.0.1");
  ASSERT_TRUE(opened) << opened.error().message;
  auto* proxy = dynamic_cast<UdpProxy*>((*opened)->proxies()["dns/dns"]);
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(proxy->idle_timeout(), std::chrono::seconds(5));

  // Changed by a redeploy on the same listener; unset → the default.
  const auto second = with_timeout(std::chrono::milliseconds(1500));
  deploy(h, second);
  ASSERT_TRUE((*opened)->update(second));
  EXPECT_EQ((*opened)->proxies()["dns/dns"], proxy);
  EXPECT_EQ(proxy->idle_timeout(), std::chrono::milliseconds(1500));
  const auto third = with_timeout(std::nullopt);
  deploy(h, third);
  ASSERT_TRUE((*opened)->update(third));
  EXPECT_EQ(proxy->idle_timeout(), UdpProxyOptions{}.idle_timeout);
  EXPECT_EQ(UdpClient().ask(port, "q"), "u:q");
}

TEST(ServiceHosts, EntriesFollowTheSpec) {
  ServiceHosts hosts;
  hosts.set(service_host_entries(deployment({{"web", {tcp("http", 80, 8080)}}, {"db", {}}}),
                                 "10.89.0.1"));
  EXPECT_EQ(hosts.entries(), (std::vector<std::string>{"web:10.89.0.1", "web.service:10.89.0.1"}));
  hosts.set(service_host_entries(
      deployment({{"web", {tcp("http", 80, 8080)}}, {"dns", {udp("dns", 53, 53)}}}), "10.89.0.1"));
  EXPECT_EQ(hosts.entries(), (std::vector<std::string>{"dns:10.89.0.1", "dns.service:10.89.0.1",
                                                       "web:10.89.0.1", "web.service:10.89.0.1"}));
}

}  // namespace
}  // namespace zlayer::agent
