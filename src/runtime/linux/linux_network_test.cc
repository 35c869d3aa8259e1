// LinuxRuntime's bridge network as root under real crun and Debian's CNI plugins. Each test runs
// inside a network namespace of its own (TestNetns: the "host" of the containers) with its own
// bridge, subnet, IPAM directory and cgroup parent; after each test the namespace is checked for
// leftover veths, addresses and iptables rules, and the real host for our bridge.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>

#include "core/fs.h"
#include "core/subprocess.h"
#include "runtime/linux/linux_runtime.h"
#include "runtime/linux/net_test_support.h"
#include "runtime/linux/netns.h"
#include "support/busybox_store.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::http_get;
using ::testing::Not;
using testing::random_int;
using testing::run_command;
using testing::TestNetns;

constexpr std::uint16_t kServerPort = 8080;

// busybox httpd in the foreground serving "hello from <name>\n" on :8080.
std::vector<std::string> web_server(const std::string& name) {
  return {"sh", "-c",
          "mkdir -p /www && echo 'hello from " + name +
              "' > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"};
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class LinuxNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, network namespaces, iptables)";
    if (!fs::exists(zlayer::testing::kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!zlayer::testing::have_program("crun")) GTEST_SKIP() << "needs crun";
    if (::access("/usr/lib/cni/bridge", X_OK) != 0) {
      GTEST_SKIP() << "needs Debian's containernetworking-plugins (scripts/install-deps.sh)";
    }
    subnet_prefix_ = fmt::format("10.{}.{}.", random_int(1, 254), random_int(0, 254));
    network_.network_name = "zltest";
    network_.bridge_name = fmt::format("zlbr{:06x}", random_int(0, 0xffffff));
    network_.subnet = subnet_prefix_ + "0/24";
    auto entered = TestNetns::enter();
    ASSERT_TRUE(entered) << entered.error().message;
    netns_.emplace(std::move(*entered));

    paths_ = dir_.paths();
    auto images = image::ImageService::open(paths_, image::RegistryOptions::default_options());
    ASSERT_TRUE(images) << images.error().message;
    images_ = std::move(*images);
    auto imported = zlayer::testing::import_busybox(*images_, dir_.path());
    ASSERT_TRUE(imported) << imported.error().message;
    image_ref_ = imported->record.name;
    image_config_ = imported->config;
    cgroup_parent_ = zlayer::testing::unique_container_id("zlayer-nettest");
    open_runtime();
  }

  void TearDown() override {
    if (runtime_) {
      for (const auto& id : created_) {
        auto removed = runtime_->remove_container(id);
        EXPECT_TRUE(removed) << removed.error().message;
        EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
        EXPECT_FALSE(fs::exists(runtime_->netns_path(id))) << "network namespace left behind";
      }
      EXPECT_EQ(veth_count(), 0u) << "a veth was left behind";
      EXPECT_EQ(addresses_in_use(), 0u) << "an address is still reserved";
      const std::string rules = iptables();
      EXPECT_THAT(rules, Not(HasSubstr(subnet_prefix_ + "2"))) << "a container's rule is left";
      EXPECT_TRUE(zlayer::testing::remove_cgroup_dirs(cgroup_parent_));
    }
    runtime_.reset();
    if (!netns_) return;
    netns_.reset();  // back in the host's namespace; the test namespace is deleted
    auto links = run_command({"ip", "-o", "link", "show"});
    ASSERT_TRUE(links);
    EXPECT_THAT(*links, Not(HasSubstr(network_.bridge_name))) << "our bridge reached the host";
  }

  void open_runtime() {
    auto runtime = LinuxRuntime::open(LinuxConfig{.paths = paths_,
                                                  .oci_runtime = "crun",
                                                  .cgroup_parent = cgroup_parent_,
                                                  .network = network_},
                                      *images_);
    ASSERT_TRUE(runtime) << runtime.error().message;
    runtime_ = std::move(*runtime);
  }

  ContainerConfig bridged(std::vector<std::string> args, std::vector<PortMapping> ports = {}) {
    ContainerConfig c;
    c.image_ref = image_ref_;
    c.image = image_config_;
    c.args = std::move(args);
    c.network.mode = NetworkMode::kBridge;
    c.network.port_mappings = std::move(ports);
    return c;
  }

  ContainerId start(const std::string& service, const ContainerConfig& config) {
    ContainerId id{zlayer::testing::unique_container_id(service), 1};
    auto created = runtime_->create_container(id, config);
    EXPECT_TRUE(created) << created.error().message;
    if (!created) return id;
    created_.push_back(id);
    auto started = runtime_->start_container(id);
    EXPECT_TRUE(started) << started.error().message;
    return id;
  }

  std::string ip_of(const ContainerId& id) {
    auto ip = runtime_->container_ip(id);
    EXPECT_TRUE(ip) << ip.error().message;
    return ip ? *ip : std::string();
  }

  // The environment of a `zlayer-agent` process over this test's directories and network.
  std::map<std::string, std::string> agent_env() const {
    return {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
            {"ZLAYER_ROOT_DIR", paths_.root_dir.string()},
            {"ZLAYER_RUNTIME_DIR", paths_.runtime_dir.string()},
            {"ZLAYER_WASM_CACHE_DIR", paths_.wasm_cache_dir.string()},
            {"ZLAYER_OCI_RUNTIME", "crun"},
            {"ZLAYER_CGROUP_PARENT", cgroup_parent_},
            {"ZLAYER_BRIDGE_NAME", network_.bridge_name},
            {"ZLAYER_BRIDGE_SUBNET", network_.subnet},
            {"ZLAYER_CNI_NETWORK", network_.network_name},
            {"HOME", dir_.path().string()}};
  }

  std::size_t veth_count() {
    auto links = run_command({"ip", "-o", "link", "show", "type", "veth"});
    EXPECT_TRUE(links);
    return links ? count_lines(*links) : 0;
  }

  std::string iptables() {
    auto rules = run_command({"iptables-save"});
    EXPECT_TRUE(rules);
    return rules ? *rules : std::string();
  }

  // host-local keeps one file per reserved address in <ipam dir>/<network>/.
  std::size_t addresses_in_use() {
    const fs::path dir = paths_.runtime_dir / "cni" / "ipam" / network_.network_name;
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      n += entry.path().filename().string().starts_with(subnet_prefix_);
    }
    return n;
  }

  zlayer::testing::TempDir dir_;
  Paths paths_;
  std::string subnet_prefix_;
  NetworkConfig network_;
  std::optional<TestNetns> netns_;
  std::unique_ptr<image::ImageService> images_;
  std::string image_ref_;
  image::ImageConfig image_config_;
  std::string cgroup_parent_;
  std::unique_ptr<LinuxRuntime> runtime_;
  std::vector<ContainerId> created_;
};

