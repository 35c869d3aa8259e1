// Persistent network namespaces: created, pinned by path, lo up inside, deleted idempotently.
#include "runtime/linux/netns.h"

#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "core/fs.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

ino_t namespace_inode(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare, mount)";
  }
  zlayer::testing::TempDir temp_;
};

TEST_F(NetnsTest, CreatesAPinnedNamespaceWithLoopbackUpAndDeletesIt) {
  const auto path = container_netns_path(temp_.paths(), "web-rep-1");
  EXPECT_EQ(path, temp_.paths().runtime_dir / "netns" / "web-rep-1");
  ASSERT_TRUE(create_netns(path)) << path;
  ASSERT_TRUE(is_netns(path));
  // A namespace of its own: neither ours nor the host's.
  EXPECT_NE(namespace_inode(path), namespace_inode("/proc/thread-self/ns/net"));
  EXPECT_NE(namespace_inode(path), namespace_inode("/proc/1/ns/net"));
  // And this thread did not move.
  EXPECT_EQ(namespace_inode("/proc/thread-self/ns/net"), namespace_inode("/proc/self/ns/net"));

  ino_t seen_inside = 0;
  short lo_flags = 0;
  ASSERT_TRUE(run_in_netns(path, [&]() -> Status {
    seen_inside = namespace_inode("/proc/thread-self/ns/net");
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq request {};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &request) != 0) return sys_error("SIOCGIFFLAGS", errno);
    lo_flags = request.ifr_flags;
    return {};
  }));
  EXPECT_EQ(seen_inside, namespace_inode(path));
  EXPECT_TRUE(lo_flags & IFF_UP);

  auto again = create_netns(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);

  ASSERT_TRUE(delete_netns(path));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(is_netns(path));
  EXPECT_TRUE(delete_netns(path)) << "second delete is fine";
}

TEST_F(NetnsTest, ReusesALeftoverPlainFile) {
  const auto path = temp_.path() / "netns" / "c1";
  ASSERT_TRUE(make_dirs(path.parent_path()));
  ASSERT_TRUE(atomic_write_file(path, ""));
  EXPECT_FALSE(is_netns(path));
  EXPECT_TRUE(delete_netns(path)) << "a plain file is not mounted: just removed";
  ASSERT_TRUE(atomic_write_file(path, ""));
  ASSERT_TRUE(create_netns(path));
  EXPECT_TRUE(is_netns(path));
  ASSERT_TRUE(delete_netns(path));
}

TEST_F(NetnsTest, RunInNetnsRefusesWhatIsNotANamespace) {
  const auto file = temp_.path() / "plain";
  ASSERT_TRUE(atomic_write_file(file, ""));
  auto entered = run_in_netns(file, [] { return Status(); });
  ASSERT_FALSE(entered);
  EXPECT_EQ(entered.error().code, Errc::kInvalidArgument);
  auto missing = run_in_netns(temp_.path() / "missing", [] { return Status(); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
}

}  // namespace
}  // namespace zlayer::runtime::linux
