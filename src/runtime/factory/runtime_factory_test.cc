// create_runtime() with real OCI runtimes: the linux backend opens when crun works; a forced
// runtime that is not installed makes Auto fail with every backend and its reason; backends not
// built yet say so.
#include "runtime/factory/runtime_factory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime {
namespace {

using ::testing::HasSubstr;

class RuntimeFactoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto images = image::ImageService::open(dir_.paths(), image::RegistryOptions::default_options());
    ASSERT_TRUE(images) << images.error().message;
    images_ = std::move(*images);
  }
  linux::LinuxConfig linux_config(std::optional<std::string> oci) const {
    return linux::LinuxConfig{.paths = dir_.paths(),
                              .oci_runtime = std::move(oci),
                              .oci_state_root = dir_.path() / "oci"};
  }
  WasmConfig wasm_config() const { return WasmConfig{.paths = dir_.paths()}; }
  testing::TempDir dir_;
  std::unique_ptr<image::ImageService> images_;
};

TEST_F(RuntimeFactoryTest, AutoOpensTheLinuxBackendWhenAnOciRuntimeWorks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (OCI runtime probe)";
  if (!testing::have_program("crun")) GTEST_SKIP() << "needs crun";
  auto opened = create_runtime(AutoConfig{linux_config(std::nullopt)}, *images_);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->backend, "linux");
  ASSERT_NE(opened->linux, nullptr);
  EXPECT_EQ(opened->linux->oci().name(), "crun");
  EXPECT_TRUE(opened->rejected.empty());
  auto listed = opened->runtime->list_containers();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(listed->empty());
}

TEST_F(RuntimeFactoryTest, AutoListsEveryBackendItTriedAndWhy) {
  auto opened = create_runtime(AutoConfig{linux_config("/nonexistent/crun")}, *images_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::kUnavailable);
  EXPECT_THAT(opened.error().message, HasSubstr("linux: no usable OCI runtime"));
  EXPECT_THAT(opened.error().message, HasSubstr("crun: not installed"));
  EXPECT_THAT(opened.error().message, HasSubstr("docker: the docker backend is not built yet"));
}

TEST_F(RuntimeFactoryTest, ForcedLinuxReportsTheRuntimesError) {
  auto opened = create_runtime(linux_config("kata"), *images_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(opened.error().message, HasSubstr("\"kata\" is not one of crun, runc, youki"));
}

TEST_F(RuntimeFactoryTest, BackendsNotBuiltYetAreUnsupported) {
  for (const RuntimeConfig& config :
       {RuntimeConfig{DockerConfig{}},
        RuntimeConfig{CompositeConfig{linux_config(std::nullopt), wasm_config()}}}) {
    auto opened = create_runtime(config, *images_);
    ASSERT_FALSE(opened) << runtime_config_name(config);
    EXPECT_EQ(opened.error().code, Errc::kUnsupported) << runtime_config_name(config);
    EXPECT_THAT(opened.error().message, HasSubstr("not")) << runtime_config_name(config);
  }
}

TEST_F(RuntimeFactoryTest, WasmOpensTheWasmBackend) {
  auto opened = create_runtime(RuntimeConfig{wasm_config()}, *images_);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->backend, "wasm");
  ASSERT_NE(opened->runtime, nullptr);
  auto listed = opened->runtime->list_containers();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(listed->empty());
}

}  // namespace
}  // namespace zlayer::runtime
