// cgroup layout detection and stats: mountinfo tables (this machine's hybrid layout, pure v2,
// pure v1), v1 and v2 fixture trees written into a temp dir (contents as real kernels print
// them), and — as root on a v1/hybrid host — a real v1 cgroup holding a busybox child.
#include "runtime/linux/cgroups.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <fstream>
#include <random>
#include <set>

#include "core/fs.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// /proc/self/mountinfo of a Debian 12 build machine (kernel 6.18), as captured: v1 controllers
// one per hierarchy, name=systemd, and a cgroup2 at /sys/fs/cgroup/unified (only hugetlb).
constexpr std::string_view kHybridMountinfo =
    R"(22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k,nr_inodes=3083615,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684084k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684084k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
43 42 0:4 net:[4026532177] /run/netns/zlexp-outer rw shared:2 - nsfs nsfs rw
)";

// A systemd host in unified mode (Debian 12 / Fedora defaults).
constexpr std::string_view kV2Mountinfo =
    R"(22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
)";

// A pre-unified systemd host (CentOS 7 / Ubuntu 18.04): co-mounted cpu,cpuacct and
// net_cls,net_prio, options before the controller names, a named systemd hierarchy.
constexpr std::string_view kV1Mountinfo =
    R"(18 62 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,blkio
33 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
34 25 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
35 25 0:31 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
36 25 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,freezer
37 25 0:33 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,hugetlb
38 25 0:34 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,perf_event
)";

constexpr std::string_view kContainer = "/zlayer/web-rep-1";

void put(const fs::path& file, std::string_view content) {
  ASSERT_TRUE(make_dirs(file.parent_path()));
  std::ofstream stream(file, std::ios::binary | std::ios::trunc);
  stream << content;
  ASSERT_TRUE(stream.flush()) << file;
}

std::string mount_points(const CgroupLayout& layout) {
  std::string out;
  for (const auto& h : layout.v1) {
    out += fmt::format("{}{}={} ", h.name.empty() ? "" : "name=" + h.name + ":",
                       fmt::join(h.controllers, "+"), h.mount_point.string());
  }
  return out;
}

// ---------------------------------------------------------------- mountinfo

TEST(CgroupLayoutTest, HybridLayoutOfThisMachine) {
  auto layout = parse_cgroup_layout(kHybridMountinfo);
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->mode, CgroupMode::kHybrid);
  EXPECT_EQ(cgroup_mode_name(layout->mode), "hybrid");
  ASSERT_TRUE(layout->v2_mount);
  EXPECT_EQ(*layout->v2_mount, "/sys/fs/cgroup/unified");
  EXPECT_EQ(mount_points(*layout),
            "cpu=/sys/fs/cgroup/cpu cpuacct=/sys/fs/cgroup/cpuacct cpuset=/sys/fs/cgroup/cpuset "
            "memory=/sys/fs/cgroup/memory devices=/sys/fs/cgroup/devices "
            "freezer=/sys/fs/cgroup/freezer blkio=/sys/fs/cgroup/blkio pids=/sys/fs/cgroup/pids "
            "name=systemd:=/sys/fs/cgroup/systemd ");
  ASSERT_NE(layout->v1_hierarchy("memory"), nullptr);
  EXPECT_EQ(layout->v1_hierarchy("memory")->mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(layout->v1_hierarchy("hugetlb"), nullptr);
  EXPECT_TRUE(layout->v2_controllers.empty());  // only detect_cgroup_layout() reads them
}

TEST(CgroupLayoutTest, LayoutTable) {
  struct Row {
    std::string_view name;
    std::string_view mountinfo;
    CgroupMode mode;
    std::optional<std::string> v2_mount;
    std::string_view cpuacct_mount;  // "" when cpuacct is not a v1 controller
    std::size_t v1_hierarchies;
  };
  const Row rows[] = {
      {"hybrid", kHybridMountinfo, CgroupMode::kHybrid, "/sys/fs/cgroup/unified",
       "/sys/fs/cgroup/cpuacct", 9},
      {"v2", kV2Mountinfo, CgroupMode::kV2, "/sys/fs/cgroup", "", 0},
      {"v1", kV1Mountinfo, CgroupMode::kV1, std::nullopt, "/sys/fs/cgroup/cpu,cpuacct", 11},
      {"none", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", CgroupMode::kNone, std::nullopt,
       "", 0},
      {"empty", "", CgroupMode::kNone, std::nullopt, "", 0},
      // Only a named hierarchy next to cgroup2: nothing to account with in v1.
      {"v2 plus name=systemd",
       "26 22 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
       "27 22 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
       CgroupMode::kV2, "/sys/fs/cgroup", "", 1},
      // A second mount of the same hierarchy (a bind mount) does not add a hierarchy.
      {"bind-mounted twice",
       "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
       "90 27 0:32 / /var/lib/x/memory rw - cgroup cgroup rw,memory\n",
       CgroupMode::kV1, std::nullopt, "", 1},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    auto layout = parse_cgroup_layout(row.mountinfo);
    ASSERT_TRUE(layout) << layout.error().message;
    EXPECT_EQ(layout->mode, row.mode);
    EXPECT_EQ(layout->v2_mount.has_value(), row.v2_mount.has_value());
    if (row.v2_mount && layout->v2_mount) {
      EXPECT_EQ(layout->v2_mount->string(), *row.v2_mount);
    }
    const auto* cpuacct = layout->v1_hierarchy("cpuacct");
    EXPECT_EQ(cpuacct ? cpuacct->mount_point.string() : "", row.cpuacct_mount);
    EXPECT_EQ(layout->v1.size(), row.v1_hierarchies);
  }
}

