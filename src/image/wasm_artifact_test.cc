// Recognition of WASM artifacts: media types, artifactType, WASI platforms, the module layer, and
// the core-module / component preamble.
#include "image/wasm_artifact.h"

#include <gtest/gtest.h>

namespace zlayer::image {
namespace {

Descriptor layer(std::string media_type) {
  Descriptor d;
  d.media_type = std::move(media_type);
  d.digest = sha256_of(d.media_type);
  return d;
}

TEST(WasmArtifact, RecognisesConfigLayerAndArtifactTypes) {
  ImageManifest m;
  m.config.media_type = std::string(media_type::kOciConfig);
  m.layers = {layer(std::string(media_type::kOciLayerGzip))};
  EXPECT_FALSE(is_wasm_artifact(m));
  m.config.media_type = std::string(media_type::kWasmConfigV1);
  EXPECT_TRUE(is_wasm_artifact(m));
  m.config.media_type = std::string(media_type::kOciEmpty);
  m.artifact_type = std::string(media_type::kWasm);
  EXPECT_TRUE(is_wasm_artifact(m));
  m.artifact_type.clear();
  m.layers = {layer("application/vnd.example+json"), layer(std::string(media_type::kWasmLayer))};
  EXPECT_TRUE(is_wasm_artifact(m));
  auto module = wasm_module_layer(m, "demo");
  ASSERT_TRUE(module);
  EXPECT_EQ(module->media_type, media_type::kWasmLayer);
  m.layers = {layer("a/b"), layer("c/d")};
  EXPECT_EQ(wasm_module_layer(m, "demo").error().code, Errc::kInvalidArgument);
}

TEST(WasmArtifact, WasiPlatforms) {
  EXPECT_TRUE(is_wasm_platform({"wasip1", "wasm", "", ""}));
  EXPECT_TRUE(is_wasm_platform({"wasi", "wasm", "", ""}));
  EXPECT_FALSE(is_wasm_platform({"linux", "wasm", "", ""}));
  EXPECT_FALSE(is_wasm_platform({"wasip1", "amd64", "", ""}));
  EXPECT_EQ(wasm_platforms().front().str(), "wasip1/wasm");
}

TEST(WasmArtifact, PreambleTellsModulesFromComponents) {
  EXPECT_TRUE(check_wasm_preamble(std::string("\0asm\x01\0\0\0", 8), "m.wasm"));
  auto component = check_wasm_preamble(std::string("\0asm\x0d\0\x01\0", 8), "c.wasm");
  ASSERT_FALSE(component);
  EXPECT_EQ(component.error().code, Errc::kUnsupported);
  EXPECT_NE(component.error().message.find("c.wasm is a WebAssembly component (preview 2)"),
            std::string::npos);
  EXPECT_EQ(check_wasm_preamble("(module)", "t").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(check_wasm_preamble(std::string("\0asm\x02\0\0\0", 8), "v2").error().code,
            Errc::kInvalidArgument);
}

}  // namespace
}  // namespace zlayer::image
