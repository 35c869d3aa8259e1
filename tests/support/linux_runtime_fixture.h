// The fixture of LinuxRuntime tests that run real containers as root under the OCI runtime named
// by the test parameter ("crun", "runc"): the busybox image imported into a fresh store under a
// temp dir, a cgroup parent of the test's own, and removal of every container in created_ at the
// end (after_remove() may check what each removal left). Header-only: only tests that link the
// linux backend include it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "image/image_service.h"
#include "runtime/linux/linux_runtime.h"
#include "support/busybox_store.h"
#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::testing {

class LinuxRuntimeFixture : public ::testing::TestWithParam<std::string> {
 protected:
  using LinuxRuntime = runtime::linux::LinuxRuntime;
  using LinuxConfig = runtime::linux::LinuxConfig;

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, runs an OCI runtime)";
    if (!std::filesystem::exists(kBusyboxStatic)) {
      GTEST_SKIP() << "needs busybox-static";
    }
    if (!have_program(GetParam())) GTEST_SKIP() << "needs " << GetParam();
    paths_ = dir_.paths();
    auto images = image::ImageService::open(paths_, image::RegistryOptions::default_options());
    ASSERT_TRUE(images) << images.error().message;
    images_ = std::move(*images);
    auto imported = import_busybox(*images_, dir_.path());
    ASSERT_TRUE(imported) << imported.error().message;
    image_ref_ = imported->record.name;
    image_config_ = imported->config;
    cgroup_parent_ = unique_container_id("zlayer-test");
    auto runtime = LinuxRuntime::open(
        LinuxConfig{.paths = paths_, .oci_runtime = GetParam(), .cgroup_parent = cgroup_parent_},
        *images_);
    ASSERT_TRUE(runtime) << runtime.error().message;
    runtime_ = std::move(*runtime);
  }

  void TearDown() override {
    if (!runtime_) return;
    for (const auto& id : created_) {
      auto removed = runtime_->remove_container(id);
      EXPECT_TRUE(removed) << removed.error().message;
      after_remove(id);
    }
    EXPECT_TRUE(remove_cgroup_dirs(cgroup_parent_));
  }

  // Checks what removing `id` left behind (nothing, by default no check).
  virtual void after_remove(const ContainerId& id) { (void)id; }

  TempDir dir_;
  Paths paths_;
  std::unique_ptr<image::ImageService> images_;
  std::string image_ref_;
  image::ImageConfig image_config_;
  std::string cgroup_parent_;
  std::unique_ptr<LinuxRuntime> runtime_;
  std::vector<ContainerId> created_;
};

}  // namespace zlayer::testing