TEST(CgroupLayoutTest, ProcessCgroupDirFollowsTheControllersHierarchy) {
  auto hybrid = parse_cgroup_layout(kHybridMountinfo);
  ASSERT_TRUE(hybrid) << hybrid.error().message;
  EXPECT_EQ(hybrid->mount_points().size(), 10u);
  constexpr std::string_view kMembership =
      "10:memory:/zlayer/web-rep-1\n9:pids:/zlayer/web-rep-1\n1:name=systemd:/init.scope\n"
      "0::/zlayer/web-rep-1\n";
  auto memory = process_cgroup_dir(*hybrid, kMembership, "memory");
  ASSERT_TRUE(memory) << memory.error().message;
  EXPECT_EQ(*memory, "/sys/fs/cgroup/memory/zlayer/web-rep-1");
  // No v1 hierarchy for hugetlb: the cgroup2 mount.
  auto hugetlb = process_cgroup_dir(*hybrid, kMembership, "hugetlb");
  ASSERT_TRUE(hugetlb) << hugetlb.error().message;
  EXPECT_EQ(*hugetlb, "/sys/fs/cgroup/unified/zlayer/web-rep-1");

  auto v2 = parse_cgroup_layout(kV2Mountinfo);
  ASSERT_TRUE(v2) << v2.error().message;
  auto unified = process_cgroup_dir(*v2, "0::/system.slice/x.service\n", "memory");
  ASSERT_TRUE(unified) << unified.error().message;
  EXPECT_EQ(*unified, "/sys/fs/cgroup/system.slice/x.service");
  auto none = process_cgroup_dir(*v2, "5:memory:/a\n", "memory");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kNotFound);

  // A mount of a sub-tree (a cgroup namespace): paths are taken relative to its root.
  auto nested = parse_cgroup_layout(
      "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  ASSERT_TRUE(nested) << nested.error().message;
  EXPECT_EQ(nested->v1_hierarchy("memory")->root, "/docker/abc");
  auto inside = process_cgroup_dir(*nested, "4:memory:/docker/abc/web\n", "memory");
  ASSERT_TRUE(inside) << inside.error().message;
  EXPECT_EQ(*inside, "/sys/fs/cgroup/memory/web");
}

TEST(CgroupLayoutTest, CoMountedControllersShareOneHierarchy) {
  auto layout = parse_cgroup_layout(kV1Mountinfo);
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->v1_hierarchy("cpu"), layout->v1_hierarchy("cpuacct"));
  ASSERT_NE(layout->v1_hierarchy("net_prio"), nullptr);
  EXPECT_EQ(layout->v1_hierarchy("net_prio")->controllers,
            (std::vector<std::string>{"net_cls", "net_prio"}));
  // Mount options that are not controllers (xattr, release_agent=…) are not taken for them.
  const auto& systemd = layout->v1.front();
  EXPECT_EQ(systemd.name, "systemd");
  EXPECT_TRUE(systemd.controllers.empty());
}

TEST(CgroupLayoutTest, EscapedMountPointIsDecoded) {
  auto layout = parse_cgroup_layout(
      "35 31 0:32 / /mnt/my\\040cgroups/mem\\134ory rw - cgroup cgroup rw,memory\n");
  ASSERT_TRUE(layout);
  ASSERT_NE(layout->v1_hierarchy("memory"), nullptr);
  EXPECT_EQ(layout->v1_hierarchy("memory")->mount_point, "/mnt/my cgroups/mem\\ory");
}