TEST_F(LinuxNetworkTest, ContainersReachEachOtherAndTheHostReachesThem) {
  // As on a host with Docker: forwarded traffic is dropped unless a rule accepts it (the
  // firewall plugin's). br_netfilter sends bridged frames through FORWARD too.
  ASSERT_TRUE(run_command({"iptables", "-w", "-P", "FORWARD", "DROP"}));
  ContainerId a = start("web-a", bridged(web_server("a")));
  ContainerId b = start("web-b", bridged(web_server("b")));
  const std::string a_ip = ip_of(a);
  const std::string b_ip = ip_of(b);
  EXPECT_TRUE(a_ip.starts_with(subnet_prefix_)) << a_ip;
  EXPECT_TRUE(b_ip.starts_with(subnet_prefix_)) << b_ip;
  EXPECT_NE(a_ip, b_ip);
  EXPECT_TRUE(is_netns(runtime_->netns_path(a)));

  auto host_to_a = http_get(a_ip, kServerPort);  // the test's namespace is the host
  ASSERT_TRUE(host_to_a) << host_to_a.error().message;
  EXPECT_EQ(*host_to_a, "hello from a\n");
  ASSERT_TRUE(http_get(b_ip, kServerPort));  // b is serving too

  auto b_to_a =
      runtime_->exec(b, ExecOptions{.command = {"/bin/busybox", "wget", "-q", "-O", "-",
                                                fmt::format("http://{}:{}/", a_ip, kServerPort)}});
  ASSERT_TRUE(b_to_a) << b_to_a.error().message;
  EXPECT_EQ(b_to_a->exit_code, 0) << b_to_a->stderr_text;
  EXPECT_EQ(b_to_a->stdout_text, "hello from a\n");
  auto a_to_b =
      runtime_->exec(a, ExecOptions{.command = {"/bin/busybox", "wget", "-q", "-O", "-",
                                                fmt::format("http://{}:{}/", b_ip, kServerPort)}});
  ASSERT_TRUE(a_to_b) << a_to_b.error().message;
  EXPECT_EQ(a_to_b->stdout_text, "hello from b\n") << a_to_b->stderr_text;

  // The container's own line in /etc/hosts carries its address; eth0 has it.
  auto hosts = runtime_->exec(a, ExecOptions{.command = {"cat", "/etc/hosts"}});
  ASSERT_TRUE(hosts) << hosts.error().message;
  EXPECT_THAT(hosts->stdout_text, HasSubstr(a_ip + "\t" + a.str()));
  auto addr = runtime_->exec(a, ExecOptions{.command = {"/bin/busybox", "ip", "-4", "addr"}});
  ASSERT_TRUE(addr) << addr.error().message;
  EXPECT_THAT(addr->stdout_text, HasSubstr("inet " + a_ip + "/24"));
}

