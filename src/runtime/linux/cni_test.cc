// The CNI driver against Debian's real plugins (bridge, host-local, portmap). Every test runs in
// a network namespace of its own (TestNetns) with its own bridge, subnet and IPAM directory;
// "containers" are pinned network namespaces with busybox httpd running inside. After each test
// the host's namespace is checked for our bridge and subnet.
#include "runtime/linux/cni.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <set>

#include "core/fs.h"
#include "runtime/linux/net_test_support.h"
#include "runtime/linux/netns.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

using testing::http_get;
using testing::NetnsProcess;
using testing::random_int;
using testing::run_command;
using testing::TestNetns;

constexpr std::uint16_t kServerPort = 8080;

std::size_t count_lines(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

class CniTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, iptables)";
    if (::access("/usr/lib/cni/bridge", X_OK) != 0) {
      GTEST_SKIP() << "needs Debian's containernetworking-plugins (scripts/install-deps.sh)";
    }
    const int a = random_int(1, 254);
    const int b = random_int(0, 254);
    subnet_prefix_ = fmt::format("10.{}.{}.", a, b);
    config_.network_name = "zltest";
    config_.bridge_name = fmt::format("zlbr{:06x}", random_int(0, 0xffffff));
    config_.subnet = subnet_prefix_ + "0/24";
    config_.ipam_data_dir = temp_.path() / "ipam";
    config_.cache_dir = temp_.path() / "cni-cache";
    auto entered = TestNetns::enter();
    ASSERT_TRUE(entered) << entered.error().message;
    netns_.emplace(std::move(*entered));
  }

  void TearDown() override {
    servers_.clear();
    for (const auto& path : containers_) {
      EXPECT_TRUE(delete_netns(path)) << path;
    }
    if (!netns_) return;
    netns_.reset();  // back in the namespace we started in; the test namespace is deleted
    auto links = run_command({"ip", "-o", "link", "show"});
    ASSERT_TRUE(links);
    EXPECT_EQ(links->find(config_.bridge_name), std::string::npos)
        << "our bridge leaked into the host namespace";
    auto rules = run_command({"iptables-save"});
    ASSERT_TRUE(rules);
    EXPECT_EQ(rules->find(subnet_prefix_), std::string::npos)
        << "rules for our subnet leaked into the host namespace";
  }

  std::filesystem::path make_container(const std::string& name) {
    const auto path = temp_.path() / "netns" / name;
    auto made = create_netns(path);
    EXPECT_TRUE(made) << made.error().message;
    containers_.push_back(path);
    return path;
  }

  // busybox httpd inside the container's namespace, serving "hello from <name>\n" on :8080.
  void serve(const std::filesystem::path& netns, const std::string& name) {
    const auto root = temp_.path() / ("www-" + name);
    ASSERT_TRUE(make_dirs(root));
    ASSERT_TRUE(atomic_write_file(root / "index.html", "hello from " + name + "\n"));
    auto started = NetnsProcess::start(netns, {"/usr/bin/busybox", "httpd", "-f", "-p",
                                               std::to_string(kServerPort), "-h", root.string()});
    ASSERT_TRUE(started) << started.error().message;
    servers_.push_back(std::make_unique<NetnsProcess>(std::move(*started)));
  }

  Result<std::string> get_from(const std::filesystem::path& netns, const std::string& ip,
                               std::uint16_t port) {
    Result<std::string> body;
    auto ran = run_in_netns(netns, [&]() -> Status {
      body = http_get(ip, port);
      return {};
    });
    if (!ran) return unexpected(std::move(ran).error());
    return body;
  }

  std::size_t veth_count() {
    auto links = run_command({"ip", "-o", "link", "show", "type", "veth"});
    EXPECT_TRUE(links);
    return links ? count_lines(*links) : 0;
  }

  std::string nat_rules() {
    auto rules = run_command({"iptables-save", "-t", "nat"});
    EXPECT_TRUE(rules);
    return rules ? *rules : std::string();
  }

  std::filesystem::path ipam_file(const std::string& ip) const {
    return config_.ipam_data_dir / config_.network_name / ip;
  }

  CniNetwork make_network() {
    auto network = CniNetwork::create(config_);
    EXPECT_TRUE(network) << network.error().message;
    return std::move(*network);
  }

  zlayer::testing::TempDir temp_{"zlayer-cni-"};
  std::string subnet_prefix_;
  NetworkConfig config_;
  std::optional<TestNetns> netns_;
  std::vector<std::filesystem::path> containers_;
  std::vector<std::unique_ptr<NetnsProcess>> servers_;
};

