// Real-component check: a busybox bundle whose config.json is assembled from every piece of this
// library runs under runc and crun, and the container reports the capability set, no_new_privs,
// seccomp mode, rlimits, user and masked/read-only paths we asked for.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/fs.h"
#include "runtime/linux/process_spec.h"
#include "runtime/linux/rlimits.h"
#include "runtime/linux/seccomp.h"
#include "runtime/linux/security_defaults.h"
#include "runtime/linux/user_resolve.h"
#include "support/oci_runtime.h"
#include "support/temp_dir.h"

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

using testing::have_program;
using testing::kBusyboxStatic;
using testing::status_field;

class BundleRun : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (runs an OCI runtime)";
    if (!fs::exists(kBusyboxStatic)) GTEST_SKIP() << "needs busybox-static";
    if (!have_program(runtime())) GTEST_SKIP() << "needs " << runtime();
    if (!fs::exists(kDefaultSeccompProfile))
      GTEST_SKIP() << "needs golang-github-containers-common";
    bundle_ = dir_.path() / "bundle";
    rootfs_ = bundle_ / "rootfs";
    auto written = testing::write_busybox_rootfs(rootfs_);
    ASSERT_TRUE(written) << written.error().message;
  }

  void TearDown() override {
    for (const auto& id : ids_) {
      auto deleted = testing::oci_delete(runtime(), id);
      EXPECT_TRUE(deleted) << deleted.error().message;
    }
  }

  [[nodiscard]] const std::string& runtime() const { return GetParam(); }

  // Writes config.json from our pieces for `script` run as `user`; keeps caps_ and rlimits_.
  // `mask_paths` false leaves maskedPaths out (the control case of the masking check).
  void write_bundle(const std::string& script, const std::string& user, bool mask_paths = true) {
    image::ImageConfig image;
    image.entrypoint = {"/bin/sh", "-c"};
    image.cmd = {"exit 3"};
    image.env = {"FROM_IMAGE=1"};
    image.user = "root";
    ProcessOverrides overrides;
    overrides.args = std::vector<std::string>{script};
    overrides.env = {{"FROM_SPEC", "2"}};
    overrides.user = user;
    overrides.hostname = "spec-test";
    auto process = merge_process(image, "test/busybox", overrides);
    ASSERT_TRUE(process) << process.error().message;

    auto resolved = resolve_user(rootfs_, process->user);
    ASSERT_TRUE(resolved) << resolved.error().message;

    auto last_cap = kernel_last_capability();
    ASSERT_TRUE(last_cap) << last_cap.error().message;
    auto caps = effective_capabilities({}, *last_cap);
    ASSERT_TRUE(caps) << caps.error().message;
    caps_ = *caps;

    auto ceilings = agent_rlimit_ceilings();
    ASSERT_TRUE(ceilings) << ceilings.error().message;
    auto rlimits = build_rlimits({{"nproc", {.soft = 512, .hard = 1024}}}, *ceilings);
    ASSERT_TRUE(rlimits) << rlimits.error().message;
    rlimits_ = rlimits->rlimits;

    auto kernel = running_kernel();
    ASSERT_TRUE(kernel) << kernel.error().message;
    auto seccomp =
        load_seccomp(SeccompMode::kProfile, {image::Platform::host().architecture, *caps, *kernel});
    ASSERT_TRUE(seccomp) << seccomp.error().message;
    ASSERT_TRUE(seccomp->has_value());

    json config = {
        {"ociVersion", "1.0.2"},
        {"root", {{"path", "rootfs"}, {"readonly", false}}},
        {"hostname", "spec-test"},
        {"process",
         oci_process(*process, *resolved, *caps, rlimits_, default_no_new_privileges(false))},
        {"mounts", default_mounts()},
        {"linux",
         {{"namespaces", json::array({{{"type", "pid"}},
                                      {{"type", "ipc"}},
                                      {{"type", "uts"}},
                                      {{"type", "mount"}},
                                      {{"type", "network"}}})},
          {"maskedPaths", masked_paths(!mask_paths)},
          {"readonlyPaths", readonly_paths(false)},
          {"resources", {{"devices", default_device_rules(false)}}},
          {"seccomp", **seccomp}}},
    };
    ASSERT_TRUE(atomic_write_file(bundle_ / "config.json", config.dump(2)));
  }

  // `runtime run` in the foreground, stdout and stderr into files (never a pipe the container
  // could keep open). Sets `container_stdout`; fails the test on a non-zero exit.
  void run(const std::string& label, std::string& container_stdout) {
    std::string id = testing::unique_container_id("zlayer-spec-test-" + label);
    ids_.push_back(id);
    auto result = testing::oci_run(runtime(), bundle_, id, dir_.path());
    ASSERT_TRUE(result) << result.error().message;
    ASSERT_EQ(result->exit_code, 0)
        << runtime() << " stderr: " << result->err << "\nstdout: " << result->out;
    container_stdout = result->out;
  }

  testing::TempDir dir_;
  fs::path bundle_;
  fs::path rootfs_;
  std::vector<std::string> caps_;
  std::vector<OciRlimit> rlimits_;
  std::vector<std::string> ids_;
};