TEST_F(LinuxNetworkTest, PublishedPortAnswersOnTheHost) {
  ContainerId a =
      start("pub", bridged(web_server("a"), {{.host_port = 18080, .container_port = kServerPort}}));
  auto via_loopback = http_get("127.0.0.1", 18080);
  ASSERT_TRUE(via_loopback) << via_loopback.error().message;
  EXPECT_EQ(*via_loopback, "hello from a\n");
  auto via_gateway = http_get(subnet_prefix_ + "1", 18080);
  ASSERT_TRUE(via_gateway) << via_gateway.error().message;
  EXPECT_EQ(*via_gateway, "hello from a\n");

  ASSERT_TRUE(runtime_->remove_container(a));
  auto after = http_get("127.0.0.1", 18080, std::chrono::milliseconds(0));
  EXPECT_FALSE(after) << "the published port is gone with the container";
}

TEST_F(LinuxNetworkTest, RemoveReleasesTheAddressRulesVethAndNamespace) {
  ContainerId a = start(
      "rm", bridged({"sleep", "1000"}, {{.host_port = 18080, .container_port = kServerPort}}));
  const std::string ip = ip_of(a);
  EXPECT_EQ(addresses_in_use(), 1u);
  EXPECT_EQ(veth_count(), 1u);
  EXPECT_THAT(iptables(), HasSubstr("--to-destination " + ip + ":8080"));
  const fs::path netns = runtime_->netns_path(a);
  EXPECT_TRUE(is_netns(netns));

  ASSERT_TRUE(runtime_->remove_container(a));
  EXPECT_EQ(addresses_in_use(), 0u);
  EXPECT_EQ(veth_count(), 0u);
  const std::string rules = iptables();
  EXPECT_THAT(rules, Not(HasSubstr(ip)));
  EXPECT_THAT(rules, Not(HasSubstr("18080")));
  EXPECT_FALSE(fs::exists(netns));
  EXPECT_TRUE(runtime_->remove_container(a)) << "remove is idempotent";
  EXPECT_EQ(runtime_->container_ip(a).error().code, Errc::kNotFound);
}

