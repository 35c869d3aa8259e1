// Bundles from build_bundle() run under real runc and crun over a busybox-static rootfs; the
// container itself reports what the config asked for: hostname, /etc/hosts, resolv.conf, env,
// user and groups, bind mount, named volume (persisting into a second container), tmpfs size,
// read-only rootfs, memory/pids/cpu limits in its cgroup, CapEff/NoNewPrivs/Seccomp, and a /dev
// that stays inside the rootfs when the image ships /dev as a symlink. Every container is
// deleted (unique ids) and its cgroup checked gone.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/fs.h"
#include "runtime/linux/bundle.h"
#include "runtime/linux/security_defaults.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::status_field;

constexpr std::array<std::string_view, 8> kControllers = {"memory", "pids",    "cpu",     "cpuacct",
                                                          "cpuset", "devices", "freezer", "blkio"};

class BundleContainer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (runs an OCI runtime)";
    if (!fs::exists(testing::kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!testing::have_program(runtime())) GTEST_SKIP() << "needs " << runtime();
    if (!fs::exists(kDefaultSeccompProfile)) {
      GTEST_SKIP() << "needs golang-github-containers-common";
    }
    rootfs_ = dir_.path() / "rootfs";
    auto written = testing::write_busybox_rootfs(rootfs_);
    ASSERT_TRUE(written) << written.error().message;
  }

  void TearDown() override {
    for (const auto& [id, cgroups_path] : containers_) {
      auto deleted = testing::oci_delete(runtime(), id);
      EXPECT_TRUE(deleted) << deleted.error().message;
      for (auto controller : kControllers) {
        auto cgroup = fs::path("/sys/fs/cgroup") / controller / cgroups_path.substr(1);
        if (fs::exists(cgroup)) {
          ADD_FAILURE() << "cgroup left behind: " << cgroup;
          ::rmdir(cgroup.c_str());
        }
      }
    }
  }

  [[nodiscard]] const std::string& runtime() const { return GetParam(); }

  // A fresh container dir with its context; the container's id is unique to this run.
  BundleContext context(const fs::path& rootfs) {
    auto id = testing::unique_container_id("zlayer-bundle-" + runtime());
    auto container_dir = dir_.path() / id;
    EXPECT_TRUE(make_dirs(container_dir));
    auto context = BundleContext::for_host(id, container_dir, rootfs, dir_.paths(), "/" + id);
    EXPECT_TRUE(context) << context.error().message;
    containers_.emplace_back(id, "/" + id);
    return context ? *context : BundleContext{};
  }

  ContainerConfig config(const std::string& script) {
    ContainerConfig config;
    config.image_ref = "test/busybox:1";
    config.image.entrypoint = {"/bin/sh", "-c"};
    config.image.cmd = {script};
    return config;
  }

  // Builds the bundle and runs it; returns the container's stdout (exit code must be 0).
  std::string run(const ContainerConfig& config, const BundleContext& context,
                  BundlePlan* plan_out = nullptr) {
    auto plan = build_bundle(config, context);
    EXPECT_TRUE(plan) << plan.error().message;
    if (!plan) return "";
    if (plan_out != nullptr) *plan_out = *plan;
    auto result =
        testing::oci_run(runtime(), context.container_dir, context.container_id, dir_.path());
    EXPECT_TRUE(result) << result.error().message;
    if (!result) return "";
    EXPECT_EQ(result->exit_code, 0)
        << runtime() << " stderr: " << result->err << "\nstdout: " << result->out;
    return result->out;
  }

  testing::TempDir dir_;
  fs::path rootfs_;
  std::vector<std::pair<std::string, std::string>> containers_;  // id, cgroupsPath
};

