#include "runtime/linux/seccomp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fs.h"
#include "runtime/linux/security_defaults.h"

namespace zlayer::runtime::linux {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Actions under which `syscall` appears in `oci` (one entry per rule naming it).
std::vector<std::string> actions_for(const json& oci, std::string_view syscall) {
  std::vector<std::string> out;
  for (const auto& rule : oci["syscalls"]) {
    for (const auto& name : rule["names"]) {
      if (name == syscall) out.push_back(rule["action"]);
    }
  }
  return out;
}

std::vector<std::string> default_caps() {
  return {kDefaultCapabilities.begin(), kDefaultCapabilities.end()};
}

class DebianProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    auto text = read_file(std::filesystem::path(kDefaultSeccompProfile));
    if (!text) {
      GTEST_SKIP() << "needs " << kDefaultSeccompProfile
                   << " (apt-get install golang-github-containers-common)";
    }
    profile_ = *text;
  }
  std::string profile_;
};

TEST_F(DebianProfile, ResultHasDefaultActionAndArchitecturesAndIsValidJson) {
  auto oci = convert_seccomp_profile(profile_, {"amd64", default_caps(), {6, 1}});
  ASSERT_TRUE(oci) << oci.error().message;
  auto reparsed = json::parse(oci->dump(), nullptr, false);
  ASSERT_FALSE(reparsed.is_discarded());
  EXPECT_EQ(reparsed["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(reparsed["defaultErrnoRet"], 38);  // ENOSYS
  EXPECT_THAT(reparsed["architectures"].get<std::vector<std::string>>(),
              ElementsAre("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"));
  EXPECT_GT(reparsed["syscalls"].size(), 5u);
  for (const auto& rule : reparsed["syscalls"]) {
    EXPECT_TRUE(rule.contains("names") && rule.contains("action")) << rule.dump();
    EXPECT_FALSE(rule.contains("includes") || rule.contains("excludes") || rule.contains("comment"))
        << rule.dump();
  }
}

TEST_F(DebianProfile, SysAdminOnlySyscallFollowsTheCapabilitySet) {
  // bpf is allowed only with CAP_SYS_ADMIN; without it the profile's excludes-rule denies it.
  auto defaults = convert_seccomp_profile(profile_, {"amd64", default_caps(), {6, 1}});
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_THAT(actions_for(*defaults, "bpf"), ElementsAre("SCMP_ACT_ERRNO"));
  EXPECT_THAT(actions_for(*defaults, "sethostname"), ElementsAre("SCMP_ACT_ERRNO"));

  auto privileged = convert_seccomp_profile(profile_, {"amd64", all_capabilities(40), {6, 1}});
  ASSERT_TRUE(privileged) << privileged.error().message;
  EXPECT_THAT(actions_for(*privileged, "bpf"), ElementsAre("SCMP_ACT_ALLOW"));
  EXPECT_THAT(actions_for(*privileged, "sethostname"), ElementsAre("SCMP_ACT_ALLOW"));

  // Caps given without prefix match as well.
  auto short_names = convert_seccomp_profile(profile_, {"amd64", {"sys_admin"}, {6, 1}});
  ASSERT_TRUE(short_names);
  EXPECT_THAT(actions_for(*short_names, "bpf"), ElementsAre("SCMP_ACT_ALLOW"));
}

TEST_F(DebianProfile, ArchitectureFilter) {
  auto amd64 = convert_seccomp_profile(profile_, {"amd64", default_caps(), {6, 1}});
  auto arm64 = convert_seccomp_profile(profile_, {"arm64", default_caps(), {6, 1}});
  ASSERT_TRUE(amd64 && arm64);
  EXPECT_THAT((*arm64)["architectures"].get<std::vector<std::string>>(),
              ElementsAre("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"));
  EXPECT_THAT(actions_for(*amd64, "arch_prctl"), ElementsAre("SCMP_ACT_ALLOW"));
  EXPECT_TRUE(actions_for(*arm64, "arch_prctl").empty());
  EXPECT_TRUE(actions_for(*amd64, "breakpoint").empty());
  EXPECT_THAT(actions_for(*arm64, "breakpoint"), ElementsAre("SCMP_ACT_ALLOW"));

  auto unknown = convert_seccomp_profile(profile_, {"vax", default_caps(), {6, 1}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kUnsupported);
}

TEST_F(DebianProfile, LoadAndUnconfined) {
  auto unconfined = load_seccomp(SeccompMode::kUnconfined, {});
  ASSERT_TRUE(unconfined);
  EXPECT_FALSE(unconfined->has_value());

  auto kernel = running_kernel();
  ASSERT_TRUE(kernel) << kernel.error().message;
  auto loaded = load_seccomp(SeccompMode::kProfile, {"amd64", default_caps(), *kernel});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((**loaded)["defaultAction"], "SCMP_ACT_ERRNO");
}

TEST(SeccompProfile, MissingFileSaysWhichPackage) {
  auto loaded = load_seccomp(SeccompMode::kProfile, {}, "/nonexistent/seccomp.json");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::kNotFound);
  EXPECT_THAT(loaded.error().message, HasSubstr("golang-github-containers-common"));
}

constexpr std::string_view kFixture = R"({
  "defaultAction": "SCMP_ACT_ERRNO",
  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
  "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
    {"name": "legacy_single", "action": "SCMP_ACT_ALLOW"},
    {"names": ["new_in_5_10"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
    {"names": ["old_only"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
    {"names": ["two_caps"], "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
    {"names": ["not_on_x32"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
    {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
     "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
  ]
})";

TEST(SeccompProfile, MinKernelCapsArgsAndLegacyName) {
  auto old_kernel = convert_seccomp_profile(kFixture, {"amd64", {"CAP_SYS_ADMIN"}, {4, 19}});
  ASSERT_TRUE(old_kernel) << old_kernel.error().message;
  EXPECT_TRUE(actions_for(*old_kernel, "new_in_5_10").empty());
  EXPECT_EQ(actions_for(*old_kernel, "old_only").size(), 1u);
  EXPECT_TRUE(actions_for(*old_kernel, "two_caps").empty());  // needs both caps
  EXPECT_TRUE(actions_for(*old_kernel, "not_on_x32").empty());
  EXPECT_EQ(actions_for(*old_kernel, "legacy_single").size(), 1u);
  EXPECT_FALSE(old_kernel->contains("defaultErrnoRet"));

  auto new_kernel =
      convert_seccomp_profile(kFixture, {"amd64", {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, {5, 10}});
  ASSERT_TRUE(new_kernel);
  EXPECT_EQ(actions_for(*new_kernel, "new_in_5_10").size(), 1u);
  EXPECT_TRUE(actions_for(*new_kernel, "old_only").empty());
  EXPECT_EQ(actions_for(*new_kernel, "two_caps").size(), 1u);

  const json* personality = nullptr;
  for (const auto& rule : (*new_kernel)["syscalls"]) {
    if (rule["names"][0] == "personality") personality = &rule;
  }
  ASSERT_NE(personality, nullptr);
  EXPECT_EQ((*personality)["errnoRet"], 1);
  EXPECT_EQ((*personality)["args"],
            json::parse(R"([{"index":0,"value":8,"valueTwo":0,"op":"SCMP_CMP_EQ"}])"));

  // archMap without an entry for the target: no architectures, as Docker (runtime uses native).
  auto arm = convert_seccomp_profile(kFixture, {"arm64", {}, {6, 1}});
  ASSERT_TRUE(arm);
  EXPECT_TRUE((*arm)["architectures"].empty());
}

TEST(SeccompProfile, BadProfilesNameTheProblem) {
  struct Bad {
    std::string_view profile;
    std::string_view message;
  };
  const std::vector<Bad> cases = {
      {"not json", "not a JSON object"},
      {R"({"syscalls": []})", "defaultAction is missing"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
           "action": "SCMP_ACT_ALLOW"}]})",
       "syscalls[0] sets both name and names"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]})",
       "syscalls[0] names no syscall"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"],
           "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]})",
       "includes.minKernel"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
           "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]})",
       "both architectures and archMap"},
  };
  for (const auto& c : cases) {
    auto oci = convert_seccomp_profile(c.profile, {"amd64", {}, {6, 1}});
    ASSERT_FALSE(oci) << c.profile;
    EXPECT_EQ(oci.error().code, Errc::kInvalidArgument);
    EXPECT_THAT(oci.error().message, HasSubstr(c.message));
  }
}

TEST(KernelVersion, Parse) {
  EXPECT_EQ(*KernelVersion::parse("6.18.44-fc-v669"), (KernelVersion{6, 18}));
  EXPECT_EQ(*KernelVersion::parse("4.8"), (KernelVersion{4, 8}));
  EXPECT_LT((KernelVersion{4, 19}), (KernelVersion{5, 0}));
  EXPECT_FALSE(KernelVersion::parse("six"));
  EXPECT_FALSE(KernelVersion::parse("6"));
}

}  // namespace
}  // namespace zlayer::runtime::linux