TEST_F(CniTest, TwoContainersReachEachOtherAndTheHostReachesThem) {
  auto network = make_network();
  const auto a_ns = make_container("a");
  const auto b_ns = make_container("b");
  auto a = network.attach("a", a_ns, {});
  ASSERT_TRUE(a) << a.error().message;
  auto b = network.attach("b", b_ns, {});
  ASSERT_TRUE(b) << b.error().message;

  EXPECT_EQ(a->interface_name, "eth0");
  EXPECT_FALSE(a->mac.empty());
  ASSERT_EQ(a->addresses.size(), 1u);
  EXPECT_EQ(a->addresses[0].gateway, subnet_prefix_ + "1");
  EXPECT_EQ(a->ipv4().rfind(subnet_prefix_, 0), 0u) << a->ipv4();
  EXPECT_EQ(b->ipv4().rfind(subnet_prefix_, 0), 0u) << b->ipv4();
  EXPECT_NE(a->ipv4(), b->ipv4());
  EXPECT_TRUE(network.check("a")) << "CNI CHECK of a healthy attachment";

  serve(a_ns, "a");
  serve(b_ns, "b");
  auto b_to_a = get_from(b_ns, a->ipv4(), kServerPort);
  ASSERT_TRUE(b_to_a) << b_to_a.error().message;
  EXPECT_EQ(*b_to_a, "hello from a\n");
  auto a_to_b = get_from(a_ns, b->ipv4(), kServerPort);
  ASSERT_TRUE(a_to_b) << a_to_b.error().message;
  EXPECT_EQ(*a_to_b, "hello from b\n");
  auto host_to_b = http_get(b->ipv4(), kServerPort);  // the test namespace is the "host"
  ASSERT_TRUE(host_to_b) << host_to_b.error().message;
  EXPECT_EQ(*host_to_b, "hello from b\n");

  ASSERT_TRUE(network.detach("a", a_ns));
  ASSERT_TRUE(network.detach("b", b_ns));
}

TEST_F(CniTest, PublishedPortAnswersOnTheHostAddressAndLoopback) {
  // The "host" gets an address of its own besides the bridge, as eth0 would give it (a veth
  // pair: this kernel has no dummy driver).
  const std::string host_ip = fmt::format("192.168.{}.1", random_int(0, 254));
  ASSERT_TRUE(
      run_command({"ip", "link", "add", "zlhost0", "type", "veth", "peer", "name", "zlhost0p"}));
  ASSERT_TRUE(run_command({"ip", "link", "set", "zlhost0p", "up"}));
  ASSERT_TRUE(run_command({"ip", "addr", "add", host_ip + "/24", "dev", "zlhost0"}));
  ASSERT_TRUE(run_command({"ip", "link", "set", "zlhost0", "up"}));

  auto network = make_network();
  const auto a_ns = make_container("a");
  const auto b_ns = make_container("b");
  auto a = network.attach("a", a_ns, {{.host_port = 18080, .container_port = kServerPort}});
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_EQ(a->port_mappings.size(), 1u);
  auto b = network.attach("b", b_ns, {});
  ASSERT_TRUE(b) << b.error().message;
  serve(a_ns, "a");

  auto via_host_ip = http_get(host_ip, 18080);
  ASSERT_TRUE(via_host_ip) << via_host_ip.error().message;
  EXPECT_EQ(*via_host_ip, "hello from a\n");
  auto via_loopback = http_get("127.0.0.1", 18080);
  ASSERT_TRUE(via_loopback) << via_loopback.error().message;
  EXPECT_EQ(*via_loopback, "hello from a\n");
  auto via_gateway = http_get(subnet_prefix_ + "1", 18080);
  ASSERT_TRUE(via_gateway) << via_gateway.error().message;
  EXPECT_EQ(*via_gateway, "hello from a\n");
  // Another container reaches the published port through the host address, and so does the
  // container itself (hairpin).
  auto from_b = get_from(b_ns, host_ip, 18080);
  ASSERT_TRUE(from_b) << from_b.error().message;
  EXPECT_EQ(*from_b, "hello from a\n");
  auto hairpin = get_from(a_ns, host_ip, 18080);
  ASSERT_TRUE(hairpin) << hairpin.error().message;
  EXPECT_EQ(*hairpin, "hello from a\n");

  ASSERT_TRUE(network.detach("a", a_ns));
  ASSERT_TRUE(network.detach("b", b_ns));
  auto after = http_get("127.0.0.1", 18080, std::chrono::milliseconds(0));
  EXPECT_FALSE(after) << "the published port is gone after detach";
}

