#include "image/rootfs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/fs.h"
#include "image/manifest.h"
#include "image/snapshot.h"
#include "image/unpack.h"
#include "support/tar_builder.h"
#include "support/temp_dir.h"
#include "support/tree_listing.h"

namespace zlayer::image {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::TarBuilder;

bool mounted(const std::filesystem::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (mount_point == path.string()) return true;
  }
  return false;
}

// Unmounts on destruction, so a failing test never leaves a mount behind.
class MountGuard {
 public:
  explicit MountGuard(std::filesystem::path container_dir) : dir_(std::move(container_dir)) {}
  ~MountGuard() {
    if (auto ok = unmount_rootfs(dir_); !ok) ADD_FAILURE() << ok.error().message;
  }
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;

 private:
  std::filesystem::path dir_;
};

class RootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (overlayfs, trusted.* xattrs, mknod)";
  }

  // Unpacks a layer into the snapshot store and returns its fs directory.
  std::filesystem::path layer(const TarBuilder& builder) {
    auto tar = builder.tar();
    auto blob = tmp_.path() / "blob";
    EXPECT_TRUE(atomic_write_file(blob, tar));
    auto fs_dir =
        store_.ensure(sha256_of(tar), [&](const std::filesystem::path& dir) -> Result<Digest> {
          ZLAYER_TRY(stats, unpack_layer(dir, blob, media_type::kOciLayer, "test-layer"));
          return stats.diff_id;
        });
    EXPECT_TRUE(fs_dir) << fs_dir.error().message;
    return fs_dir.value_or(std::filesystem::path());
  }

  std::vector<std::filesystem::path> whiteout_stack() {
    testing::TarEntryOptions suid{.mode = 04755, .uid = 0, .gid = 0, .mtime = 1234567890};
    testing::TarEntryOptions owned{.mode = 0640,
                                   .uid = 1000,
                                   .gid = 1001,
                                   .mtime = 1300000000,
                                   .xattrs = {{"user.origin", "base"}}};
    auto bottom = layer(TarBuilder()
                            .dir("a")
                            .file("a/keep", "k")
                            .file("a/gone", "g")
                            .dir("opq")
                            .file("opq/old1", "1")
                            .dir("opq/olddir")
                            .file("opq/olddir/x", "x")
                            .dir("o2")
                            .file("o2/old", "o")
                            .dir("re")
                            .file("re/old", "r")
                            .file("f", "f1")
                            .dir("wd")
                            .file("wd/x", "x")
                            .dir("bin")
                            .file("bin/su", "su", suid)
                            .hardlink("bin/su2", "bin/su")
                            .file("home", "h", owned)
                            .symlink("lnk", "a/keep", {.mtime = 1200000000})
                            .fifo("pipe")
                            .char_device("null", 1, 3, {.mode = 0666})
                            .file("top1", "t")
                            .hardlink("top2", "top1"));
    auto middle = layer(TarBuilder()
                            .whiteout("f")
                            .whiteout("a/gone")
                            .opaque("opq")
                            .dir("opq")
                            .file("opq/new", "n")
                            .whiteout("re")
                            .dir("re")
                            .file("re/new", "n")
                            .whiteout("wd"));
    auto top = layer(TarBuilder().dir("o2").file("o2/new3", "3").opaque("o2").file("f", "f3"));
    return {bottom, middle, top};
  }

  static std::vector<std::string> expected_merged() {
    return {"a d0755 0:0",
            "a/keep f0644 0:0 = \"k\"",
            "bin d0755 0:0",
            "bin/su f4755 0:0 = \"su\"",
            "bin/su2 f4755 0:0 = \"su\"",
            "f f0644 0:0 = \"f3\"",
            "home f0640 1000:1001 = \"h\"",
            "lnk l0777 0:0 -> a/keep",
            "null c0666 0:0 dev 1:3",
            "o2 d0755 0:0",
            "o2/new3 f0644 0:0 = \"3\"",
            "opq d0755 0:0",
            "opq/new f0644 0:0 = \"n\"",
            "pipe p0644 0:0",
            "re d0755 0:0",
            "re/new f0644 0:0 = \"n\"",
            "top1 f0644 0:0 = \"t\"",
            "top2 f0644 0:0 = \"t\""};
  }

  testing::TempDir tmp_;
  SnapshotStore store_ = SnapshotStore::from_paths(tmp_.paths());
};

TEST_F(RootfsTest, OverlayShowsTheMergedLayers) {
  auto layers = whiteout_stack();
  auto container = tmp_.path() / "c1";
  MountGuard guard(container);
  auto rootfs = mount_rootfs(layers, container);
  ASSERT_TRUE(rootfs) << rootfs.error().message;
  EXPECT_EQ(rootfs->mode, RootfsMode::kOverlay);
  EXPECT_EQ(rootfs->rootfs, container / "rootfs");
  EXPECT_TRUE(mounted(container / "rootfs"));
  EXPECT_THAT(testing::list_tree(rootfs->rootfs), ElementsAreArray(expected_merged()));

  // Writes land in upper/, the shared snapshots stay as they were.
  auto bottom_before = testing::list_tree(layers[0]);
  ASSERT_TRUE(atomic_write_file(rootfs->rootfs / "a" / "written", "w"));
  std::filesystem::remove(rootfs->rootfs / "a" / "keep");
  EXPECT_EQ(testing::list_tree(layers[0]), bottom_before);
  EXPECT_TRUE(std::filesystem::exists(container / "upper" / "a" / "written"));

  auto again = mount_rootfs(layers, container);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kFailedPrecondition);
}

