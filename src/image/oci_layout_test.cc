#include "image/oci_layout.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/subprocess.h"
#include "support/image_builder.h"
#include "support/temp_dir.h"

namespace zlayer::image {
namespace {

using nlohmann::json;
using testing::OciImage;
using testing::OciImageIndex;
using testing::TarBuilder;
using testing::TempDir;

OciImage small_image(std::string_view content) {
  OciImage image;
  image.add_layer(TarBuilder().file("f.txt", content).tar());
  return image;
}

Digest digest_of(const std::string& text) { return Digest::parse(text).value(); }

void run_ok(const std::vector<std::string>& argv) {
  auto result = run_subprocess(argv);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->exit_code, 0) << argv[0] << ": " << result->err;
}

TEST(ParseLayoutArgumentTest, SplitsAtTheLastColonOnlyBeforeATag) {
  struct Case {
    std::string arg;
    std::string dir;
    std::optional<std::string> tag;
  };
  const Case cases[] = {
      {"layout", "layout", std::nullopt},
      {"layout:v1", "layout", "v1"},
      {"/srv/img/layout:latest", "/srv/img/layout", "latest"},
      {"/srv/a:b/layout", "/srv/a:b/layout", std::nullopt},
      {"/srv/a:b/layout:1.0", "/srv/a:b/layout", "1.0"},
      {"dir:x:latest", "dir:x", "latest"},
      {"layout:", "layout", std::nullopt},
      {"./rel:tag_1", "./rel", "tag_1"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_layout_argument(c.arg);
    EXPECT_EQ(parsed.dir, std::filesystem::path(c.dir)) << c.arg;
    EXPECT_EQ(parsed.tag, c.tag) << c.arg;
  }
}

class OciLayoutTest : public ::testing::Test {
 protected:
  TempDir temp_{"zlayer-oci-layout-"};
  std::filesystem::path layout_ = temp_.path() / "layout";
};

TEST_F(OciLayoutTest, SelectsByTagAndListsTagsWhenTheChoiceIsAmbiguousOrUnknown) {
  OciImageIndex multi;
  multi.add(small_image("amd64").platform("linux", "amd64"));
  multi.add(small_image("arm64").platform("linux", "arm64", "v8"));
  multi.add(small_image("armv7").platform("linux", "arm", "v7"));
  auto written = testing::write_layout(
      layout_, {{"v1", small_image("one")}, {"v2", small_image("two")}, {"multi", multi}});
  ASSERT_TRUE(written) << written.error().message;

  auto tags = list_layout_tags(layout_);
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(*tags, (std::vector<std::string>{"v1", "v2", "multi"}));

  auto v2 = select_layout_image(layout_, "v2");
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->tag, "v2");
  EXPECT_EQ(v2->dir, layout_);
  EXPECT_EQ(v2->descriptor.digest.str(), written->at("v2").digest);
  EXPECT_EQ(v2->descriptor.media_type, media_type::kOciManifest);
  EXPECT_EQ(v2->descriptor.size, written->at("v2").size);

  auto none = select_layout_image(layout_, std::nullopt);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kInvalidArgument);
  EXPECT_NE(none.error().message.find("\"v1\", \"v2\", \"multi\""), std::string::npos)
      << none.error().message;
  EXPECT_NE(none.error().message.find(":TAG"), std::string::npos) << none.error().message;

  auto unknown = select_layout_image(layout_, "v3");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kNotFound);
  EXPECT_NE(unknown.error().message.find("\"v3\""), std::string::npos);
  EXPECT_NE(unknown.error().message.find("\"v1\", \"v2\", \"multi\""), std::string::npos)
      << unknown.error().message;

  // The multi-platform tag is an index; its children are readable blobs with their platforms.
  auto selected = select_layout_image(layout_, "multi");
  ASSERT_TRUE(selected) << selected.error().message;
  EXPECT_EQ(selected->descriptor.media_type, media_type::kOciIndex);
  auto index_bytes =
      read_layout_blob(layout_, selected->descriptor.digest, selected->descriptor.size);
  ASSERT_TRUE(index_bytes) << index_bytes.error().message;
  json index = json::parse(*index_bytes);
  ASSERT_EQ(index["manifests"].size(), 3u);
  EXPECT_EQ(index["manifests"][2]["platform"]["variant"], "v7");
  for (const auto& m : index["manifests"]) {
    auto child = read_layout_blob(layout_, digest_of(m["digest"]), m["size"].get<std::int64_t>());
    EXPECT_TRUE(child) << child.error().message;
  }
}

