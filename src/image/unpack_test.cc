#include "image/unpack.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/fs.h"
#include "image/manifest.h"
#include "support/tar_builder.h"
#include "support/temp_dir.h"
#include "support/tree_listing.h"

namespace zlayer::image {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TarBuilder;
using testing::TarCompression;

constexpr std::string_view kLayerName = "sha256:ab12cd34ef56";

// base/x/y/snap is the snapshot; base/x/y/outside holds sentinels that hostile entries aim at,
// and the whole of base (minus the snapshot) must be identical after every unpack.
class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    snap_ = tmp_.path() / "x" / "y" / "snap";
    outside_ = tmp_.path() / "x" / "y" / "outside";
    ASSERT_TRUE(make_dirs(snap_));
    ASSERT_TRUE(make_dirs(outside_ / "dir"));
    ASSERT_TRUE(atomic_write_file(outside_ / "file", "sentinel", 0644));
    ASSERT_TRUE(atomic_write_file(outside_ / "dir" / "inner", "inner", 0600));
    before_ = outside_listing();
  }

  void TearDown() override {
    EXPECT_EQ(outside_listing(), before_) << "something outside the snapshot changed";
  }

  [[nodiscard]] std::vector<std::string> outside_listing() const {
    testing::ListingOptions options;
    options.mtimes = true;
    options.skip = "x/y/snap";
    auto listing = testing::list_tree(tmp_.path(), options);
    std::erase_if(listing, [](const std::string& line) { return line.starts_with("blob "); });
    return listing;
  }

  Result<LayerStats> unpack_blob(const std::string& blob,
                                 std::string_view media_type = media_type::kOciLayer) {
    auto path = tmp_.path() / "blob";
    EXPECT_TRUE(atomic_write_file(path, blob));
    return unpack_layer(snap_, path, media_type, kLayerName);
  }
  Result<LayerStats> unpack(const TarBuilder& builder) { return unpack_blob(builder.tar()); }

  [[nodiscard]] std::vector<std::string> tree() const { return testing::list_tree(snap_); }

  // Asserts a failed unpack: kInvalidArgument naming the layer and the entry.
  static void expect_escape(const Result<LayerStats>& result, std::string_view entry) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, Errc::kInvalidArgument) << result.error().message;
    EXPECT_THAT(result.error().message, HasSubstr(std::string(kLayerName)));
    EXPECT_THAT(result.error().message, HasSubstr(fmt::format("\"{}\"", entry)));
  }

  testing::TempDir tmp_;
  std::filesystem::path snap_;
  std::filesystem::path outside_;
  std::vector<std::string> before_;
};

bool is_root() { return ::geteuid() == 0; }

// ---- hostile layers -------------------------------------------------------------------------

TEST_F(UnpackTest, RejectsDotDotEscape) {
  auto result = unpack(TarBuilder().file("ok", "1").file("../escape", "x"));
  expect_escape(result, "../escape");
  EXPECT_THAT(result.error().message, HasSubstr("escapes the snapshot"));
  EXPECT_THAT(tree(), ElementsAre("ok f0644 0:0 = \"1\""));
}

TEST_F(UnpackTest, RejectsDotDotAfterDirectory) {
  expect_escape(unpack(TarBuilder().file("a/../../escape", "x")), "a/../../escape");
  EXPECT_THAT(tree(), IsEmpty());
}

TEST_F(UnpackTest, DotDotInsideTheRootIsFine) {
  ASSERT_TRUE(unpack(TarBuilder().dir("a").file("a/../b", "x").file("./c", "y")));
  EXPECT_THAT(tree(), ElementsAre("a d0755 0:0", "b f0644 0:0 = \"x\"", "c f0644 0:0 = \"y\""));
}

TEST_F(UnpackTest, RejectsAbsoluteName) {
  // Aimed at our own temp dir, so a failure of the defence would show in the outside listing.
  auto target = (tmp_.path() / "escaped-abs").string();
  expect_escape(unpack(TarBuilder().file(target, "x")), target);
  EXPECT_THAT(tree(), IsEmpty());
}

TEST_F(UnpackTest, RejectsWriteThroughAbsoluteSymlink) {
  auto name = "evil" + (tmp_.path() / "escaped").string();
  expect_escape(unpack(TarBuilder().symlink("evil", "/").file(name, "x")), name);
  EXPECT_THAT(tree(), ElementsAre("evil l0777 0:0 -> /"));
}