TEST_F(RootfsTest, CopyFallbackGivesTheSameTree) {
  auto layers = whiteout_stack();
  auto overlay_dir = tmp_.path() / "ov";
  auto copy_dir = tmp_.path() / "cp";
  MountGuard guard(overlay_dir);
  auto overlay = mount_rootfs(layers, overlay_dir);
  ASSERT_TRUE(overlay) << overlay.error().message;
  auto copy = mount_rootfs(layers, copy_dir, {.force_copy = true});
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(copy->mode, RootfsMode::kCopy);
  EXPECT_FALSE(mounted(copy_dir / "rootfs"));

  testing::ListingOptions with_times;
  with_times.mtimes = true;
  auto merged = testing::list_tree(overlay->rootfs, with_times);
  EXPECT_EQ(testing::list_tree(copy->rootfs, with_times), merged);
  EXPECT_THAT(testing::list_tree(copy->rootfs), ElementsAreArray(expected_merged()));

  struct stat su {
  }, su2{};
  ASSERT_EQ(::lstat((copy->rootfs / "bin/su").c_str(), &su), 0);
  ASSERT_EQ(::lstat((copy->rootfs / "bin/su2").c_str(), &su2), 0);
  EXPECT_EQ(su.st_ino, su2.st_ino);
  ASSERT_EQ(::lstat((copy->rootfs / "top1").c_str(), &su), 0);
  ASSERT_EQ(::lstat((copy->rootfs / "top2").c_str(), &su2), 0);
  EXPECT_EQ(su.st_ino, su2.st_ino);
  char value[8] = {};
  EXPECT_EQ(::getxattr((copy->rootfs / "home").c_str(), "user.origin", value, sizeof value), 4);
  EXPECT_EQ(
      ::getxattr((copy->rootfs / "opq").c_str(), "trusted.overlay.opaque", value, sizeof value),
      -1);

  ASSERT_TRUE(unmount_rootfs(copy_dir, true));
  EXPECT_FALSE(std::filesystem::exists(copy_dir / "rootfs"));
}

TEST_F(RootfsTest, SingleLayerStillGetsAWritableOverlay) {
  auto only = layer(TarBuilder().file("hello", "hi"));
  auto container = tmp_.path() / "single";
  MountGuard guard(container);
  auto rootfs = mount_rootfs({only}, container);
  ASSERT_TRUE(rootfs) << rootfs.error().message;
  EXPECT_EQ(rootfs->mode, RootfsMode::kOverlay);
  ASSERT_TRUE(atomic_write_file(rootfs->rootfs / "new", "n"));
  EXPECT_THAT(testing::list_tree(rootfs->rootfs),
              ElementsAre("hello f0644 0:0 = \"hi\"", "new f0644 0:0 = \"n\""));
  EXPECT_THAT(testing::list_tree(only), ElementsAre("hello f0644 0:0 = \"hi\""));
}

// 50 layers: the absolute lowerdir= string exceeds a page, so fsconfig "lowerdir+" (one call per
// layer) and the relative mount(2) from a child process must both cope.
TEST_F(RootfsTest, ManyLayersFitWithBothMountApis) {
  std::vector<std::filesystem::path> layers;
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) {
    auto name = fmt::format("f{:02}", i);
    layers.push_back(layer(TarBuilder().file(name, std::to_string(i)).file("top", name)));
    expected.push_back(fmt::format("{} f0644 0:0 = \"{}\"", name, i));
  }
  expected.push_back("top f0644 0:0 = \"f49\"");
  for (bool legacy : {false, true}) {
    SCOPED_TRACE(legacy ? "mount(2)" : "fsconfig");
    auto container = tmp_.path() / (legacy ? "legacy" : "new");
    MountGuard guard(container);
    auto rootfs = mount_rootfs(layers, container, {.force_legacy_mount = legacy});
    ASSERT_TRUE(rootfs) << rootfs.error().message;
    EXPECT_EQ(rootfs->mode, RootfsMode::kOverlay);
    EXPECT_THAT(testing::list_tree(rootfs->rootfs), ElementsAreArray(expected));
  }
}

TEST_F(RootfsTest, UnmountIsIdempotentAndLeavesNoMount) {
  auto only = layer(TarBuilder().file("x", "x"));
  auto container = tmp_.path() / "c";
  {
    MountGuard guard(container);
    ASSERT_TRUE(mount_rootfs({only}, container));
    ASSERT_TRUE(mounted(container / "rootfs"));
    ASSERT_TRUE(unmount_rootfs(container));
    EXPECT_FALSE(mounted(container / "rootfs"));
    EXPECT_TRUE(unmount_rootfs(container));
    ASSERT_TRUE(unmount_rootfs(container, true));
  }
  EXPECT_FALSE(mounted(container / "rootfs"));
  EXPECT_FALSE(std::filesystem::exists(container / "rootfs"));
  EXPECT_FALSE(std::filesystem::exists(container / "upper"));
  EXPECT_FALSE(std::filesystem::exists(container / "work"));
  EXPECT_TRUE(unmount_rootfs(tmp_.path() / "never-made", true));
}

}  // namespace
}  // namespace zlayer::image