TEST_F(CniTest, DetachReleasesTheAddressRulesAndVethAndIsIdempotent) {
  auto network = make_network();
  const auto a_ns = make_container("a");
  auto a = network.attach("a", a_ns, {{.host_port = 18080, .container_port = kServerPort}});
  ASSERT_TRUE(a) << a.error().message;
  const std::string ip = a->ipv4();
  EXPECT_TRUE(std::filesystem::exists(ipam_file(ip)));
  EXPECT_EQ(veth_count(), 1u);
  EXPECT_NE(nat_rules().find("--to-destination " + ip + ":8080"), std::string::npos);
  EXPECT_NE(nat_rules().find("-s " + ip + "/32"), std::string::npos) << "ipMasq rule";
  auto filter = run_command({"iptables-save", "-t", "filter"});
  ASSERT_TRUE(filter);
  EXPECT_NE(filter->find("-s " + ip + "/32 -j ACCEPT"), std::string::npos) << "firewall rule";
  auto cached = network.attachment("a");
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->ipv4(), ip);

  ASSERT_TRUE(network.detach("a", a_ns));
  EXPECT_FALSE(std::filesystem::exists(ipam_file(ip))) << "address released";
  EXPECT_EQ(veth_count(), 0u);
  const std::string rules = nat_rules();
  EXPECT_EQ(rules.find(ip), std::string::npos) << rules;
  EXPECT_EQ(rules.find("18080"), std::string::npos) << rules;
  filter = run_command({"iptables-save", "-t", "filter"});
  ASSERT_TRUE(filter);
  EXPECT_EQ(filter->find(ip), std::string::npos) << *filter;
  EXPECT_EQ(network.attachment("a").error().code, Errc::kNotFound);
  EXPECT_EQ(network.check("a").error().code, Errc::kNotFound);
  bool has_eth0 = true;
  ASSERT_TRUE(run_in_netns(a_ns, [&]() -> Status {
    has_eth0 = ::if_nametoindex("eth0") != 0;
    return {};
  }));
  EXPECT_FALSE(has_eth0);

  EXPECT_TRUE(network.detach("a", a_ns)) << "second detach";
  ASSERT_TRUE(delete_netns(a_ns));
  EXPECT_TRUE(network.detach("a", a_ns)) << "detach with the namespace gone";
  EXPECT_TRUE(network.detach("never-attached", temp_.path() / "nothing")) << "unknown container";
}

TEST_F(CniTest, DetachAfterTheNamespaceIsGoneStillReleasesTheAddress) {
  auto network = make_network();
  const auto a_ns = make_container("a");
  auto a = network.attach("a", a_ns, {{.host_port = 18080, .container_port = kServerPort}});
  ASSERT_TRUE(a) << a.error().message;
  const std::string ip = a->ipv4();
  ASSERT_TRUE(delete_netns(a_ns));  // takes eth0 and with it the veth pair
  ASSERT_TRUE(network.detach("a", a_ns));
  EXPECT_FALSE(std::filesystem::exists(ipam_file(ip)));
  EXPECT_EQ(veth_count(), 0u);
  EXPECT_EQ(nat_rules().find("18080"), std::string::npos) << "portmap rules removed";
  EXPECT_EQ(nat_rules().find(ip), std::string::npos) << nat_rules();
}

TEST_F(CniTest, RestartedDriverDoesNotHandOutAnAddressInUse) {
  const auto a_ns = make_container("a");
  const auto b_ns = make_container("b");
  std::string a_ip;
  {
    auto first = make_network();
    auto a = first.attach("a", a_ns, {});
    ASSERT_TRUE(a) << a.error().message;
    a_ip = a->ipv4();
  }
  auto restarted = make_network();  // a new agent: only the directories carry over
  auto b = restarted.attach("b", b_ns, {});
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_NE(b->ipv4(), a_ip);
  auto found = restarted.attachment("a");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->ipv4(), a_ip);
  EXPECT_TRUE(restarted.check("a"));
  EXPECT_EQ(restarted.attach("a", a_ns, {}).error().code, Errc::kAlreadyExists);
  ASSERT_TRUE(restarted.detach("a", a_ns));
  ASSERT_TRUE(restarted.detach("b", b_ns));
  EXPECT_FALSE(std::filesystem::exists(ipam_file(a_ip)));
  EXPECT_FALSE(std::filesystem::exists(ipam_file(b->ipv4())));
}