TEST_P(BundleRun, DefaultsAreEnforcedInTheContainer) {
  ASSERT_NO_FATAL_FAILURE(
      write_bundle("cat /proc/self/status; "
                   "echo \"kcore_bytes=$(cat /proc/kcore 2>/dev/null | wc -c)\"; "
                   "echo \"timer_list_bytes=$(cat /proc/timer_list 2>/dev/null | wc -c)\"; "
                   "if echo 1 2>/dev/null >/proc/sysrq-trigger; then echo sysrq=writable; "
                   "else echo sysrq=refused; fi; "
                   "cat /proc/self/limits; "
                   "echo \"env=$FROM_IMAGE$FROM_SPEC home=$HOME host=$HOSTNAME\"",
                   ""));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(run("defaults", out));
  auto mask = capability_mask(caps_);
  ASSERT_TRUE(mask);
  EXPECT_EQ(status_field(out, "CapEff"), fmt::format("{:016x}", *mask));
  EXPECT_EQ(status_field(out, "CapEff"), "00000000a80425fb");  // Docker's default set
  EXPECT_EQ(status_field(out, "CapBnd"), fmt::format("{:016x}", *mask));
  EXPECT_EQ(status_field(out, "CapInh"), "0000000000000000");
  EXPECT_EQ(status_field(out, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(out, "Seccomp"), "2");
  EXPECT_EQ(status_field(out, "Uid"), "0\t0\t0\t0");
  // Masked paths read as empty. /proc/kcore does not even exist on these machines' kernels
  // (no CONFIG_PROC_KCORE), so /proc/timer_list, readable by root on the host, is the one that
  // shows the mask at work (see MaskedPathsControl for the unmasked reading).
  EXPECT_THAT(out, HasSubstr("kcore_bytes=0\n"));
  if (fs::exists("/proc/timer_list")) {
    EXPECT_THAT(out, HasSubstr("timer_list_bytes=0\n"));
  }
  EXPECT_THAT(out, HasSubstr("sysrq=refused\n"));
  EXPECT_THAT(out, HasSubstr("env=12 home=/root host=spec-test\n"));

  for (const auto& limit : rlimits_) {
    std::string row = limit.type == "RLIMIT_NOFILE" ? "Max open files" : "Max processes";
    EXPECT_THAT(out,
                ::testing::ContainsRegex(fmt::format("{} +{} +{} ", row, limit.soft, limit.hard)))
        << limit.type;
  }
}

TEST_P(BundleRun, ImageUserWithSupplementaryGroups) {
  ASSERT_NO_FATAL_FAILURE(write_bundle("cat /proc/self/status; echo \"home=$HOME\"", "app"));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(run("user", out));
  EXPECT_EQ(status_field(out, "Uid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(status_field(out, "Gid"), "1000\t1000\t1000\t1000");
  EXPECT_EQ(status_field(out, "Groups"), "2000 2001");
  EXPECT_EQ(status_field(out, "NoNewPrivs"), "1");
  EXPECT_THAT(out, HasSubstr("home=/home/app\n"));
}

// The control case: without maskedPaths the same reading shows the host's timer list, so the
// "timer_list_bytes=0" above is the mask's doing, not a missing file or a permission error.
TEST_P(BundleRun, MaskedPathsControl) {
  if (!fs::exists("/proc/timer_list")) GTEST_SKIP() << "kernel has no /proc/timer_list";
  ASSERT_NO_FATAL_FAILURE(write_bundle("head -c 100 /proc/timer_list", "", /*mask_paths=*/false));
  std::string out;
  ASSERT_NO_FATAL_FAILURE(run("control", out));
  EXPECT_THAT(out, HasSubstr("Timer List Version"));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, BundleRun, ::testing::Values("runc", "crun"),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace zlayer::runtime::linux