// CNI DEL is best effort: when it fails (here the NAT chains it wants to delete are gone, as
// when they lived in a network namespace deleted since), the container is still removed, with
// its namespace, veth and address.
TEST_F(LinuxNetworkTest, RemoveSucceedsWhenTheNetworkTeardownFails) {
  ContainerId a = start("gone", bridged({"sleep", "1000"}));
  const fs::path netns = runtime_->netns_path(a);
  ASSERT_TRUE(is_netns(netns));
  ASSERT_TRUE(run_command({"iptables", "-w", "-t", "nat", "-F"}));
  ASSERT_TRUE(run_command({"iptables", "-w", "-t", "nat", "-X"}));
  ASSERT_TRUE(runtime_->remove_container(a));
  EXPECT_FALSE(fs::exists(netns));
  EXPECT_EQ(veth_count(), 0u);
  EXPECT_EQ(addresses_in_use(), 0u);
  EXPECT_EQ(runtime_->container_state(a).error().code, Errc::kNotFound);
}

TEST_F(LinuxNetworkTest, FailedCreateUndoesTheNetwork) {
  // The ADD succeeds, then the bundle fails (unknown user): DEL and the namespace go too.
  ContainerId id{zlayer::testing::unique_container_id("bad"), 1};
  ContainerConfig bad_user = bridged({"true"});
  bad_user.user = "no-such-user";
  auto created = runtime_->create_container(id, bad_user);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
  EXPECT_FALSE(fs::exists(runtime_->netns_path(id)));
  EXPECT_EQ(veth_count(), 0u);
  EXPECT_EQ(addresses_in_use(), 0u);

  // The ADD itself fails half-way (portmap, after bridge and host-local succeeded).
  const fs::path bin = dir_.path() / "cni-bin";
  ASSERT_TRUE(make_dirs(bin));
  for (const char* plugin : {"bridge", "host-local", "firewall"}) {
    fs::create_symlink(fs::path("/usr/lib/cni") / plugin, bin / plugin);
  }
  ASSERT_TRUE(atomic_write_file(bin / "portmap",
                                "#!/bin/sh\n"
                                "cat >/dev/null\n"
                                "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                                "  echo '{\"cniVersion\":\"1.0.0\",\"code\":11,"
                                "\"msg\":\"portmap broken on purpose\"}'\n"
                                "  exit 1\n"
                                "fi\n",
                                0755));
  network_.cni_bin_dir = bin;
  open_runtime();
  auto failed_add = runtime_->create_container(
      id, bridged({"true"}, {{.host_port = 18080, .container_port = kServerPort}}));
  ASSERT_FALSE(failed_add);
  EXPECT_THAT(failed_add.error().message, HasSubstr("portmap broken on purpose"));
  EXPECT_FALSE(fs::exists(runtime_->container_dir(id)));
  EXPECT_FALSE(fs::exists(runtime_->netns_path(id)));
  EXPECT_EQ(veth_count(), 0u);
  EXPECT_EQ(addresses_in_use(), 0u) << "the address of the failed ADD is released";
  EXPECT_THAT(iptables(), Not(HasSubstr(subnet_prefix_ + "2")));
}

TEST_F(LinuxNetworkTest, RestartedAgentDoesNotHandOutAnAddressInUse) {
  ContainerId a = start("first", bridged({"sleep", "1000"}));
  const std::string a_ip = ip_of(a);
  open_runtime();  // a new agent over the same directories; a keeps running
  ContainerId b = start("second", bridged({"sleep", "1000"}));
  const std::string b_ip = ip_of(b);
  EXPECT_NE(b_ip, a_ip);
  EXPECT_EQ(ip_of(a), a_ip) << "the new agent knows a's address";
  auto ping = runtime_->exec(
      b, ExecOptions{.command = {"/bin/busybox", "ping", "-c", "1", "-W", "5", a_ip}});
  ASSERT_TRUE(ping) << ping.error().message;
  EXPECT_EQ(ping->exit_code, 0) << ping->stdout_text << ping->stderr_text;
}