TEST_F(CniTest, FailedAddInTheIpamIsUndone) {
  config_.subnet = subnet_prefix_ + "0/30";  // the gateway and exactly one container
  auto network = make_network();
  const auto a_ns = make_container("a");
  const auto b_ns = make_container("b");
  auto a = network.attach("a", a_ns, {});
  ASSERT_TRUE(a) << a.error().message;
  auto b = network.attach("b", b_ns, {});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("no IP addresses available"), std::string::npos)
      << b.error().message;
  EXPECT_NE(b.error().message.find("attaching container b"), std::string::npos);

  EXPECT_EQ(veth_count(), 1u) << "only a's veth is left";
  bool b_has_eth0 = true;
  ASSERT_TRUE(run_in_netns(b_ns, [&]() -> Status {
    b_has_eth0 = ::if_nametoindex("eth0") != 0;
    return {};
  }));
  EXPECT_FALSE(b_has_eth0);
  EXPECT_EQ(network.attachment("b").error().code, Errc::kNotFound);
  EXPECT_TRUE(network.detach("b", b_ns)) << "detach after a failed attach";
  EXPECT_TRUE(network.check("a")) << "a is untouched";

  ASSERT_TRUE(network.detach("a", a_ns));
  auto again = network.attach("b", b_ns, {});
  ASSERT_TRUE(again) << "the released address is handed out again: " << again.error().message;
  EXPECT_EQ(again->ipv4(), a->ipv4());
  ASSERT_TRUE(network.detach("b", b_ns));
}

TEST_F(CniTest, FailureLaterInTheChainIsUndoneByDelOfTheWholeChain) {
  // bridge and host-local are real; portmap fails its ADD with a CNI error object.
  const auto bin = temp_.path() / "cni-bin";
  ASSERT_TRUE(make_dirs(bin));
  std::filesystem::create_symlink("/usr/lib/cni/bridge", bin / "bridge");
  std::filesystem::create_symlink("/usr/lib/cni/host-local", bin / "host-local");
  std::filesystem::create_symlink("/usr/lib/cni/firewall", bin / "firewall");
  ASSERT_TRUE(atomic_write_file(bin / "portmap",
                                "#!/bin/sh\n"
                                "cat >/dev/null\n"
                                "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                                "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,"
                                "\"msg\":\"portmap broken on purpose\",\"details\":\"test\"}'\n"
                                "  exit 1\n"
                                "fi\n",
                                0755));
  config_.cni_bin_dir = bin;
  auto network = make_network();
  const auto a_ns = make_container("a");
  auto a = network.attach("a", a_ns, {{.host_port = 18080, .container_port = kServerPort}});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, Errc::kUnavailable) << "CNI code 11";
  EXPECT_NE(a.error().message.find("CNI plugin portmap ADD for container a: portmap broken on "
                                   "purpose (test) [CNI error code 11]"),
            std::string::npos)
      << a.error().message;

  EXPECT_EQ(veth_count(), 0u);
  EXPECT_EQ(nat_rules().find(subnet_prefix_ + "2"), std::string::npos) << "no masquerade rule";
  std::size_t addresses = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(config_.ipam_data_dir / config_.network_name)) {
    addresses += entry.path().filename().string().rfind(subnet_prefix_, 0) == 0;
  }
  EXPECT_EQ(addresses, 0u) << "address released";
  EXPECT_EQ(network.attachment("a").error().code, Errc::kNotFound);
  EXPECT_TRUE(network.detach("a", a_ns));
}