TEST_F(UnpackTest, RejectsWriteThroughRelativeSymlinkAboveRoot) {
  expect_escape(unpack(TarBuilder().symlink("evil", "../..").file("evil/x", "x")), "evil/x");
  EXPECT_THAT(tree(), ElementsAre("evil l0777 0:0 -> ../.."));
}

TEST_F(UnpackTest, RejectsHardlinkThroughSymlinkToOutside) {
  expect_escape(unpack(TarBuilder().symlink("s", "../outside").hardlink("h", "s/file")), "h");
  EXPECT_THAT(tree(), ElementsAre("s l0777 0:0 -> ../outside"));
}

TEST_F(UnpackTest, RejectsHardlinkClimbingOut) {
  expect_escape(unpack(TarBuilder().hardlink("h", "../outside/file")), "h");
  expect_escape(unpack(TarBuilder().hardlink("h", "../../outside/file")), "h");
  EXPECT_THAT(tree(), IsEmpty());
}

TEST_F(UnpackTest, RejectsHardlinkToAbsolutePath) {
  expect_escape(unpack(TarBuilder().hardlink("h", (outside_ / "file").string())), "h");
  EXPECT_THAT(tree(), IsEmpty());
  struct stat st {};
  ASSERT_EQ(::stat((outside_ / "file").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1U);
}

TEST_F(UnpackTest, RejectsSymlinkLoop) {
  auto result = unpack(TarBuilder().symlink("l1", "l2").symlink("l2", "l1").file("l1/x", "x"));
  expect_escape(result, "l1/x");
  EXPECT_THAT(tree(), ElementsAre("l1 l0777 0:0 -> l2", "l2 l0777 0:0 -> l1"));
}

TEST_F(UnpackTest, RejectsWriteThroughDirectoryReplacedBySymlink) {
  auto result =
      unpack(TarBuilder().dir("d").file("d/a", "a").symlink("d", "../outside").file("d/pwn", "x"));
  expect_escape(result, "d/pwn");
  EXPECT_THAT(tree(), ElementsAre("d l0777 0:0 -> ../outside"));
}

TEST_F(UnpackTest, FileReplacesSymlinkInsteadOfWritingThroughIt) {
  ASSERT_TRUE(unpack(TarBuilder().symlink("s", "../outside/file").file("s", "new")));
  EXPECT_THAT(tree(), ElementsAre("s f0644 0:0 = \"new\""));
}

TEST_F(UnpackTest, DirectoryEntryOverSymlinkDoesNotChmodTheTarget) {
  testing::TarEntryOptions hostile;
  hostile.mode = 0777;
  hostile.uid = 4242;
  hostile.gid = 4242;
  ASSERT_TRUE(unpack(TarBuilder()
                         .symlink("s", "../outside/dir")
                         .dir("s", hostile)
                         .symlink("f", "../outside/file")
                         .char_device("f", 1, 3, hostile)
                         .symlink("g", "../outside/file")
                         .fifo("g", hostile)));
  if (!is_root()) GTEST_SKIP() << "needs root";
  EXPECT_THAT(tree(),
              ElementsAre("f c0777 4242:4242 dev 1:3", "g p0777 4242:4242", "s d0777 4242:4242"));
}

TEST_F(UnpackTest, HardlinkToSymlinkLinksTheSymlinkItself) {
  ASSERT_TRUE(unpack(
      TarBuilder().symlink("s", "../outside/file").hardlink("h", "s").file("h", "replaced")));
  EXPECT_THAT(tree(), ElementsAre("h f0644 0:0 = \"replaced\"", "s l0777 0:0 -> ../outside/file"));
}

TEST_F(UnpackTest, RejectsDeviceNodeThroughSymlink) {
  expect_escape(unpack(TarBuilder().symlink("s", "../outside").char_device("s/null", 1, 3)),
                "s/null");
  EXPECT_THAT(tree(), ElementsAre("s l0777 0:0 -> ../outside"));
}

TEST_F(UnpackTest, RejectsWhiteoutThroughSymlink) {
  expect_escape(unpack(TarBuilder().symlink("s", "../outside").whiteout("s/file")), "s/.wh.file");
  expect_escape(unpack(TarBuilder().symlink("t", "../outside").opaque("t/dir")),
                "t/dir/.wh..wh..opq");
  EXPECT_THAT(tree(), ElementsAre("s l0777 0:0 -> ../outside", "t l0777 0:0 -> ../outside"));
}

// ---- whiteouts (overlay form) -----------------------------------------------------------------

TEST_F(UnpackTest, WhiteoutsBecomeOverlayWhiteouts) {
  if (!is_root()) GTEST_SKIP() << "needs root (trusted.* xattrs)";
  ASSERT_TRUE(unpack(TarBuilder()
                         .opaque("first")  // before its directory's entries
                         .dir("first")
                         .file("first/new", "n")
                         .dir("last")
                         .file("last/new", "n")
                         .opaque("last")  // after them
                         .whiteout("gone")
                         .dir("a")
                         .whiteout("a/b")
                         .file("kept", "k")
                         .whiteout("kept")  // same-layer file survives its whiteout
                         .whiteout("again")
                         .file("again", "a")  // ... in either order
                         .whiteout("redir")
                         .dir("redir")  // same-layer directory over a whiteout: opaque
                         .file("redir/x", "x")
                         .whiteout("deep/er/gone")));
  EXPECT_THAT(
      tree(),
      ElementsAre("a d0755 0:0", "a/b c0000 0:0 dev 0:0", "again f0644 0:0 = \"a\"",
                  "deep d0755 0:0", "deep/er d0755 0:0", "deep/er/gone c0000 0:0 dev 0:0",
                  "first d0755 0:0 opaque", "first/new f0644 0:0 = \"n\"", "gone c0000 0:0 dev 0:0",
                  "kept f0644 0:0 = \"k\"", "last d0755 0:0 opaque", "last/new f0644 0:0 = \"n\"",
                  "redir d0755 0:0 opaque", "redir/x f0644 0:0 = \"x\""));
}

TEST_F(UnpackTest, OverlayXattrsFromTheLayerAreDropped) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  testing::TarEntryOptions options;
  options.xattrs = {
      {"trusted.overlay.opaque", "y"}, {"trusted.overlay.redirect", "/etc"}, {"user.kept", "1"}};
  ASSERT_TRUE(unpack(TarBuilder().dir("d", options)));
  EXPECT_THAT(tree(), ElementsAre("d d0755 0:0"));
  char value[8] = {};
  EXPECT_EQ(::getxattr((snap_ / "d").c_str(), "trusted.overlay.redirect", value, sizeof value), -1);
  EXPECT_EQ(::getxattr((snap_ / "d").c_str(), "user.kept", value, sizeof value), 1);
}

