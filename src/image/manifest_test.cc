#include "image/manifest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace zlayer::image {
namespace {

constexpr const char* kD1 =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
constexpr const char* kD2 =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";

std::string oci_manifest(std::string_view media_type_field) {
  return fmt::format(
      R"({{"schemaVersion":2,{}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":7}},
    "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":42}}]}})",
      media_type_field, kD1, kD2);
}

TEST(Manifest, ParsesOciManifestWithMixedMediaTypes) {
  auto doc =
      parse_manifest(oci_manifest(R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)"),
                     "application/vnd.oci.image.manifest.v1+json");
  ASSERT_TRUE(doc) << doc.error().message;
  auto& m = std::get<ImageManifest>(*doc);
  EXPECT_EQ(m.config.digest.str(), kD1);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].size, 42);
  EXPECT_EQ(m.layers[0].media_type, media_type::kDockerLayerGzip);
}

TEST(Manifest, GenericOrMissingContentTypeIsRecognisedFromBody) {
  for (const char* ct :
       {"", "application/json", "text/plain; charset=utf-8", "application/octet-stream"}) {
    auto doc = parse_manifest(oci_manifest(""), ct);
    ASSERT_TRUE(doc) << ct << ": " << doc.error().message;
    EXPECT_TRUE(std::holds_alternative<ImageManifest>(*doc));
  }
  auto index = parse_manifest(fmt::format(R"({{"schemaVersion":2,"manifests":[]}})"), "");
  ASSERT_TRUE(index);
  EXPECT_TRUE(std::holds_alternative<ImageIndex>(*index));
}

TEST(Manifest, HtmlBodyIsAClearError) {
  auto doc = parse_manifest("<html><body>Sign in</body></html>", "text/html");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, Errc::kInvalidArgument);
  EXPECT_NE(doc.error().message.find("not a manifest"), std::string::npos);
  EXPECT_NE(doc.error().message.find("<html>"), std::string::npos);
}

TEST(Manifest, SchemaOneIsRefused) {
  auto by_type = parse_manifest("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws");
  ASSERT_FALSE(by_type);
  EXPECT_EQ(by_type.error().code, Errc::kUnsupported);
  auto by_body =
      parse_manifest(R"({"schemaVersion":1,"name":"x","fsLayers":[]})", "application/json");
  ASSERT_FALSE(by_body);
  EXPECT_NE(by_body.error().message.find("schema 1"), std::string::npos);
}

TEST(Manifest, BadDescriptorNamesTheField) {
  auto doc = parse_manifest(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:1","size":1},"layers":[]})",
      "");
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("config"), std::string::npos) << doc.error().message;
}

TEST(ImageConfig, ParsesRuntimeFields) {
  auto c = parse_image_config(fmt::format(R"({{"architecture":"amd64","os":"linux",
    "config":{{"User":"app","Env":["PATH=/bin"],"Entrypoint":["/bin/sh"],"Cmd":["-c","true"],
    "WorkingDir":"/w","StopSignal":"SIGINT","ExposedPorts":{{"80/tcp":{{}}}},"Volumes":{{"/data":{{}}}},
    "Labels":{{"a":"b"}}}},"rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}})",
                                          kD1, kD2));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->platform.str(), "linux/amd64");
  EXPECT_EQ(c->user, "app");
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/bin/sh"});
  EXPECT_EQ(c->cmd.size(), 2u);
  EXPECT_EQ(c->stop_signal, "SIGINT");
  EXPECT_EQ(c->volumes, std::vector<std::string>{"/data"});
  ASSERT_EQ(c->diff_ids.size(), 2u);
  EXPECT_EQ(c->diff_ids[1].str(), kD2);
  EXPECT_FALSE(parse_image_config(R"({"rootfs":{"diff_ids":["nope"]}})"));
}

Descriptor entry(const std::string& platform, char digit) {
  Descriptor d;
  d.media_type = std::string(media_type::kOciManifest);
  d.digest = Digest{"sha256", std::string(64, digit)};
  d.size = 100;
  d.platform = *Platform::parse(platform);
  return d;
}

TEST(Platform, SelectionDoesNotDependOnListOrder) {
  ImageIndex index;
  index.manifests = {entry("linux/amd64", '1'),  entry("linux/arm64/v8", '2'),
                     entry("linux/arm/v6", '3'), entry("linux/arm/v7", '4'),
                     entry("linux/arm", '5'),    entry("windows/amd64", '6'),
                     entry("linux/386", '7')};
  Descriptor attestation = entry("linux/amd64", '8');
  attestation.annotations["vnd.docker.reference.type"] = "attestation-manifest";
  attestation.platform = Platform{"unknown", "unknown", "", ""};
  index.manifests.push_back(attestation);
  struct Case {
    const char* want;
    char digit;
  };
  const Case cases[] = {{"linux/amd64", '1'},  {"linux/arm64", '2'},   {"linux/arm64/v8", '2'},
                        {"linux/arm/v7", '4'}, {"linux/arm/v6", '3'},  {"linux/arm/v5", '5'},
                        {"linux/arm/v8", '4'}, {"windows/amd64", '6'}, {"linux/x86_64", '1'}};
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(index.manifests.begin(), index.manifests.end(), rng);
    for (const auto& c : cases) {
      auto chosen = select_platform(index, *Platform::parse(c.want));
      ASSERT_TRUE(chosen) << c.want << ": " << chosen.error().message;
      EXPECT_EQ(chosen->digest.hex[0], c.digit) << c.want;
    }
  }
  auto missing = select_platform(index, *Platform::parse("linux/s390x"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find("linux/arm64/v8"), std::string::npos)
      << missing.error().message;
}

TEST(Platform, ParseAndPrint) {
  EXPECT_EQ(Platform::parse("linux/arm/v7")->str(), "linux/arm/v7");
  EXPECT_EQ(Platform::parse("linux/aarch64")->str(), "linux/arm64");
  EXPECT_FALSE(Platform::parse("linux"));
  EXPECT_FALSE(Platform::parse("linux//v7"));
  EXPECT_FALSE(Platform::parse("a/b/c/d"));
  EXPECT_EQ(Platform::host().os, "linux");
}

}  // namespace
}  // namespace zlayer::image
