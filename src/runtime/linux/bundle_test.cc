// build_bundle() without running anything: the generated config.json for representative configs,
// the etc files, volumes and their copy-up, and bad input (clear error naming the field, nothing
// left behind).
#include "runtime/linux/bundle.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <functional>

#include "core/fs.h"
#include "runtime/linux/process_spec.h"
#include "runtime/linux/security_defaults.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kDefaultSeccompProfile)) {
      GTEST_SKIP() << "needs golang-github-containers-common";
    }
    container_dir_ = dir_.path() / "containers/web-rep-1";
    rootfs_ = container_dir_ / "rootfs";
    auto written = testing::write_busybox_rootfs(rootfs_, {"sh"});
    ASSERT_TRUE(written) << written.error().message;
    auto context = BundleContext::for_host("web-rep-1", container_dir_, rootfs_, dir_.paths(),
                                           "/zlayer-test/web-rep-1");
    ASSERT_TRUE(context) << context.error().message;
    context_ = *context;
    context_.online_cpus = 2;
    context_.rlimit_ceilings = {{"RLIMIT_NOFILE", 20000}, {"RLIMIT_NPROC", 4096}};
    context_.host_resolv_conf = dir_.path() / "host-resolv.conf";
    context_.host_hosts = dir_.path() / "host-hosts";
    context_.host_hostname = "the-host";
    ASSERT_TRUE(atomic_write_file(context_.host_resolv_conf,
                                  "# host file\nnameserver 127.0.0.53\nnameserver 10.1.2.3\n"
                                  "search corp.example\noptions edns0\n"));
    ASSERT_TRUE(atomic_write_file(context_.host_hosts, "127.0.0.1 localhost\n10.9.9.9 db\n"));

    config_.image_ref = "test/busybox:1";
    config_.image.entrypoint = {"/bin/sh", "-c"};
    config_.image.cmd = {"true"};
    config_.image.env = {"FROM_IMAGE=1"};
  }

  // The container dir's and volumes dir's entries (relative paths), for "nothing left behind".
  std::vector<std::string> listing() {
    std::vector<std::string> out;
    for (const auto& root : {container_dir_, dir_.paths().volumes_dir()}) {
      if (!fs::exists(root)) continue;
      for (const auto& entry : fs::recursive_directory_iterator(root)) {
        auto relative = entry.path().lexically_relative(dir_.path()).string();
        if (!relative.starts_with("containers/web-rep-1/rootfs/bin")) out.push_back(relative);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Builds, expecting kInvalidArgument whose message contains `field`; checks nothing changed.
  void expect_invalid(std::string_view field) {
    auto before = listing();
    auto plan = build_bundle(config_, context_);
    ASSERT_FALSE(plan) << "expected an error naming " << field;
    EXPECT_EQ(plan.error().code, Errc::kInvalidArgument) << plan.error().message;
    EXPECT_THAT(plan.error().message, HasSubstr(field));
    EXPECT_EQ(listing(), before) << plan.error().message;
  }

  BundlePlan build() {
    auto plan = build_bundle(config_, context_);
    EXPECT_TRUE(plan) << plan.error().message;
    return plan ? *plan : BundlePlan{};
  }

  static const json* find_mount(const json& config, std::string_view destination) {
    for (const auto& mount : config["mounts"]) {
      if (mount["destination"] == destination) return &mount;
    }
    return nullptr;
  }

  testing::TempDir dir_;
  fs::path container_dir_;
  fs::path rootfs_;
  BundleContext context_;
  ContainerConfig config_;
};

TEST_F(BundleTest, MinimalConfigHasDockerDefaults) {
  auto plan = build();
  const json& config = plan.config;
  EXPECT_EQ(plan.config_path, container_dir_ / "config.json");
  auto on_disk = read_file(plan.config_path);
  ASSERT_TRUE(on_disk);
  EXPECT_EQ(json::parse(*on_disk), config);

  EXPECT_EQ(config["ociVersion"], "1.0.2");
  EXPECT_EQ(config["root"], json({{"path", rootfs_.string()}, {"readonly", false}}));
  EXPECT_EQ(config["hostname"], "web-rep-1");
  EXPECT_EQ(plan.hostname, "web-rep-1");
  const json& process = config["process"];
  EXPECT_EQ(process["args"], json({"/bin/sh", "-c", "true"}));
  EXPECT_THAT(process["env"].get<std::vector<std::string>>(),
              ::testing::ElementsAre(fmt::format("PATH={}", kDefaultPath), "HOSTNAME=web-rep-1",
                                     "FROM_IMAGE=1", "HOME=/root"));
  EXPECT_EQ(process["cwd"], "/");
  EXPECT_EQ(process["user"], json({{"uid", 0}, {"gid", 0}}));
  EXPECT_EQ(process["terminal"], false);
  EXPECT_EQ(process["noNewPrivileges"], true);
  auto caps = process["capabilities"]["effective"].get<std::vector<std::string>>();
  EXPECT_EQ(caps,
            std::vector<std::string>(kDefaultCapabilities.begin(), kDefaultCapabilities.end()));
  // NOFILE default 1048576 clamped to the 20000 ceiling, with a warning naming it.
  EXPECT_EQ(process["rlimits"],
            json::parse(R"([{"type":"RLIMIT_NOFILE","soft":20000,"hard":20000}])"));
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_THAT(plan.warnings[0], HasSubstr("RLIMIT_NOFILE"));

  std::vector<std::string> destinations;
  for (const auto& mount : config["mounts"]) destinations.push_back(mount["destination"]);
  EXPECT_THAT(
      destinations,
      ::testing::ElementsAre("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys",
                             "/sys/fs/cgroup", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"));
  const json* hosts = find_mount(config, "/etc/hosts");
  ASSERT_NE(hosts, nullptr);
  EXPECT_EQ(*hosts, json({{"destination", "/etc/hosts"},
                          {"type", "bind"},
                          {"source", (container_dir_ / "hosts").string()},
                          {"options", {"rbind", "rprivate"}}}));

  const json& linux_section = config["linux"];
  EXPECT_EQ(linux_section["namespaces"],
            json::parse(R"([{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},
                            {"type":"network"}])"));
  EXPECT_EQ(linux_section["cgroupsPath"], "/zlayer-test/web-rep-1");
  EXPECT_EQ(linux_section["resources"], json({{"devices", default_device_rules(false)}}));
  EXPECT_EQ(linux_section["maskedPaths"], json(masked_paths(false)));
  EXPECT_EQ(linux_section["readonlyPaths"], json(readonly_paths(false)));
  EXPECT_EQ(linux_section["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(config["annotations"], json({{"com.zlayer.stop-signal", "SIGTERM"},
                                         {"com.zlayer.image", "test/busybox:1"},
                                         {"com.zlayer.container-id", "web-rep-1"}}));
  EXPECT_EQ(plan.stop_signal, "SIGTERM");
  EXPECT_EQ(plan.stop_signal_number, 15);
  EXPECT_TRUE(plan.created_dirs.empty());

  // /etc files: Docker's localhost block, the hostname on 127.0.1.1 (no address yet); the host's
  // resolv.conf without its loopback nameserver.
  auto hosts_file = read_file(container_dir_ / "hosts");
  ASSERT_TRUE(hosts_file);
  EXPECT_THAT(*hosts_file, HasSubstr("127.0.0.1\tlocalhost\n"));
  EXPECT_THAT(*hosts_file, HasSubstr("::1\tlocalhost ip6-localhost ip6-loopback\n"));
  EXPECT_THAT(*hosts_file, ::testing::EndsWith("127.0.1.1\tweb-rep-1\n"));
  EXPECT_EQ(read_file(container_dir_ / "hostname").value_or(""), "web-rep-1\n");
  EXPECT_EQ(read_file(container_dir_ / "resolv.conf").value_or(""),
            "# host file\nnameserver 10.1.2.3\nsearch corp.example\noptions edns0\n");
}

TEST_F(BundleTest, ResourcesSecurityAndProcessOverrides) {
  config_.resources.cpus = 0.5;
  config_.resources.memory_bytes = 64ull << 20;
  config_.resources.memory_swap_bytes = 128ll << 20;
  config_.resources.pids_limit = 50;
  config_.resources.cpuset_cpus = "0-1";
  config_.resources.cpu_shares = 512;
  config_.capabilities.cap_add = {"net_admin"};
  config_.capabilities.cap_drop = {"CAP_MKNOD"};
  config_.ulimits = {{"nproc", {.soft = 100, .hard = 200}}, {"nofile", {.soft = 1024}}};
  config_.entrypoint = std::vector<std::string>{"/bin/echo"};
  config_.env = {"A=1", "FROM_IMAGE=2"};
  config_.user = "app";
  config_.working_dir = "/work";
  config_.hostname = "custom";
  config_.tty = true;
  config_.labels = {{"team", "a"}, {"com.zlayer.stop-signal", "ignored"}};
  config_.annotations = {{"team", "b"}};
  config_.image.stop_signal = "SIGQUIT";
  config_.devices = {{"/dev/null", true, false, false}};
  auto plan = build();
  const json& config = plan.config;
  EXPECT_EQ(config["linux"]["devices"],
            json::parse(R"([{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":438,
                             "uid":0,"gid":0}])"));
  EXPECT_EQ(config["linux"]["resources"]["devices"].back(),
            json::parse(R"({"allow":true,"type":"c","major":1,"minor":3,"access":"r"})"));
  EXPECT_EQ(config["linux"]["resources"]["memory"],
            json({{"limit", 64 << 20}, {"swap", 128 << 20}}));
  EXPECT_EQ(config["linux"]["resources"]["cpu"],
            json({{"quota", 50000}, {"period", 100000}, {"shares", 512}, {"cpus", "0-1"}}));
  EXPECT_EQ(config["linux"]["resources"]["pids"], json({{"limit", 50}}));

  const json& process = config["process"];
  EXPECT_EQ(process["args"], json({"/bin/echo"}));  // entrypoint override drops the image CMD
  EXPECT_EQ(process["cwd"], "/work");
  EXPECT_EQ(process["terminal"], true);
  EXPECT_EQ(process["user"],
            json({{"uid", 1000}, {"gid", 1000}, {"additionalGids", {2000, 2001}}}));
  EXPECT_THAT(process["env"].get<std::vector<std::string>>(),
              ::testing::ElementsAre(fmt::format("PATH={}", kDefaultPath), "HOSTNAME=custom",
                                     "TERM=xterm", "FROM_IMAGE=2", "A=1", "HOME=/home/app"));
  auto caps = process["capabilities"]["effective"].get<std::vector<std::string>>();
  EXPECT_THAT(caps, ::testing::Contains("CAP_NET_ADMIN"));
  EXPECT_THAT(caps, ::testing::Not(::testing::Contains("CAP_MKNOD")));
  EXPECT_EQ(process["rlimits"], json::parse(R"([{"type":"RLIMIT_NOFILE","soft":1024,"hard":1024},
                                                {"type":"RLIMIT_NPROC","soft":100,"hard":200}])"));
  EXPECT_TRUE(plan.warnings.empty());
  EXPECT_EQ(config["hostname"], "custom");
  EXPECT_EQ(plan.stop_signal, "SIGQUIT");  // the image's, no spec stop_signal
  EXPECT_EQ(plan.stop_signal_number, 3);
  EXPECT_EQ(config["annotations"]["com.zlayer.stop-signal"], "SIGQUIT");
  EXPECT_EQ(config["annotations"]["team"], "b");

  config_.stop_signal = "usr1";
  EXPECT_EQ(build().stop_signal, "SIGUSR1");
}

TEST_F(BundleTest, PrivilegedIsUnconfined) {
  config_.capabilities.privileged = true;
  auto plan = build();
  const json& config = plan.config;
  EXPECT_FALSE(config["linux"].contains("seccomp"));
  EXPECT_EQ(config["linux"]["maskedPaths"], json::array());
  EXPECT_EQ(config["linux"]["readonlyPaths"], json::array());
  EXPECT_EQ(config["process"]["noNewPrivileges"], false);
  EXPECT_EQ(config["process"]["capabilities"]["effective"],
            json(all_capabilities(context_.last_capability)));
  EXPECT_EQ(config["linux"]["resources"]["devices"], default_device_rules(true));
}

TEST_F(BundleTest, StorageMountsAndVolumes) {
  auto host_dir = dir_.path() / "host-data";
  ASSERT_TRUE(make_dirs(host_dir));
  // The image has content at /srv/data (a named volume target) and /var/cache (an image VOLUME),
  // including a symlink that must be copied as a link, not followed.
  ASSERT_TRUE(make_dirs(rootfs_ / "srv/data/sub"));
  ASSERT_TRUE(atomic_write_file(rootfs_ / "srv/data/sub/seed.txt", "seed\n", 0640));
  ASSERT_EQ(::chown((rootfs_ / "srv/data/sub/seed.txt").c_str(), 1000, 1000), 0);
  fs::create_symlink("/etc/shadow", rootfs_ / "srv/data/link");
  ASSERT_TRUE(make_dirs(rootfs_ / "var/cache"));
  ASSERT_TRUE(atomic_write_file(rootfs_ / "var/cache/c", "cache"));
  config_.image.volumes = {"/var/cache", "/srv/data", "/tmp/"};
  config_.storage = {
      BindMount{host_dir.string(), "/mnt/host/", true},
      NamedVolume{"db-data", "/srv/data", false},
      TmpfsMount{"/tmp", 16ull << 20, 01777},
      AnonymousVolume{"/scratch"},
      TmpfsMount{"/mnt/host/inner", std::nullopt, std::nullopt},
  };
  auto plan = build();
  const json& config = plan.config;
  auto volume = dir_.paths().volumes_dir() / "db-data";
  auto anon0 = container_dir_ / "volumes/anon-0";
  auto anon1 = container_dir_ / "volumes/anon-1";
  EXPECT_THAT(plan.created_dirs, ::testing::ElementsAre(volume, anon0, anon1));

  std::vector<json> user_mounts(config["mounts"].begin() + 10, config["mounts"].end());
  // Sorted parents first (stable within a depth), so /mnt/host/inner lands on the bind mount.
  ASSERT_EQ(user_mounts.size(), 6u);
  EXPECT_EQ(user_mounts[0], json({{"destination", "/tmp"},
                                  {"type", "tmpfs"},
                                  {"source", "tmpfs"},
                                  {"options", {"nosuid", "nodev", "size=16777216", "mode=1777"}}}));
  EXPECT_EQ(user_mounts[1]["destination"], "/scratch");
  EXPECT_EQ(user_mounts[1]["source"], anon0.string());
  EXPECT_EQ(user_mounts[2], json({{"destination", "/mnt/host"},
                                  {"type", "bind"},
                                  {"source", host_dir.string()},
                                  {"options", {"rbind", "rprivate", "ro"}}}));
  EXPECT_EQ(user_mounts[3], json({{"destination", "/srv/data"},
                                  {"type", "bind"},
                                  {"source", volume.string()},
                                  {"options", {"rbind", "rprivate"}}}));
  EXPECT_EQ(user_mounts[4]["destination"], "/var/cache");  // image VOLUME not in storage
  EXPECT_EQ(user_mounts[4]["source"], anon1.string());
  EXPECT_EQ(user_mounts[5]["destination"], "/mnt/host/inner");

  // Copy-up: content, owner and mode kept; the symlink copied as a symlink.
  EXPECT_EQ(read_file(volume / "sub/seed.txt").value_or(""), "seed\n");
  struct stat st {};
  ASSERT_EQ(::stat((volume / "sub/seed.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(fs::is_symlink(volume / "link"));
  EXPECT_EQ(fs::read_symlink(volume / "link"), "/etc/shadow");
  EXPECT_EQ(read_file(anon1 / "c").value_or(""), "cache");
  EXPECT_TRUE(fs::is_empty(anon0));

  // A second container reuses the named volume as it is: no copy-up over the data.
  ASSERT_TRUE(atomic_write_file(volume / "sub/seed.txt", "changed\n"));
  context_.container_dir = dir_.path() / "containers/web-rep-2";
  ASSERT_TRUE(make_dirs(context_.container_dir));
  auto second = build();
  EXPECT_THAT(second.created_dirs, ::testing::Not(::testing::Contains(volume)));
  EXPECT_EQ(read_file(volume / "sub/seed.txt").value_or(""), "changed\n");
}

TEST_F(BundleTest, ReadOnlyRootAndSpecEtcMounts) {
  auto host_hosts = dir_.path() / "my-hosts";
  ASSERT_TRUE(atomic_write_file(host_hosts, "1.2.3.4 x\n"));
  config_.read_only_root_fs = true;
  config_.storage = {BindMount{host_hosts.string(), "/etc/hosts", true},
                     TmpfsMount{"/dev/shm", 1 << 20, std::nullopt}};
  auto plan = build();
  EXPECT_EQ(plan.config["root"]["readonly"], true);
  // The spec's own /etc/hosts and /dev/shm replace ours.
  int hosts_mounts = 0;
  for (const auto& mount : plan.config["mounts"]) {
    if (mount["destination"] == "/etc/hosts") {
      ++hosts_mounts;
      EXPECT_EQ(mount["source"], host_hosts.string());
    }
    if (mount["destination"] == "/dev/shm") {
      EXPECT_EQ(mount["type"], "tmpfs");
      EXPECT_EQ(mount["source"], "tmpfs");
    }
    if (mount["destination"] == "/etc/resolv.conf") {
      EXPECT_THAT(mount["options"].get<std::vector<std::string>>(), ::testing::Contains("ro"));
    }
  }
  EXPECT_EQ(hosts_mounts, 1);
  EXPECT_FALSE(fs::exists(container_dir_ / "hosts"));
}

TEST_F(BundleTest, NetworkModesAndEtcFiles) {
  config_.extra_hosts = {"db:10.0.0.5", "v6:fd00::1"};
  config_.dns.servers = {"9.9.9.9"};
  config_.dns.options = {"ndots:2"};
  auto none = build();
  auto hosts = read_file(container_dir_ / "hosts").value_or("");
  EXPECT_THAT(hosts, HasSubstr("10.0.0.5\tdb\nfd00::1\tv6\n127.0.1.1\tweb-rep-1\n"));
  // Spec servers and options replace the host's; the host's search domain stays (Docker).
  EXPECT_EQ(read_file(container_dir_ / "resolv.conf").value_or(""),
            "# host file\nnameserver 9.9.9.9\nsearch corp.example\noptions ndots:2\n");

  // Bridge: the CNI netns path, the known address in /etc/hosts.
  auto netns = dir_.path() / "netns";
  ASSERT_TRUE(atomic_write_file(netns, ""));
  config_.network = {NetworkMode::kBridge, netns.string(), "10.88.0.7"};
  auto bridge = build();
  EXPECT_EQ(bridge.config["linux"]["namespaces"][4],
            json({{"type", "network"}, {"path", netns.string()}}));
  EXPECT_THAT(read_file(container_dir_ / "hosts").value_or(""),
              ::testing::EndsWith("10.88.0.7\tweb-rep-1\n"));

  // Host: no network namespace; the host's hostname, hosts (plus extra_hosts) and resolv.conf
  // with its loopback server.
  config_.network = {NetworkMode::kHost, "", ""};
  config_.dns = {};
  auto host = build();
  for (const auto& ns : host.config["linux"]["namespaces"]) EXPECT_NE(ns["type"], "network");
  EXPECT_EQ(host.hostname, "the-host");
  EXPECT_EQ(read_file(container_dir_ / "hosts").value_or(""),
            "127.0.0.1 localhost\n10.9.9.9 db\n10.0.0.5\tdb\nfd00::1\tv6\n");
  EXPECT_THAT(read_file(container_dir_ / "resolv.conf").value_or(""),
              HasSubstr("nameserver 127.0.0.53\nnameserver 10.1.2.3\n"));
}

TEST(ResolvConf, OnlyLoopbackServersFallBackToPublicOnes) {
  std::vector<std::string> warnings;
  auto text = render_resolv_conf({}, "nameserver 127.0.0.53\nnameserver ::1\n", false, warnings);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  ASSERT_EQ(warnings.size(), 1u);
}

TEST_F(BundleTest, RootfsDevSymlinkIsReplacedByADirectory) {
  fs::create_symlink("../..", rootfs_ / "dev");
  fs::create_symlink("/tmp", rootfs_ / "sys");
  auto plan = build();
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(rootfs_ / "dev")));
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(rootfs_ / "sys")));
  EXPECT_EQ(plan.warnings.size(), 3u);  // dev, sys, NOFILE clamp
}

// Bad input: kInvalidArgument naming the spec field; nothing created (the named volume, the
// anonymous volume and the etc files of the valid entries before the bad one included).
TEST_F(BundleTest, BadInputNamesTheFieldAndLeavesNothingBehind) {
  auto valid_storage =
      std::vector<StorageEntry>{NamedVolume{"keep", "/keep", false}, AnonymousVolume{"/anon"}};
  struct Case {
    std::string field;
    std::function<void(ContainerConfig&)> change;
  };
  auto missing = dir_.path() / "missing";
  std::vector<Case> cases = {
      {"user \"nobody\"", [](auto& c) { c.user = "nobody"; }},
      {"resources.memory", [](auto& c) { c.resources.memory_bytes = 5ull << 20; }},
      {"resources.cpu", [](auto& c) { c.resources.cpus = 0; }},
      {"resources.cpu", [](auto& c) { c.resources.cpus = -1; }},
      {"resources.cpu", [](auto& c) { c.resources.cpus = 3; }},
      {"resources.cpuset", [](auto& c) { c.resources.cpuset_cpus = "0-7"; }},
      {"resources.cpuset", [](auto& c) { c.resources.cpuset_cpus = "a"; }},
      {"resources.cpu_shares", [](auto& c) { c.resources.cpu_shares = 1; }},
      {"resources.memory_swap", [](auto& c) { c.resources.memory_swap_bytes = 1 << 30; }},
      {"resources.memory_swap",
       [](auto& c) {
         c.resources.memory_bytes = 64 << 20;
         c.resources.memory_swap_bytes = 32 << 20;
       }},
      {"storage[2].target", [](auto& c) { c.storage.push_back(AnonymousVolume{"data"}); }},
      {"storage[2].target", [](auto& c) { c.storage.push_back(AnonymousVolume{"/a/../etc"}); }},
      {"storage[2].target",
       [](auto& c) {
         c.storage.push_back(TmpfsMount{"/", {}, {}});
       }},
      {"storage[2].target",
       [](auto& c) {
         c.storage.push_back(TmpfsMount{"/keep/", {}, {}});
       }},
      {"storage[2].source",
       [&](auto& c) {
         c.storage.push_back(BindMount{missing.string(), "/m", false});
       }},
      {"storage[2].name",
       [](auto& c) {
         c.storage.push_back(NamedVolume{"../x", "/x", false});
       }},
      {"env[0]", [](auto& c) { c.env = {"NOEQUALS"}; }},
      {"stop_signal", [](auto& c) { c.stop_signal = "SIGNOPE"; }},
      {"StopSignal", [](auto& c) { c.image.stop_signal = "BOGUS"; }},
      {"hostname", [](auto& c) { c.hostname = "bad host"; }},
      {"dns[0]", [](auto& c) { c.dns.servers = {"not-an-ip"}; }},
      {"extra_hosts[0]", [](auto& c) { c.extra_hosts = {"db=10.0.0.1"}; }},
      {"network_mode",
       [](auto& c) {
         c.network = {NetworkMode::kBridge, "/nonexistent/ns", ""};
       }},
      {"capabilities", [](auto& c) { c.capabilities.cap_add = {"CAP_FLY"}; }},
      {"ulimits",
       [](auto& c) {
         c.ulimits = {{"nofile", {.soft = 10, .hard = 5}}};
       }},
      {"devices[0].path", [](auto& c) { c.devices = {{"/nonexistent-device"}}; }},
      {"devices[0].path", [](auto& c) { c.devices = {{"/etc/passwd"}}; }},
      // Fails after the named and anonymous volumes of storage[0..1] were created: rolled back.
      {"storage[2]",
       [&](auto& c) {
         ASSERT_TRUE(make_dirs(dir_.paths().volumes_dir()));
         ASSERT_TRUE(atomic_write_file(dir_.paths().volumes_dir() / "blocked", ""));
         c.storage.push_back(NamedVolume{"blocked", "/b", false});
       }},
  };
  for (const auto& test_case : cases) {
    SCOPED_TRACE(test_case.field);
    ContainerConfig saved = config_;
    config_.storage = valid_storage;
    test_case.change(config_);
    expect_invalid(test_case.field);
    config_ = saved;
  }
  EXPECT_FALSE(fs::exists(dir_.paths().volumes_dir() / "keep"));
  EXPECT_FALSE(fs::exists(container_dir_ / "volumes"));
  EXPECT_FALSE(fs::exists(container_dir_ / "config.json"));
}

}  // namespace
}  // namespace zlayer::runtime::linux