// ---- metadata ---------------------------------------------------------------------------------

TEST_F(UnpackTest, KeepsOwnershipModesTimesXattrsAndLinks) {
  if (!is_root()) GTEST_SKIP() << "needs root";
  testing::TarEntryOptions suid{.mode = 04755, .uid = 0, .gid = 0, .mtime = 1234567890};
  testing::TarEntryOptions sgid_dir{.mode = 02775, .uid = 1000, .gid = 50, .mtime = 1111111111};
  testing::TarEntryOptions sticky{.mode = 01777, .mtime = 1000000001};
  testing::TarEntryOptions owned{.mode = 02640,
                                 .uid = 1000,
                                 .gid = 1001,
                                 .mtime = 1500000000,
                                 .xattrs = {{"user.origin", "layer"}}};
  testing::TarEntryOptions link{.uid = 7, .gid = 8, .mtime = 1222222222};
  testing::TarEntryOptions dir_x{.mtime = 1333333333, .xattrs = {{"user.dir", "yes"}}};
  ASSERT_TRUE(unpack(TarBuilder()
                         .hardlink("early", "late")  // forward reference
                         .dir("bin", sgid_dir)
                         .file("bin/su", "su", suid)
                         .dir("tmp", sticky)
                         .dir("x", dir_x)
                         .file("x/owned", "o", owned)
                         .symlink("x/link", "owned", link)
                         .hardlink("x/hard", "x/owned")
                         .file("late", "L")
                         .fifo("x/fifo")
                         .char_device("x/null", 1, 3, {.mode = 0666})));
  EXPECT_THAT(tree(), ElementsAre("bin d2775 1000:50", "bin/su f4755 0:0 = \"su\"",
                                  "early f0644 0:0 = \"L\"", "late f0644 0:0 = \"L\"",
                                  "tmp d1777 0:0", "x d0755 0:0", "x/fifo p0644 0:0",
                                  "x/hard f2640 1000:1001 = \"o\"", "x/link l0777 7:8 -> owned",
                                  "x/null c0666 0:0 dev 1:3", "x/owned f2640 1000:1001 = \"o\""));
  struct stat st {
  }, other{};
  ASSERT_EQ(::lstat((snap_ / "bin/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  ASSERT_EQ(::lstat((snap_ / "bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1111111111);  // after its child was written
  ASSERT_EQ(::lstat((snap_ / "x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1333333333);
  ASSERT_EQ(::lstat((snap_ / "x/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1222222222);
  ASSERT_EQ(::lstat((snap_ / "x/owned").c_str(), &st), 0);
  ASSERT_EQ(::lstat((snap_ / "x/hard").c_str(), &other), 0);
  EXPECT_EQ(st.st_ino, other.st_ino);
  EXPECT_EQ(st.st_nlink, 2U);
  ASSERT_EQ(::lstat((snap_ / "early").c_str(), &st), 0);
  ASSERT_EQ(::lstat((snap_ / "late").c_str(), &other), 0);
  EXPECT_EQ(st.st_ino, other.st_ino);
  char value[16] = {};
  ASSERT_EQ(::getxattr((snap_ / "x/owned").c_str(), "user.origin", value, sizeof value), 5);
  EXPECT_EQ(std::string(value, 5), "layer");
  ASSERT_EQ(::getxattr((snap_ / "x").c_str(), "user.dir", value, sizeof value), 3);
}

TEST_F(UnpackTest, MissingHardlinkTargetIsAnError) {
  auto result = unpack(TarBuilder().file("a", "a").hardlink("h", "nowhere"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(result.error().message, HasSubstr("\"nowhere\""));
  EXPECT_THAT(result.error().message, HasSubstr("\"h\""));
}

TEST_F(UnpackTest, ReplacesEntriesOfTheSameLayer) {
  ASSERT_TRUE(unpack(TarBuilder()
                         .dir("d")
                         .file("d/child", "c")
                         .file("d", "now a file")
                         .file("f", "old")
                         .dir("f")
                         .file("f/in", "i")
                         .dir("keep", {.mode = 0700})
                         .file("keep/x", "x")
                         .dir("keep", {.mode = 0750})));
  EXPECT_THAT(tree(),
              ElementsAre("d f0644 0:0 = \"now a file\"", "f d0755 0:0", "f/in f0644 0:0 = \"i\"",
                          "keep d0750 0:0", "keep/x f0644 0:0 = \"x\""));
}

TEST_F(UnpackTest, RootEntryUpdatesTheSnapshotRoot) {
  ASSERT_TRUE(unpack(TarBuilder().dir("./", {.mode = 0711, .mtime = 1400000000}).file("./a", "a")));
  struct stat st {};
  ASSERT_EQ(::stat(snap_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711U);
  EXPECT_EQ(st.st_mtim.tv_sec, 1400000000);
}

// ---- compression and stream errors ------------------------------------------------------------

TarBuilder small_layer() {
  return TarBuilder().dir("etc").file("etc/hostname", "box\n").symlink("link", "etc/hostname");
}

TEST_F(UnpackTest, DiffIdIsTheHashOfTheUncompressedStream) {
  auto tar = small_layer().tar();
  struct Case {
    TarCompression compression;
    std::string_view media_type;
  };
  for (auto [compression, type] :
       {Case{TarCompression::kNone, media_type::kOciLayer},
        Case{TarCompression::kGzip, media_type::kOciLayerGzip},
        Case{TarCompression::kZstd, media_type::kOciLayerZstd},
        Case{TarCompression::kGzip, media_type::kDockerLayerGzip},
        Case{TarCompression::kNone, "application/octet-stream"},
        Case{TarCompression::kGzip, "application/octet-stream"}, Case{TarCompression::kZstd, ""},
        Case{TarCompression::kNone, media_type::kOciLayerGzip}}) {  // mislabelled: magic wins
    SCOPED_TRACE(fmt::format("{} as {}", static_cast<int>(compression), type));
    // Empty the snapshot in place: re-creating it would touch its parent, an "outside" dir.
    for (const auto& entry : std::filesystem::directory_iterator(snap_)) {
      ASSERT_TRUE(remove_tree(entry.path()));
    }
    auto stats = unpack_blob(testing::compress(tar, compression), type);
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(stats->diff_id, sha256_of(tar));
    EXPECT_EQ(stats->uncompressed_bytes, static_cast<std::int64_t>(tar.size()));
    EXPECT_EQ(stats->entries, 3);
    EXPECT_THAT(tree(), ElementsAre("etc d0755 0:0", "etc/hostname f0644 0:0 = \"box\n\"",
                                    "link l0777 0:0 -> etc/hostname"));
  }
}

TEST_F(UnpackTest, TrailingBytesAfterTheEndMarkerCountInTheDiffId) {
  auto tar = small_layer().tar() + std::string(4096, '\0');
  auto stats = unpack_blob(tar);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->diff_id, sha256_of(tar));
}

TEST_F(UnpackTest, CorruptGzipIsInvalidArgument) {
  auto gz = small_layer().build(TarCompression::kGzip);
  for (std::size_t i = 20; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
  auto result = unpack_blob(gz, media_type::kOciLayerGzip);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kInvalidArgument) << result.error().message;
  EXPECT_THAT(result.error().message, HasSubstr(std::string(kLayerName)));
}

TEST_F(UnpackTest, TruncatedStreamsAreInvalidArgument) {
  auto tar = TarBuilder().file("big", std::string(100000, 'x')).tar();
  auto cut = unpack_blob(tar.substr(0, 30000));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, Errc::kInvalidArgument) << cut.error().message;
  EXPECT_THAT(cut.error().message, HasSubstr(std::string(kLayerName)));

  auto zst = testing::compress(tar, TarCompression::kZstd);
  auto cut_zst = unpack_blob(zst.substr(0, zst.size() / 2), media_type::kOciLayerZstd);
  ASSERT_FALSE(cut_zst);
  EXPECT_EQ(cut_zst.error().code, Errc::kInvalidArgument) << cut_zst.error().message;
}

TEST_F(UnpackTest, GarbageIsNotATar) {
  auto result = unpack_blob(std::string(3000, 'z'));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kInvalidArgument) << result.error().message;
}

TEST(UnpackSpaceTest, FullDiskIsResourceExhausted) {
  if (!is_root()) GTEST_SKIP() << "needs root (mounts a small tmpfs)";
  testing::TempDir tmp;
  auto small = tmp.path() / "small";
  ASSERT_TRUE(make_dirs(small));
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k"), 0) << std::strerror(errno);
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  auto blob = tmp.path() / "blob";
  ASSERT_TRUE(atomic_write_file(blob, TarBuilder().file("big", std::string(1 << 20, 'x')).tar()));
  auto result = unpack_layer(small, blob, media_type::kOciLayer, kLayerName);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Errc::kResourceExhausted) << result.error().message;
  EXPECT_THAT(result.error().message, HasSubstr("\"big\""));
}

TEST(CompressionTest, FromMediaTypeAndMagic) {
  EXPECT_EQ(compression_from_media_type(media_type::kOciLayerGzip), Compression::kGzip);
  EXPECT_EQ(compression_from_media_type(media_type::kDockerLayerGzip), Compression::kGzip);
  EXPECT_EQ(compression_from_media_type(media_type::kOciLayerNondistGzip), Compression::kGzip);
  EXPECT_EQ(compression_from_media_type(media_type::kOciLayerZstd), Compression::kZstd);
  EXPECT_EQ(compression_from_media_type(media_type::kOciLayer), Compression::kNone);
  EXPECT_EQ(compression_from_media_type("application/octet-stream"), Compression::kUnknown);
  EXPECT_EQ(compression_from_media_type(""), Compression::kUnknown);
  EXPECT_EQ(compression_from_magic(std::string_view("\x1f\x8b\x08\x00", 4)), Compression::kGzip);
  EXPECT_EQ(compression_from_magic(std::string_view("\x28\xb5\x2f\xfd", 4)), Compression::kZstd);
  EXPECT_EQ(compression_from_magic("etc/"), Compression::kNone);
}

}  // namespace
}  // namespace zlayer::image