TEST(CgroupLayoutTest, MalformedLineNamesItsNumber) {
  auto layout = parse_cgroup_layout(
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n35 31 0:32 / /sys/fs/cgroup/memory rw\n");
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(layout.error().message, HasSubstr("mountinfo line 2"));
  EXPECT_THAT(layout.error().message, HasSubstr("/sys/fs/cgroup/memory"));
}

TEST(CgroupLayoutTest, DetectReadsTheUnifiedControllers) {
  testing::TempDir dir;
  put(dir.path() / "mountinfo", kHybridMountinfo);
  put(dir.path() / "sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  auto layout = detect_cgroup_layout(dir.path() / "mountinfo", dir.path());
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->mode, CgroupMode::kHybrid);
  EXPECT_EQ(layout->v2_controllers, std::vector<std::string>{"hugetlb"});

  put(dir.path() / "mountinfo", kV2Mountinfo);
  put(dir.path() / "sys/fs/cgroup/cgroup.controllers",
      "cpuset cpu io memory hugetlb pids rdma misc\n");
  layout = detect_cgroup_layout(dir.path() / "mountinfo", dir.path());
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_EQ(layout->v2_controllers, (std::vector<std::string>{"cpu", "cpuset", "hugetlb", "io",
                                                              "memory", "misc", "pids", "rdma"}));

  auto missing = detect_cgroup_layout(dir.path() / "no-such-mountinfo", dir.path());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_THAT(missing.error().message, HasSubstr("no-such-mountinfo"));
}

TEST(CgroupLayoutTest, DetectOnThisMachine) {
  auto layout = detect_cgroup_layout();
  ASSERT_TRUE(layout) << layout.error().message;
  EXPECT_NE(layout->mode, CgroupMode::kNone) << "no cgroup file system mounted";
}

// ---------------------------------------------------------------- v1 fixtures

// A container cgroup on a hybrid host as the kernel presents it, under `root`.
class V1Fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto layout = parse_cgroup_layout(kHybridMountinfo);
    ASSERT_TRUE(layout);
    layout_ = *layout;
  }
  fs::path dir(std::string_view controller) const {
    return dir_.path() / "sys/fs/cgroup" / controller / fs::path(kContainer).relative_path();
  }
  // Every file read_stats looks at, with values from a busybox container under a 64 MiB limit.
  void write_full_tree() {
    put(dir("cpuacct") / "cpuacct.usage", "1234567890\n");
    put(dir("cpuacct") / "cpuacct.stat", "user 98\nsystem 23\n");
    put(dir("cpu") / "cpu.stat",
        "nr_periods 120\nnr_throttled 7\nthrottled_time 35000000\nnr_bursts 0\nburst_time 0\n");
    put(dir("memory") / "memory.usage_in_bytes", "20480000\n");
    put(dir("memory") / "memory.limit_in_bytes", "67108864\n");
    put(dir("memory") / "memory.stat",
        "cache 4096000\nrss 12288000\nrss_huge 0\nshmem 0\nmapped_file 1228800\ndirty 0\n"
        "writeback 0\nswap 0\npgpgin 9000\npgpgout 4000\npgfault 12000\npgmajfault 3\n"
        "inactive_anon 0\nactive_anon 12288000\ninactive_file 2048000\nactive_file 2048000\n"
        "unevictable 0\nhierarchical_memory_limit 67108864\n"
        "hierarchical_memsw_limit 9223372036854771712\ntotal_cache 4915200\ntotal_rss 12288000\n"
        "total_rss_huge 0\ntotal_shmem 0\ntotal_mapped_file 1228800\ntotal_dirty 0\n"
        "total_writeback 0\ntotal_swap 0\ntotal_pgpgin 9000\ntotal_pgpgout 4000\n"
        "total_pgfault 12000\ntotal_pgmajfault 3\ntotal_inactive_anon 0\n"
        "total_active_anon 12288000\ntotal_inactive_file 2457600\ntotal_active_file 2457600\n"
        "total_unevictable 0\n");
    put(dir("memory") / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    put(dir("pids") / "pids.current", "3\n");
    put(dir("pids") / "pids.max", "64\n");
    put(dir("blkio") / "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096000\n8:0 Write 8192\n8:0 Sync 4104192\n8:0 Async 0\n8:0 Discard 0\n"
        "8:0 Total 4104192\n253:0 Read 1000\n253:0 Write 24\n253:0 Sync 1024\n253:0 Async 0\n"
        "253:0 Discard 0\n253:0 Total 1024\nTotal 4105216\n");
    put(dir("blkio") / "blkio.throttle.io_serviced_recursive",
        "8:0 Read 250\n8:0 Write 2\n8:0 Sync 252\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 252\n"
        "253:0 Read 1\n253:0 Write 1\n253:0 Sync 2\n253:0 Async 0\n253:0 Discard 0\n"
        "253:0 Total 2\nTotal 254\n");
  }

  testing::TempDir dir_;
  CgroupLayout layout_;
};