TEST_F(OciLayoutTest, OneUntaggedEntryIsChosenWithoutATag) {
  auto written = testing::write_layout(layout_, {{"", small_image("untagged")}});
  ASSERT_TRUE(written) << written.error().message;
  auto tags = list_layout_tags(layout_);
  ASSERT_TRUE(tags);
  EXPECT_TRUE(tags->empty());

  auto only = select_layout_image(layout_, std::nullopt);
  ASSERT_TRUE(only) << only.error().message;
  EXPECT_EQ(only->tag, "");
  EXPECT_EQ(only->descriptor.digest.str(), written->at("").digest);

  auto by_tag = select_layout_image(layout_, "latest");
  ASSERT_FALSE(by_tag);
  EXPECT_EQ(by_tag.error().code, Errc::kNotFound);
  EXPECT_NE(by_tag.error().message.find("tags found: none"), std::string::npos)
      << by_tag.error().message;
}

TEST_F(OciLayoutTest, EmptyIndexHoldsNoImages) {
  ASSERT_TRUE(make_dirs(layout_ / "blobs" / "sha256"));
  ASSERT_TRUE(atomic_write_file(layout_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  ASSERT_TRUE(atomic_write_file(layout_ / "index.json", R"({"schemaVersion":2,"manifests":[]})"));
  auto none = select_layout_image(layout_, std::nullopt);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kNotFound);
  EXPECT_NE(none.error().message.find("no images"), std::string::npos);
}

TEST_F(OciLayoutTest, BadLayoutsAreRefusedNamingTheFile) {
  // Missing directory.
  auto missing = select_layout_image(temp_.path() / "nope", std::nullopt);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);

  ASSERT_TRUE(testing::write_layout(layout_, {{"v1", small_image("x")}}));
  std::string oci_layout = (layout_ / "oci-layout").string();
  std::string index_json = (layout_ / "index.json").string();

  ASSERT_TRUE(atomic_write_file(layout_ / "oci-layout", R"({"imageLayoutVersion":"2.0.0"})"));
  auto bad_version = select_layout_image(layout_, "v1");
  ASSERT_FALSE(bad_version);
  EXPECT_EQ(bad_version.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_version.error().message.find(oci_layout), std::string::npos);
  EXPECT_NE(bad_version.error().message.find("2.0.0"), std::string::npos);

  ASSERT_TRUE(atomic_write_file(layout_ / "oci-layout", "not json"));
  auto not_json = list_layout_tags(layout_);
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code, Errc::kInvalidArgument);
  EXPECT_NE(not_json.error().message.find(oci_layout), std::string::npos);

  ASSERT_EQ(::unlink(oci_layout.c_str()), 0);
  auto no_marker = list_layout_tags(layout_);
  ASSERT_FALSE(no_marker);
  EXPECT_EQ(no_marker.error().code, Errc::kInvalidArgument);
  EXPECT_NE(no_marker.error().message.find("not an OCI image layout"), std::string::npos)
      << no_marker.error().message;

  ASSERT_TRUE(atomic_write_file(layout_ / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  ASSERT_TRUE(atomic_write_file(layout_ / "index.json", "<html>"));
  auto bad_index = select_layout_image(layout_, "v1");
  ASSERT_FALSE(bad_index);
  EXPECT_EQ(bad_index.error().code, Errc::kInvalidArgument);
  EXPECT_NE(bad_index.error().message.find(index_json), std::string::npos);

  ASSERT_TRUE(atomic_write_file(
      layout_ / "index.json",
      R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:12","size":1}]})"));
  auto bad_digest = select_layout_image(layout_, std::nullopt);
  ASSERT_FALSE(bad_digest);
  EXPECT_NE(bad_digest.error().message.find("manifests[0].digest"), std::string::npos)
      << bad_digest.error().message;

  ASSERT_EQ(::unlink(index_json.c_str()), 0);
  auto no_index = select_layout_image(layout_, "v1");
  ASSERT_FALSE(no_index);
  EXPECT_EQ(no_index.error().code, Errc::kInvalidArgument);
  EXPECT_NE(no_index.error().message.find(index_json), std::string::npos);
}

TEST_F(OciLayoutTest, ReadsLayoutsWrittenByUmociAndSkopeo) {
  // umoci's own output: an empty image made by `umoci new`.
  auto umoci_layout = temp_.path() / "umoci";
  run_ok({"umoci", "init", "--layout", umoci_layout.string()});
  run_ok({"umoci", "new", "--image", umoci_layout.string() + ":fresh"});
  auto fresh = select_layout_image(umoci_layout, "fresh");
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(fresh->descriptor.media_type, media_type::kOciManifest);
  auto manifest = read_layout_blob(umoci_layout, fresh->descriptor.digest, fresh->descriptor.size);
  ASSERT_TRUE(manifest) << manifest.error().message;
  json m = json::parse(*manifest);
  auto config = read_layout_blob(umoci_layout, digest_of(m["config"]["digest"]),
                                 m["config"]["size"].get<std::int64_t>());
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(json::parse(*config)["rootfs"]["type"], "layers");

  // skopeo's oci: transport, copying our busybox layout into a layout of its own.
  auto busybox = testing::busybox_image();
  ASSERT_TRUE(busybox) << busybox.error().message;
  ASSERT_TRUE(testing::write_layout(layout_, {{"busybox", *busybox}}));
  auto skopeo_layout = temp_.path() / "skopeo";
  run_ok({"skopeo", "copy", "--quiet", "oci:" + layout_.string() + ":busybox",
          "oci:" + skopeo_layout.string() + ":copied"});
  run_ok({"umoci", "new", "--image", skopeo_layout.string() + ":second"});
  auto tags = list_layout_tags(skopeo_layout);
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(*tags, (std::vector<std::string>{"copied", "second"}));
  auto copied = select_layout_image(skopeo_layout, "copied");
  ASSERT_TRUE(copied) << copied.error().message;
  auto copied_manifest =
      read_layout_blob(skopeo_layout, copied->descriptor.digest, copied->descriptor.size);
  ASSERT_TRUE(copied_manifest) << copied_manifest.error().message;
  json layers = json::parse(*copied_manifest)["layers"];
  ASSERT_EQ(layers.size(), 1u);
  auto layer_fd = open_layout_blob(skopeo_layout, digest_of(layers[0]["digest"]));
  ASSERT_TRUE(layer_fd) << layer_fd.error().message;
  struct stat st {};
  ASSERT_EQ(::fstat(layer_fd->get(), &st), 0);
  EXPECT_EQ(st.st_size, layers[0]["size"].get<std::int64_t>());
}

TEST_F(OciLayoutTest, BlobReadsVerifyDigestAndSize) {
  auto written = testing::write_layout(layout_, {{"v1", small_image("x")}});
  ASSERT_TRUE(written);
  Digest manifest = digest_of(written->at("v1").digest);
  auto ok = read_layout_blob(layout_, manifest);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(sha256_of(*ok), manifest);

  auto wrong_size = read_layout_blob(layout_, manifest, written->at("v1").size + 1);
  ASSERT_FALSE(wrong_size);
  EXPECT_EQ(wrong_size.error().code, Errc::kInvalidArgument);
  EXPECT_NE(wrong_size.error().message.find("size mismatch"), std::string::npos);

  auto too_big = read_layout_blob(layout_, manifest, -1, /*max_size=*/10);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, Errc::kResourceExhausted);

  auto path = layout_ / "blobs" / "sha256" / manifest.hex;
  ASSERT_TRUE(atomic_write_file(path, "tampered"));
  auto tampered = read_layout_blob(layout_, manifest);
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, Errc::kInvalidArgument);
  EXPECT_NE(tampered.error().message.find("digest mismatch"), std::string::npos);
  EXPECT_NE(tampered.error().message.find(manifest.str()), std::string::npos);

  auto missing = read_layout_blob(layout_, sha256_of("not there"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find(sha256_of("not there").str()), std::string::npos);

  auto sha512 = read_layout_blob(layout_, Digest{"sha512", std::string(128, 'a')});
  ASSERT_FALSE(sha512);
  EXPECT_EQ(sha512.error().code, Errc::kUnsupported);
}

