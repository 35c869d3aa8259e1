// The OCI-runtime driver without containers: cgroup layout detection, state parsing, runtime
// selection on this machine (an info test prints what was chosen and why others were not).
#include "runtime/linux/oci_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "support/oci_bundle.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

using ::testing::HasSubstr;

TEST(OciState, ParsesCrunAndRuncOutput) {
  auto crun = parse_oci_state(R"({"ociVersion":"1.0.0","id":"c1","pid":8595,
      "status":"created","bundle":"/b","rootfs":"rootfs","created":"x","owner":"root"})");
  ASSERT_TRUE(crun) << crun.error().message;
  EXPECT_EQ(crun->id, "c1");
  EXPECT_EQ(crun->status, OciStatus::kCreated);
  EXPECT_EQ(crun->pid, 8595);
  EXPECT_EQ(crun->bundle, "/b");
  auto runc = parse_oci_state(R"({"id":"r1","pid":0,"status":"stopped"})");
  ASSERT_TRUE(runc);
  EXPECT_EQ(runc->status, OciStatus::kStopped);
  auto unknown = parse_oci_state(R"({"id":"r1","status":"exploded"})");
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message, HasSubstr("exploded"));
  EXPECT_FALSE(parse_oci_state("not json"));
  EXPECT_FALSE(parse_oci_state(R"({"status":"running"})"));
}

TEST(SelectOciRuntime, InfoOnThisMachine) {
  testing::TempDir dir;
  auto selection = select_oci_runtime(std::nullopt, dir.path() / "oci");
  if (!testing::have_program("crun") && !testing::have_program("runc")) {
    ASSERT_FALSE(selection);
    EXPECT_EQ(selection.error().code, Errc::kUnavailable);
    return;
  }
  ASSERT_TRUE(selection) << selection.error().message;
  const OciRuntime& runtime = selection->runtime;
  std::cout << "OCI runtime: " << runtime.name() << " (" << runtime.binary().string() << ")\n"
            << "version: " << runtime.version() << "\n"
            << "cgroup layout: " << cgroup_mode_name(runtime.cgroup_layout())
            << (runtime.uses_hybrid_workaround() ? " (private mount namespace per call)" : "")
            << "\n";
  for (const auto& rejected : selection->rejected) {
    std::cout << "rejected " << rejected.name << ": " << rejected.reason << "\n";
  }
  EXPECT_FALSE(runtime.version().empty());
  EXPECT_EQ(runtime.state_root(), dir.path() / "oci" / runtime.name());
  if (testing::have_program("crun") && ::geteuid() == 0) {
    EXPECT_EQ(runtime.name(), "crun");
    EXPECT_THAT(runtime.version(), HasSubstr("crun version"));
  }
}

TEST(SelectOciRuntime, ForcedChoices) {
  testing::TempDir dir;
  if (testing::have_program("runc")) {
    auto runc = select_oci_runtime("runc", dir.path());
    ASSERT_TRUE(runc) << runc.error().message;
    EXPECT_EQ(runc->runtime.name(), "runc");
    EXPECT_FALSE(runc->runtime.uses_hybrid_workaround());
    EXPECT_TRUE(runc->rejected.empty());
  }
  auto unknown = select_oci_runtime("podman", dir.path());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kInvalidArgument);
  if (!testing::have_program("youki")) {
    auto youki = select_oci_runtime("youki", dir.path());
    ASSERT_FALSE(youki);
    EXPECT_EQ(youki.error().code, Errc::kUnavailable);
    EXPECT_THAT(youki.error().message, HasSubstr("youki: not installed"));
  }
  // A binary that exists but is no OCI runtime fails the probe and says so.
  auto fake = select_oci_runtime("/bin/false", dir.path());
  ASSERT_FALSE(fake);
  EXPECT_THAT(fake.error().message, HasSubstr("false: failed a probe"));
}

}  // namespace
}  // namespace zlayer::runtime::linux