TEST_F(V1Fixture, ReadsEveryCounter) {
  write_full_tree();
  auto stats = read_stats(layout_, kContainer, dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  CgroupStats expected;
  expected.cpu_usage_ns = 1234567890;
  expected.cpu_user_ns = 980'000'000;  // 98 ticks of USER_HZ=100
  expected.cpu_system_ns = 230'000'000;
  expected.cpu_periods = 120;
  expected.throttled_periods = 7;
  expected.throttled_ns = 35000000;
  expected.memory_usage_bytes = 20480000;
  expected.memory_limit_bytes = 67108864;
  expected.memory_cache_bytes = 4915200;
  expected.memory_inactive_file_bytes = 2457600;
  expected.memory_working_set_bytes = 20480000 - 2457600;
  expected.oom_kill_count = 2;
  expected.pids_current = 3;
  expected.pids_limit = 64;
  expected.blkio_read_bytes = 4097000;
  expected.blkio_write_bytes = 8216;
  expected.blkio_read_ops = 251;
  expected.blkio_write_ops = 3;
  ASSERT_EQ(::sysconf(_SC_CLK_TCK), 100);
  EXPECT_EQ(*stats, expected);

  auto oom = read_oom_kill_count(layout_, kContainer, dir_.path());
  ASSERT_TRUE(oom) << oom.error().message;
  EXPECT_EQ(*oom, 2);
}

TEST_F(V1Fixture, UnlimitedValuesAreEmptyLimits) {
  write_full_tree();
  put(dir("memory") / "memory.limit_in_bytes", "9223372036854771712\n");
  put(dir("pids") / "pids.max", "max\n");
  auto stats = read_stats(layout_, kContainer, dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->memory_usage_bytes, 20480000u);
  EXPECT_FALSE(stats->memory_limit_bytes);
  EXPECT_EQ(stats->pids_current, 3u);
  EXPECT_FALSE(stats->pids_limit);
}

TEST_F(V1Fixture, MissingControllersLeaveFieldsEmpty) {
  // Only the memory hierarchy has the cgroup (a runtime that did not join the others), and an
  // old kernel without oom_kill in memory.oom_control.
  put(dir("memory") / "memory.usage_in_bytes", "4096\n");
  put(dir("memory") / "memory.limit_in_bytes", "9223372036854771712\n");
  put(dir("memory") / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
  auto stats = read_stats(layout_, kContainer, dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  CgroupStats expected;
  expected.memory_usage_bytes = 4096;
  expected.memory_working_set_bytes = 4096;
  EXPECT_EQ(*stats, expected);

  auto oom = read_oom_kill_count(layout_, kContainer, dir_.path());
  ASSERT_FALSE(oom);
  EXPECT_EQ(oom.error().code, Errc::kUnsupported);
  EXPECT_THAT(oom.error().message, HasSubstr("memory.oom_control"));
}

TEST_F(V1Fixture, BlkioFallsBackToTheSchedulerFiles) {
  // No throttle files (an old kernel with CFQ): blkio.io_service_bytes_recursive is used.
  put(dir("blkio") / "blkio.io_service_bytes_recursive",
      "8:16 Read 512\n8:16 Write 1024\n8:16 Sync 1536\n8:16 Async 0\n8:16 Total 1536\nTotal "
      "1536\n");
  put(dir("blkio") / "blkio.io_serviced_recursive",
      "8:16 Read 1\n8:16 Write 2\n8:16 Sync 3\n8:16 Async 0\n8:16 Total 3\nTotal 3\n");
  auto stats = read_stats(layout_, kContainer, dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->blkio_read_bytes, 512u);
  EXPECT_EQ(stats->blkio_write_bytes, 1024u);
  EXPECT_EQ(stats->blkio_read_ops, 1u);
  EXPECT_EQ(stats->blkio_write_ops, 2u);
  EXPECT_FALSE(stats->memory_usage_bytes);

  // A cgroup that never did I/O prints only the total line.
  put(dir("blkio") / "blkio.throttle.io_service_bytes", "Total 0\n");
  stats = read_stats(layout_, kContainer, dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->blkio_read_bytes, 0u);
  EXPECT_EQ(stats->blkio_write_bytes, 0u);
  EXPECT_EQ(stats->blkio_read_ops, 1u);  // the ops file still comes from the CFQ fallback
}

TEST_F(V1Fixture, MalformedNumbersNameTheFile) {
  write_full_tree();
  struct Row {
    std::string_view file;
    std::string_view content;
    std::string_view shown;
  };
  const Row rows[] = {
      {"memory/memory.usage_in_bytes", "12ab\n", "12ab"},
      {"memory/memory.limit_in_bytes", "-1\n", "-1"},
      {"cpuacct/cpuacct.usage", "\n", "\"\""},
      {"cpu/cpu.stat", "nr_periods 1\nnr_throttled x7\n", "x7"},
      {"memory/memory.stat", "total_cache 1 2\n", "total_cache 1 2"},
      {"pids/pids.max", "unlimited\n", "unlimited"},
      {"blkio/blkio.throttle.io_service_bytes_recursive", "8:0 Read\n", "8:0 Read"},
      {"blkio/blkio.throttle.io_serviced_recursive", "8:0 Write 1e3\n", "1e3"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.file);
    fs::path target = dir_.path() / "sys/fs/cgroup" / fs::path(row.file).parent_path() /
                      fs::path(kContainer).relative_path() / fs::path(row.file).filename();
    auto original = read_file(target);
    ASSERT_TRUE(original);
    put(target, row.content);
    auto stats = read_stats(layout_, kContainer, dir_.path());
    ASSERT_FALSE(stats);
    EXPECT_EQ(stats.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(stats.error().message, HasSubstr(target.string()));
    EXPECT_THAT(stats.error().message, HasSubstr(row.shown));
    EXPECT_THAT(stats.error().message, HasSubstr(std::string(kContainer)));
    put(target, *original);
  }
}

TEST_F(V1Fixture, MissingCgroupIsNotFound) {
  write_full_tree();
  auto stats = read_stats(layout_, "/zlayer/gone-rep-9", dir_.path());
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, Errc::kNotFound);
  EXPECT_THAT(stats.error().message, HasSubstr("/zlayer/gone-rep-9"));
  EXPECT_THAT(stats.error().message,
              HasSubstr((dir_.path() / "sys/fs/cgroup/memory/zlayer/gone-rep-9").string()));

  auto oom = read_oom_kill_count(layout_, "/zlayer/gone-rep-9", dir_.path());
  ASSERT_FALSE(oom);
  EXPECT_EQ(oom.error().code, Errc::kNotFound);

  EXPECT_TRUE(cgroup_exists(layout_, kContainer, dir_.path()));
  EXPECT_FALSE(cgroup_exists(layout_, "/zlayer/gone-rep-9", dir_.path()));
}

TEST_F(V1Fixture, RelativeAndDottedPaths) {
  write_full_tree();
  // A cgroupsPath without the leading slash names the same cgroup.
  auto stats = read_stats(layout_, "zlayer/web-rep-1", dir_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pids_current, 3u);

  for (std::string_view bad : {"/zlayer/../etc", "/zlayer/./web-rep-1", ".."}) {
    SCOPED_TRACE(bad);
    auto refused = read_stats(layout_, bad, dir_.path());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(refused.error().message, HasSubstr(std::string(bad)));
    EXPECT_FALSE(remove_cgroup(layout_, bad, dir_.path()));
    EXPECT_FALSE(cgroup_exists(layout_, bad, dir_.path()));
  }
}

TEST_F(V1Fixture, RemoveTakesChildCgroupsInEveryHierarchy) {
  // Empty directories stand in for cgroups (a real cgroupfs directory has only kernel files,
  // which go with rmdir; a fixture's regular files would not).
  for (std::string_view controller : {"memory", "cpu", "pids", "systemd", "unified"}) {
    ASSERT_TRUE(make_dirs(dir(controller) / "nested/deeper"));
  }
  ASSERT_TRUE(make_dirs(dir_.path() / "sys/fs/cgroup/memory/zlayer/web-rep-2"));
  ASSERT_TRUE(cgroup_exists(layout_, kContainer, dir_.path()));

  auto removed = remove_cgroup(layout_, kContainer, dir_.path());
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_FALSE(cgroup_exists(layout_, kContainer, dir_.path()));
  for (std::string_view controller : {"memory", "cpu", "pids", "systemd", "unified"}) {
    EXPECT_FALSE(fs::exists(dir(controller))) << controller;
  }
  EXPECT_TRUE(fs::exists(dir_.path() / "sys/fs/cgroup/memory/zlayer/web-rep-2"));

  // Gone already: still success.
  EXPECT_TRUE(remove_cgroup(layout_, kContainer, dir_.path()));

  auto root = remove_cgroup(layout_, "/", dir_.path());
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error().code, Errc::kInvalidArgument);
}

// ---------------------------------------------------------------- v2 fixtures

class V2Fixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto layout = parse_cgroup_layout(kV2Mountinfo);
    ASSERT_TRUE(layout);
    layout_ = *layout;
    dir_ = tmp_.path() / "sys/fs/cgroup" / fs::path(kContainer).relative_path();
  }
  void write_full_tree() {
    put(dir_ / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    put(dir_ / "cpu.stat",
        "usage_usec 1500321\nuser_usec 1000200\nsystem_usec 500121\ncore_sched.force_idle_usec 0\n"
        "nr_periods 40\nnr_throttled 5\nthrottled_usec 12345\nnr_bursts 0\nburst_usec 0\n");
    put(dir_ / "memory.current", "31457280\n");
    put(dir_ / "memory.max", "134217728\n");
    put(dir_ / "memory.stat",
        "anon 20971520\nfile 8388608\nkernel 1048576\nkernel_stack 49152\npagetables 131072\n"
        "sec_pagetables 0\npercpu 0\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\n"
        "file_mapped 2097152\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\n"
        "file_thp 0\nshmem_thp 0\ninactive_anon 0\nactive_anon 20971520\n"
        "inactive_file 6291456\nactive_file 2097152\nunevictable 0\nslab_reclaimable 524288\n"
        "slab_unreclaimable 262144\nslab 786432\nworkingset_refault_anon 0\n"
        "workingset_refault_file 0\npgfault 9000\npgmajfault 0\n");
    put(dir_ / "memory.events", "low 0\nhigh 0\nmax 14\noom 1\noom_kill 1\noom_group_kill 0\n");
    put(dir_ / "pids.current", "4\n");
    put(dir_ / "pids.max", "max\n");
    put(dir_ / "io.stat",
        "259:0 rbytes=1048576 wbytes=65536 rios=20 wios=4 dbytes=0 dios=0\n"
        "253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
  }

  testing::TempDir tmp_;
  fs::path dir_;
  CgroupLayout layout_;
};

TEST_F(V2Fixture, ReadsEveryCounter) {
  write_full_tree();
  auto stats = read_stats(layout_, kContainer, tmp_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  CgroupStats expected;
  expected.cpu_usage_ns = 1500321000;
  expected.cpu_user_ns = 1000200000;
  expected.cpu_system_ns = 500121000;
  expected.cpu_periods = 40;
  expected.throttled_periods = 5;
  expected.throttled_ns = 12345000;
  expected.memory_usage_bytes = 31457280;
  expected.memory_limit_bytes = 134217728;
  expected.memory_cache_bytes = 8388608;
  expected.memory_inactive_file_bytes = 6291456;
  expected.memory_working_set_bytes = 31457280 - 6291456;
  expected.oom_kill_count = 1;
  expected.pids_current = 4;
  expected.blkio_read_bytes = 1052672;
  expected.blkio_write_bytes = 65536;
  expected.blkio_read_ops = 21;
  expected.blkio_write_ops = 4;
  EXPECT_EQ(*stats, expected);  // pids_limit empty: "max"

  auto oom = read_oom_kill_count(layout_, kContainer, tmp_.path());
  ASSERT_TRUE(oom) << oom.error().message;
  EXPECT_EQ(*oom, 1);
}

TEST_F(V2Fixture, MaxMemoryAndEmptyIoStat) {
  write_full_tree();
  put(dir_ / "memory.max", "max\n");
  put(dir_ / "pids.max", "256\n");
  put(dir_ / "io.stat", "");
  auto stats = read_stats(layout_, kContainer, tmp_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_FALSE(stats->memory_limit_bytes);
  EXPECT_EQ(stats->memory_usage_bytes, 31457280u);
  EXPECT_EQ(stats->pids_limit, 256u);
  EXPECT_EQ(stats->blkio_read_bytes, 0u);
  EXPECT_EQ(stats->blkio_write_ops, 0u);
}

TEST_F(V2Fixture, DisabledControllersLeaveFieldsEmpty) {
  // A cgroup whose parent enables no controller in cgroup.subtree_control: only the core files,
  // and cpu.stat without the throttling keys.
  put(dir_ / "cgroup.controllers", "");
  put(dir_ / "cpu.stat", "usage_usec 700\nuser_usec 500\nsystem_usec 200\n");
  auto stats = read_stats(layout_, kContainer, tmp_.path());
  ASSERT_TRUE(stats) << stats.error().message;
  CgroupStats expected;
  expected.cpu_usage_ns = 700000;
  expected.cpu_user_ns = 500000;
  expected.cpu_system_ns = 200000;
  EXPECT_EQ(*stats, expected);

  auto oom = read_oom_kill_count(layout_, kContainer, tmp_.path());
  ASSERT_FALSE(oom);
  EXPECT_EQ(oom.error().code, Errc::kUnsupported);
}

TEST_F(V2Fixture, MalformedNumbersNameTheFile) {
  write_full_tree();
  struct Row {
    std::string_view file;
    std::string_view content;
    std::string_view shown;
  };
  const Row rows[] = {
      {"memory.current", "lots\n", "lots"},
      {"memory.max", "maximum\n", "maximum"},
      {"cpu.stat", "usage_usec 18446744073709551616\n", "18446744073709551616"},
      {"memory.events", "oom_kill -1\n", "-1"},
      {"io.stat", "259:0 rbytes=12x wbytes=0 rios=0 wios=0\n", "12x"},
      {"io.stat", "259:0 rbytes\n", "259:0 rbytes"},
      {"pids.current", "4 5\n", "4 5"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(fmt::format("{}: {}", row.file, row.content));
    auto original = read_file(dir_ / row.file);
    ASSERT_TRUE(original);
    put(dir_ / row.file, row.content);
    auto stats = read_stats(layout_, kContainer, tmp_.path());
    ASSERT_FALSE(stats);
    EXPECT_EQ(stats.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(stats.error().message, HasSubstr((dir_ / row.file).string()));
    EXPECT_THAT(stats.error().message, HasSubstr(row.shown));
    put(dir_ / row.file, *original);
  }
}

TEST_F(V2Fixture, MissingCgroupIsNotFound) {
  auto stats = read_stats(layout_, kContainer, tmp_.path());
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, Errc::kNotFound);
  EXPECT_THAT(stats.error().message, HasSubstr(std::string(kContainer)));
  EXPECT_FALSE(cgroup_exists(layout_, kContainer, tmp_.path()));
}

TEST(CgroupStatsTest, HybridUsesV2ForControllersV1DoesNotHave) {
  // This machine's layout, with pids and memory not mounted as v1 but enabled in the cgroup2
  // mount: those come from v2 files, the rest from v1.
  std::string mountinfo;
  for (auto line : {"32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
                    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct",
                    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw"}) {
    mountinfo += fmt::format("{}\n", line);
  }
  auto layout = parse_cgroup_layout(mountinfo);
  ASSERT_TRUE(layout);
  testing::TempDir tmp;
  fs::path cgroup = "sys/fs/cgroup";
  fs::path container = fs::path(kContainer).relative_path();
  put(tmp.path() / cgroup / "cpuacct" / container / "cpuacct.usage", "5000\n");
  put(tmp.path() / cgroup / "unified" / container / "pids.current", "2\n");
  put(tmp.path() / cgroup / "unified" / container / "pids.max", "10\n");
  put(tmp.path() / cgroup / "unified" / container / "memory.current", "8192\n");
  auto stats = read_stats(*layout, kContainer, tmp.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->cpu_usage_ns, 5000u);
  EXPECT_EQ(stats->pids_current, 2u);
  EXPECT_EQ(stats->pids_limit, 10u);
  EXPECT_EQ(stats->memory_usage_bytes, 8192u);
  EXPECT_FALSE(stats->throttled_periods);
}

// ---------------------------------------------------------------- real v1 cgroup (root)

constexpr std::string_view kBusybox = "/bin/busybox";

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}
constexpr std::array<std::string_view, 5> kRealControllers = {"memory", "cpu", "cpuacct", "pids",
                                                              "blkio"};

// A cgroup /zlayer-test-<pid>-<random> in the v1 hierarchies of kRealControllers, holding one
// busybox sh started by start(). The destructor kills what it started (by pid) and removes the
// cgroup, so a failed assertion leaves nothing behind.
class RealV1Cgroup {
 public:
  explicit RealV1Cgroup(CgroupLayout layout) : layout_(std::move(layout)) {
    std::random_device random;
    path_ = fmt::format("/zlayer-test-{}-{:08x}", ::getpid(), random());
  }
  ~RealV1Cgroup() {
    stop();
    (void)remove_cgroup(layout_, path_);
  }

  [[nodiscard]] const std::string& path() const { return path_; }

  Status create() {
    for (const auto& dir : dirs()) {
      if (::mkdir(dir.c_str(), 0755) != 0)
        return sys_error(fmt::format("mkdir {}", dir.string()), errno);
    }
    return {};
  }

  Status write(std::string_view controller, std::string_view file, std::string_view value) {
    fs::path target =
        layout_.v1_hierarchy(controller)->mount_point / fs::path(path_).relative_path() / file;
    UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) return sys_error(fmt::format("opening {}", target.string()), errno);
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
      return sys_error(fmt::format("writing {} to {}", value, target.string()), errno);
    }
    return {};
  }

  // Forks a child that joins the cgroup (the parent writes its pid to cgroup.procs of every
  // hierarchy before letting it exec) and runs `script` under busybox sh with stdin on a pipe the
  // parent holds open. Returns what the script printed up to its first line ("" on EOF).
  Result<std::string> start(const std::string& script) {
    int go[2];
    int out[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
      return sys_error("pipe2", errno);
    std::string program(kBusybox);
    std::vector<std::string> args = {"busybox", "sh", "-c", script};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return sys_error("fork", errno);
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      char byte;
      if (::read(go[0], &byte, 1) != 1) ::_exit(120);
      if (::dup2(go[0], 0) < 0 || ::dup2(out[1], 1) < 0) ::_exit(121);
      ::execv(program.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(go[0]);
    ::close(out[1]);
    go_.reset(go[1]);
    out_.reset(out[0]);
    for (const auto& dir : dirs()) {
      UniqueFd fd(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
      std::string pid_text = std::to_string(pid_);
      if (!fd.valid() || ::write(fd.get(), pid_text.data(), pid_text.size()) < 0) {
        return sys_error(fmt::format("moving pid {} into {}", pid_, dir.string()), errno);
      }
    }
    if (::write(go_.get(), "g", 1) != 1) return sys_error("releasing the child", errno);
    std::string line;
    char c;
    while (::read(out_.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
    return line;
  }

  // Waits for the child to end on its own; returns its wait status.
  int wait() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) pid_ = -1;
    return status;
  }

  // Kills the child, and any process it left in the cgroup (a pipeline stage orphaned by an
  // OOM kill), by pid.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    for (const auto& dir : dirs()) {
      auto procs = read_file(dir / "cgroup.procs");
      if (!procs) continue;
      for (auto& line : split_lines(*procs)) {
        if (!line.empty()) ::kill(static_cast<pid_t>(std::stol(line)), SIGKILL);
      }
    }
    go_.reset();
    out_.reset();
  }

 private:
  std::vector<fs::path> dirs() const {
    std::set<fs::path> unique;
    for (auto controller : kRealControllers) {
      unique.insert(layout_.v1_hierarchy(controller)->mount_point /
                    fs::path(path_).relative_path());
    }
    return {unique.begin(), unique.end()};
  }

  CgroupLayout layout_;
  std::string path_;
  pid_t pid_ = -1;
  UniqueFd go_;
  UniqueFd out_;
};

class RealV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (creates cgroups)";
    if (!fs::exists(kBusybox)) GTEST_SKIP() << "needs busybox-static";
    auto layout = detect_cgroup_layout();
    ASSERT_TRUE(layout) << layout.error().message;
    for (auto controller : kRealControllers) {
      if (layout->v1_hierarchy(controller) == nullptr)
        GTEST_SKIP() << "needs the v1 " << controller << " controller (layout "
                     << cgroup_mode_name(layout->mode) << ")";
    }
    layout_ = *layout;
  }
  CgroupLayout layout_;
};

TEST_F(RealV1Test, StatsOfABusyboxChild) {
  std::string path;
  {
    RealV1Cgroup cgroup(layout_);
    path = cgroup.path();
    ASSERT_TRUE(cgroup.create());
    ASSERT_TRUE(cgroup_exists(layout_, path));
    ASSERT_TRUE(cgroup.write("memory", "memory.limit_in_bytes", "67108864"));
    ASSERT_TRUE(cgroup.write("pids", "pids.max", "32"));

    // Some CPU work, ~7 MB held in a shell variable, a file written; then wait on stdin.
    auto ready = cgroup.start(
        "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; x=$(seq 1 1000000); "
        "echo ${#x} > /dev/null; echo ready; read line");
    ASSERT_TRUE(ready) << ready.error().message;
    ASSERT_EQ(*ready, "ready");

    auto stats = read_stats(layout_, path);
    ASSERT_TRUE(stats) << stats.error().message;
    ASSERT_TRUE(stats->cpu_usage_ns);
    EXPECT_GT(*stats->cpu_usage_ns, 0u);
    EXPECT_TRUE(stats->cpu_user_ns);
    EXPECT_TRUE(stats->cpu_system_ns);
    EXPECT_TRUE(stats->throttled_periods);  // no quota set: 0, but the file is there
    ASSERT_TRUE(stats->memory_usage_bytes);
    EXPECT_GT(*stats->memory_usage_bytes, 1'000'000u);
    EXPECT_EQ(stats->memory_limit_bytes, 67108864u);
    EXPECT_TRUE(stats->memory_cache_bytes);
    EXPECT_TRUE(stats->memory_working_set_bytes);
    EXPECT_EQ(stats->oom_kill_count, 0u);
    ASSERT_TRUE(stats->pids_current);
    EXPECT_GE(*stats->pids_current, 1u);
    EXPECT_EQ(stats->pids_limit, 32u);
    EXPECT_TRUE(stats->blkio_read_bytes);
    EXPECT_TRUE(stats->blkio_write_ops);

    auto oom = read_oom_kill_count(layout_, path);
    ASSERT_TRUE(oom) << oom.error().message;
    EXPECT_EQ(*oom, 0);

    cgroup.stop();
    auto removed = remove_cgroup(layout_, path);
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_FALSE(cgroup_exists(layout_, path));
  }
  EXPECT_FALSE(cgroup_exists(layout_, path));
}

TEST_F(RealV1Test, OomKillIsCounted) {
  RealV1Cgroup cgroup(layout_);
  ASSERT_TRUE(cgroup.create());
  ASSERT_TRUE(cgroup.write("memory", "memory.limit_in_bytes", "16777216"));
  // ~69 MB into a shell variable under a 16 MiB limit (no swap on these machines).
  auto ready = cgroup.start("echo ready; x=$(seq 1 10000000); echo survived");
  ASSERT_TRUE(ready) << ready.error().message;
  ASSERT_EQ(*ready, "ready");
  int status = cgroup.wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  auto oom = read_oom_kill_count(layout_, cgroup.path());
  ASSERT_TRUE(oom) << oom.error().message;
  EXPECT_GE(*oom, 1);
  auto stats = read_stats(layout_, cgroup.path());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->oom_kill_count, static_cast<std::uint64_t>(*oom));

  cgroup.stop();
  ASSERT_TRUE(remove_cgroup(layout_, cgroup.path()));
  EXPECT_FALSE(cgroup_exists(layout_, cgroup.path()));
}

}  // namespace
}  // namespace zlayer::runtime::linux