TEST_F(OciLayoutTest, BlobPathsNeverLeaveTheLayout) {
  ASSERT_TRUE(testing::write_layout(layout_, {{"v1", small_image("x")}}));
  auto blobs = layout_ / "blobs" / "sha256";
  std::string secret = "secret outside the layout";
  auto outside = temp_.path() / "outside";
  ASSERT_TRUE(atomic_write_file(outside, secret));
  Digest secret_digest = sha256_of(secret);

  // An absolute symlink to a file outside, with the right digest: still refused.
  std::filesystem::create_symlink(outside, blobs / secret_digest.hex);
  auto absolute = read_layout_blob(layout_, secret_digest);
  ASSERT_FALSE(absolute);
  EXPECT_EQ(absolute.error().code, Errc::kPermissionDenied);
  EXPECT_NE(absolute.error().message.find("outside the layout"), std::string::npos);

  // A relative one climbing out with "..".
  std::filesystem::remove(blobs / secret_digest.hex);
  std::filesystem::create_symlink("../../../outside", blobs / secret_digest.hex);
  auto relative = read_layout_blob(layout_, secret_digest);
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, Errc::kPermissionDenied);

  // A symlinked blobs/ directory pointing outside.
  auto other = temp_.path() / "other";
  ASSERT_TRUE(make_dirs(other / "sha256"));
  ASSERT_TRUE(atomic_write_file(other / "sha256" / secret_digest.hex, secret));
  auto layout2 = temp_.path() / "layout2";
  ASSERT_TRUE(testing::write_layout(layout2, {{"v1", small_image("y")}}));
  std::filesystem::remove_all(layout2 / "blobs");
  std::filesystem::create_symlink(other, layout2 / "blobs");
  auto via_dir = read_layout_blob(layout2, secret_digest);
  ASSERT_FALSE(via_dir);
  EXPECT_EQ(via_dir.error().code, Errc::kPermissionDenied);

  // A symlink that stays inside the layout is fine (the digest still decides).
  ASSERT_TRUE(atomic_write_file(layout_ / "inside", secret));
  std::filesystem::remove(blobs / secret_digest.hex);
  std::filesystem::create_symlink("../../inside", blobs / secret_digest.hex);
  auto inside = read_layout_blob(layout_, secret_digest);
  ASSERT_TRUE(inside) << inside.error().message;
  EXPECT_EQ(*inside, secret);

  // A hand-built digest cannot smuggle a path.
  auto traversal = read_layout_blob(layout_, Digest{"sha256", "../../outside"});
  ASSERT_FALSE(traversal);
  EXPECT_EQ(traversal.error().code, Errc::kInvalidArgument);

  // A FIFO planted as a blob neither blocks nor passes.
  Digest fifo_digest = sha256_of("fifo");
  ASSERT_EQ(::mkfifo((blobs / fifo_digest.hex).c_str(), 0644), 0);
  auto fifo = read_layout_blob(layout_, fifo_digest);
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, Errc::kInvalidArgument);
  EXPECT_NE(fifo.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace zlayer::image