TEST_P(BundleContainer, SpecIsVisibleFromInside) {
  auto host_dir = dir_.path() / "host-data";
  ASSERT_TRUE(make_dirs(host_dir));
  ASSERT_TRUE(atomic_write_file(host_dir / "in.txt", "from-host\n"));
  // The image's /data belongs to app, so the new named volume does too (copy-up).
  ASSERT_TRUE(make_dirs(rootfs_ / "data"));
  ASSERT_EQ(::chown((rootfs_ / "data").c_str(), 1000, 1000), 0);

  auto first = config(
      "echo \"hostname=$(hostname)\"; cat /etc/hosts /etc/resolv.conf; "
      "echo \"env=$GREETING home=$HOME\"; cat /proc/self/status; cat /mnt/host/in.txt; "
      "if touch /mnt/host/x 2>/dev/null; then echo bind=writable; else echo bind=ro; fi; "
      "echo persisted >/data/file && echo volume=written; "
      "grep ' /scratch ' /proc/mounts; if touch /scratch/ok 2>/dev/null; then echo "
      "scratch=writable; else echo scratch=refused; fi; "
      "echo \"mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"; "
      "echo \"pids=$(cat /sys/fs/cgroup/pids/pids.max)\"; "
      "echo \"quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)\"");
  first.env = {"GREETING=hello"};
  first.user = "app";
  first.hostname = "bundle-test";
  first.extra_hosts = {"db:10.0.0.5"};
  first.dns.servers = {"10.0.0.53"};
  first.dns.search = {"example.test"};
  first.storage = {BindMount{host_dir.string(), "/mnt/host", true},
                   NamedVolume{"shared-data", "/data", false},
                   TmpfsMount{"/scratch", 8ull << 20, 0770}};
  first.resources.memory_bytes = 64ull << 20;
  first.resources.pids_limit = 64;
  first.resources.cpus = 0.5;
  auto out = run(first, context(rootfs_));

  EXPECT_THAT(out, HasSubstr("hostname=bundle-test\n"));
  EXPECT_THAT(out, HasSubstr("127.0.0.1\tlocalhost\n"));
  EXPECT_THAT(out, HasSubstr("10.0.0.5\tdb\n"));
  EXPECT_THAT(out, HasSubstr("127.0.1.1\tbundle-test\n"));
  EXPECT_THAT(out, HasSubstr("nameserver 10.0.0.53\nsearch example.test\n"));
  EXPECT_THAT(out, HasSubstr("env=hello home=/home/app\n"));
  EXPECT_EQ(status_field(out, "Uid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(status_field(out, "Gid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(status_field(out, "Groups"), "2000 2001");
  EXPECT_EQ(status_field(out, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(out, "Seccomp"), "2");
  EXPECT_THAT(out, HasSubstr("from-host\nbind=ro\n"));
  EXPECT_THAT(out, HasSubstr("volume=written\n"));
  EXPECT_THAT(out, HasSubstr("size=8192k,mode=770"));
  EXPECT_THAT(out, HasSubstr("scratch=refused\n"));  // 0770 root:root and we are app
  EXPECT_THAT(out, HasSubstr(fmt::format("mem={}\n", 64 << 20)));
  EXPECT_THAT(out, HasSubstr("pids=64\n"));
  EXPECT_THAT(out, HasSubstr("quota=50000\n"));
  EXPECT_FALSE(fs::exists(host_dir / "x"));

  // A second container (as root, default capabilities) sees the named volume's data.
  auto second = config("cat /data/file; cat /proc/self/status");
  second.storage = {NamedVolume{"shared-data", "/data", true}};
  auto out2 = run(second, context(rootfs_));
  EXPECT_THAT(out2, ::testing::StartsWith("persisted\n"));
  EXPECT_EQ(status_field(out2, "CapEff"), "00000000a80425fb");  // Docker's default set
  EXPECT_EQ(status_field(out2, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(out2, "Seccomp"), "2");
  EXPECT_EQ(read_file(dir_.paths().volumes_dir() / "shared-data/file").value_or(""), "persisted\n");
}

TEST_P(BundleContainer, ReadOnlyRootfs) {
  auto spec = config(
      "if touch /x 2>/dev/null; then echo root=writable; else echo root=refused; fi; "
      "if touch /etc/hosts 2>/dev/null; then echo hosts=writable; else echo hosts=refused; fi; "
      "touch /tmp/y && echo tmp=writable");
  spec.read_only_root_fs = true;
  spec.storage = {TmpfsMount{"/tmp", 1 << 20, std::nullopt}};
  auto out = run(spec, context(rootfs_));
  EXPECT_THAT(out, HasSubstr("root=refused\nhosts=refused\ntmp=writable\n"));
  EXPECT_FALSE(fs::exists(rootfs_ / "x"));
}

// An image whose /dev is a symlink — absolute to a host directory, or "../.." — still gets a
// real /dev tmpfs with device nodes inside the container, and the host directory stays empty.
TEST_P(BundleContainer, DevSymlinkNeverLeavesTheRootfs) {
  auto host_target = dir_.path() / "host-dev-target";
  ASSERT_TRUE(make_dirs(host_target));
  int index = 0;
  for (const std::string& link : {host_target.string(), std::string("../..")}) {
    SCOPED_TRACE(link);
    auto rootfs = dir_.path() / fmt::format("rootfs-dev-{}", index++);
    ASSERT_TRUE(testing::write_busybox_rootfs(rootfs));
    fs::create_symlink(link, rootfs / "dev");
    auto spec = config(
        "if [ -L /dev ]; then echo dev=link; else echo dev=dir; fi; "
        "[ -c /dev/null ] && echo null=char; echo x >/dev/null && echo null=writable; "
        "grep ' /dev ' /proc/mounts; ls /bin/busybox");
    BundlePlan plan;
    auto out = run(spec, context(rootfs), &plan);
    EXPECT_THAT(out, HasSubstr("dev=dir\nnull=char\nnull=writable\n"));
    EXPECT_THAT(out, HasSubstr("tmpfs /dev tmpfs"));
    EXPECT_THAT(out, HasSubstr("/bin/busybox\n"));
    EXPECT_THAT(plan.warnings, ::testing::Contains(HasSubstr("/dev is not a directory")));
    EXPECT_TRUE(fs::is_empty(host_target));
  }
}

TEST_P(BundleContainer, HostNetworkUsesTheHostsName) {
  auto spec = config("hostname; ls /sys/class/net");
  spec.network.mode = NetworkMode::kHost;
  auto out = run(spec, context(rootfs_));
  std::array<char, 256> name{};
  ASSERT_EQ(::gethostname(name.data(), name.size() - 1), 0);
  EXPECT_THAT(out, ::testing::StartsWith(fmt::format("{}\n", name.data())));
  EXPECT_THAT(out, HasSubstr("lo\n"));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, BundleContainer, ::testing::Values("runc", "crun"),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace zlayer::runtime::linux