TEST_F(CniTest, AnAddInterruptedByACrashIsUndoneByTheNextAttach) {
  // The agent died after bridge ADD and before it recorded the result: eth0 exists, the address
  // is taken, and our cache holds only the pending entry written before the first plugin ran.
  NetworkConfig elsewhere = config_;
  elsewhere.cache_dir = temp_.path() / "other-cache";
  auto crashed = CniNetwork::create(elsewhere);
  ASSERT_TRUE(crashed);
  const auto a_ns = make_container("a");
  auto half = crashed->attach("a", a_ns, {});
  ASSERT_TRUE(half) << half.error().message;
  ASSERT_TRUE(make_dirs(config_.cache_dir));
  ASSERT_TRUE(atomic_write_file(
      config_.cache_dir / "a.json",
      nlohmann::json{
          {"netns", a_ns.string()}, {"portMappings", nlohmann::json::array()}, {"result", nullptr}}
          .dump()));

  auto network = make_network();
  EXPECT_EQ(network.attachment("a").error().code, Errc::kNotFound) << "pending is not attached";
  auto a = network.attach("a", a_ns, {});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(veth_count(), 1u);
  ASSERT_TRUE(network.detach("a", a_ns));
  EXPECT_EQ(veth_count(), 0u);
  EXPECT_FALSE(std::filesystem::exists(ipam_file(a->ipv4())));
  EXPECT_FALSE(std::filesystem::exists(ipam_file(half->ipv4())));
}

TEST_F(CniTest, AttachRefusesBadInput) {
  auto network = make_network();
  const auto a_ns = make_container("a");
  EXPECT_EQ(network.attach("../x", a_ns, {}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(network.attach("a", a_ns, {{.host_port = 0, .container_port = 80}}).error().code,
            Errc::kInvalidArgument);
  EXPECT_EQ(network.attach("a", a_ns, {{.host_port = 80, .container_port = 80, .protocol = "icmp"}})
                .error()
                .code,
            Errc::kInvalidArgument);
  EXPECT_EQ(
      network.attach("a", a_ns, {{.host_port = 80, .container_port = 80, .host_ip = "localhost"}})
          .error()
          .code,
      Errc::kInvalidArgument);
  EXPECT_EQ(network.attach("a", temp_.path() / "no-such-netns", {}).error().code, Errc::kNotFound);
  EXPECT_EQ(veth_count(), 0u);
}

TEST(CniConfigTest, InvalidConfigurationIsRefusedBeforeTouchingAnything) {
  zlayer::testing::TempDir temp;
  NetworkConfig good = NetworkConfig::defaults(temp.paths());
  EXPECT_EQ(good.ipam_data_dir, temp.paths().runtime_dir / "cni" / "ipam");
  const auto refused = [&](NetworkConfig config) {
    auto network = CniNetwork::create(std::move(config));
    return network ? std::optional<Errc>() : network.error().code;
  };
  for (const char* subnet : {"10.0.0.0/33", "10.0.0.1/24", "10.0.0.0", "fd00::/64", "10.0.0.0/31",
                             "10.0.0.0/0", "10.0.0.0/x", "300.0.0.0/8"}) {
    NetworkConfig config = good;
    config.subnet = subnet;
    EXPECT_EQ(refused(config), Errc::kInvalidArgument) << subnet;
  }
  for (const char* bridge : {"", "a-very-long-bridge-name", "br/0", "br 0"}) {
    NetworkConfig config = good;
    config.bridge_name = bridge;
    EXPECT_EQ(refused(config), Errc::kInvalidArgument) << bridge;
  }
  NetworkConfig bad_name = good;
  bad_name.network_name = "-net";
  EXPECT_EQ(refused(bad_name), Errc::kInvalidArgument);
  NetworkConfig no_plugins = good;
  no_plugins.cni_bin_dir = temp.path() / "empty";
  EXPECT_EQ(refused(no_plugins), Errc::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(good.ipam_data_dir)) << "nothing created";

  if (::access("/usr/lib/cni/bridge", X_OK) == 0) {
    auto network = CniNetwork::create(good);
    ASSERT_TRUE(network) << network.error().message;
    const auto& plugins = network->conflist().at("plugins");
    ASSERT_EQ(plugins.size(), 3u);
    EXPECT_EQ(plugins[0].at("type"), "bridge");
    EXPECT_EQ(plugins[0].at("ipam").at("type"), "host-local");
    EXPECT_EQ(plugins[0].at("ipam").at("dataDir"), good.ipam_data_dir.string());
    EXPECT_EQ(plugins[1].at("type"), "portmap");
    EXPECT_TRUE(plugins[1].at("capabilities").at("portMappings"));
    EXPECT_EQ(plugins[2].at("type"), "firewall");
  }
}

}  // namespace
}  // namespace zlayer::runtime::linux