TEST_F(LinuxNetworkTest, AnotherAgentProcessDoesNotTakeAnAddressInUse) {
  // A /30 has room for exactly one container besides the gateway.
  network_.subnet = subnet_prefix_ + "0/30";
  open_runtime();
  const auto env = agent_env();
  const std::string name = zlayer::testing::unique_container_id("holder");
  const ContainerId holder{name, 1};
  created_.push_back(holder);
  auto first =
      run_subprocess({ZLAYER_AGENT_BIN, "run", "-d", "--name", name, image_ref_, "sleep", "1000"},
                     {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->exit_code, 0) << first->err;
  EXPECT_EQ(ip_of(holder), subnet_prefix_ + "2");

  // A second agent process finds the address taken on disk (host-local's store).
  auto second = run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", image_ref_, "true"},
                               {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->exit_code, 125);
  EXPECT_THAT(second->err, HasSubstr("no IP addresses available"));
  EXPECT_EQ(veth_count(), 1u) << "only the holder's veth";
  EXPECT_EQ(addresses_in_use(), 1u);

  // Removing the holder frees the address for the next agent.
  ASSERT_TRUE(runtime_->remove_container(holder));
  auto third = run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", image_ref_, "cat", "/etc/hosts"},
                              {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(third->exit_code, 0) << third->err;
  EXPECT_THAT(third->out, HasSubstr(subnet_prefix_ + "2\t"));
}

TEST_F(LinuxNetworkTest, CliRunPublishesAndCleansUp) {
  const auto env = agent_env();
  // The CLI's default network is bridge; the agent runs in this test's namespace.
  auto run = run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", image_ref_, "cat", "/etc/hosts"},
                            {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_THAT(run->out, HasSubstr(subnet_prefix_ + "2\t"));

  const std::string name = zlayer::testing::unique_container_id("cliweb");
  created_.push_back(ContainerId{name, 1});  // TearDown removes it
  auto detached = run_subprocess(
      {ZLAYER_AGENT_BIN, "run", "-d", "--name", name, "-p", "127.0.0.1:18081:8080/tcp", image_ref_,
       "sh", "-c", "echo hi > /index.html; exec /bin/busybox httpd -f -p 8080 -h /"},
      {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(detached) << detached.error().message;
  ASSERT_EQ(detached->exit_code, 0) << detached->err;
  auto got = http_get("127.0.0.1", 18081);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, "hi\n");

  for (const char* bad :
       {"80", "1:2:3:4", "x:80", "70000:80", "80:80/icmp", "nope:80:80", "8080-8090:80"}) {
    auto refused = run_subprocess({ZLAYER_AGENT_BIN, "run", "--rm", "-p", bad, image_ref_, "true"},
                                  {.env = env, .timeout = std::chrono::minutes(2)});
    ASSERT_TRUE(refused) << refused.error().message;
    EXPECT_EQ(refused->exit_code, 125) << bad;
    EXPECT_THAT(refused->err, HasSubstr("-p \"" + std::string(bad) + "\"")) << bad;
  }
  auto none_with_port = run_subprocess(
      {ZLAYER_AGENT_BIN, "run", "--rm", "--network", "none", "-p", "80:80", image_ref_, "true"},
      {.env = env, .timeout = std::chrono::minutes(2)});
  ASSERT_TRUE(none_with_port) << none_with_port.error().message;
  EXPECT_EQ(none_with_port->exit_code, 125);
  const auto left =
      std::distance(fs::directory_iterator(paths_.containers_dir()), fs::directory_iterator());
  EXPECT_EQ(left, 1) << "only the detached container is left";
}

}  // namespace
}  // namespace zlayer::runtime::linux
