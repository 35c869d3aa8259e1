#include "runtime/linux/security_defaults.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zlayer::runtime::linux {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

std::vector<std::string> defaults() {
  return {kDefaultCapabilities.begin(), kDefaultCapabilities.end()};
}

TEST(Capabilities, DefaultSetMaskIsDockers) {
  auto caps = effective_capabilities({}, 40);
  ASSERT_TRUE(caps);
  EXPECT_EQ(*caps, defaults());
  auto mask = capability_mask(*caps);
  ASSERT_TRUE(mask);
  // `docker run busybox grep CapEff /proc/self/status` prints 00000000a80425fb.
  EXPECT_EQ(*mask, 0xa80425fbull);
}

TEST(Capabilities, NamesWithOrWithoutPrefixAnyCase) {
  EXPECT_EQ(*normalize_capability("net_admin"), "CAP_NET_ADMIN");
  EXPECT_EQ(*normalize_capability("CAP_NET_ADMIN"), "CAP_NET_ADMIN");
  EXPECT_EQ(*normalize_capability("Cap_Sys_Admin"), "CAP_SYS_ADMIN");
  EXPECT_EQ(*normalize_capability("all"), "ALL");
  EXPECT_EQ(*capability_number("SYS_ADMIN"), 21);
  EXPECT_EQ(*capability_number("CAP_CHECKPOINT_RESTORE"), 40);
  auto bad = normalize_capability("NET_WIZARD");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "unknown capability \"NET_WIZARD\"");
  EXPECT_FALSE(capability_number("ALL"));
}

TEST(Capabilities, AddAndDrop) {
  auto caps = effective_capabilities(
      {.cap_add = {"NET_ADMIN", "cap_chown"}, .cap_drop = {"mknod", "CAP_NET_RAW"}}, 40);
  ASSERT_TRUE(caps);
  EXPECT_THAT(*caps, Contains("CAP_NET_ADMIN"));
  EXPECT_THAT(*caps, Not(Contains("CAP_MKNOD")));
  EXPECT_THAT(*caps, Not(Contains("CAP_NET_RAW")));
  EXPECT_EQ(std::count(caps->begin(), caps->end(), "CAP_CHOWN"), 1);  // no duplicate
  EXPECT_EQ(caps->size(), 13u);
  EXPECT_EQ(caps->back(), "CAP_NET_ADMIN");
}

TEST(Capabilities, AddAllDropSome) {
  auto caps = effective_capabilities({.cap_add = {"ALL"}, .cap_drop = {"SYS_ADMIN"}}, 40);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps->size(), 40u);
  EXPECT_THAT(*caps, Not(Contains("CAP_SYS_ADMIN")));
  EXPECT_THAT(*caps, Contains("CAP_SYS_MODULE"));
}

TEST(Capabilities, DropAllKeepsOnlyAdded) {
  auto caps = effective_capabilities({.cap_add = {"net_bind_service"}, .cap_drop = {"all"}}, 40);
  ASSERT_TRUE(caps);
  EXPECT_THAT(*caps, ElementsAre("CAP_NET_BIND_SERVICE"));
  caps = effective_capabilities({.cap_drop = {"ALL"}}, 40);
  ASSERT_TRUE(caps);
  EXPECT_TRUE(caps->empty());
}

TEST(Capabilities, PrivilegedIsEverythingTheKernelKnows) {
  auto caps = effective_capabilities({.cap_drop = {"CHOWN"}, .privileged = true}, 37);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps->size(), 38u);
  EXPECT_EQ(caps->front(), "CAP_CHOWN");
  EXPECT_EQ(caps->back(), "CAP_AUDIT_READ");

  auto last = kernel_last_capability();
  ASSERT_TRUE(last) << last.error().message;
  EXPECT_GE(*last, 37);
  caps = effective_capabilities({.privileged = true}, *last);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps->size(), static_cast<std::size_t>(std::min(*last, 40) + 1));
}

TEST(Capabilities, UnknownNameIsAnError) {
  auto caps = effective_capabilities({.cap_add = {"SYS_WIZARD"}}, 40);
  ASSERT_FALSE(caps);
  EXPECT_EQ(caps.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(caps.error().message, ::testing::HasSubstr("SYS_WIZARD"));
}

TEST(SecurityPaths, MaskedAndReadonlyLikeDocker) {
  EXPECT_EQ(masked_paths(false).size(), 11u);
  EXPECT_THAT(masked_paths(false), Contains("/proc/kcore"));
  EXPECT_THAT(masked_paths(false), Contains("/sys/devices/virtual/powercap"));
  EXPECT_THAT(readonly_paths(false), ElementsAre("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                 "/proc/sysrq-trigger"));
  EXPECT_TRUE(masked_paths(true).empty());
  EXPECT_TRUE(readonly_paths(true).empty());
  EXPECT_TRUE(default_no_new_privileges(false));
  EXPECT_FALSE(default_no_new_privileges(true));
}

TEST(DefaultMounts, DockersSetWithShmSize) {
  auto mounts = default_mounts();
  std::vector<std::string> destinations;
  for (const auto& m : mounts) destinations.push_back(m["destination"]);
  EXPECT_THAT(destinations, ElementsAre("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                        "/sys", "/sys/fs/cgroup"));
  EXPECT_THAT(mounts[3]["options"].get<std::vector<std::string>>(), Contains("size=65536k"));
  EXPECT_THAT(mounts[5]["options"].get<std::vector<std::string>>(), Contains("ro"));
  EXPECT_THAT(mounts[6]["options"].get<std::vector<std::string>>(), Contains("ro"));

  auto privileged = default_mounts({.shm_size_bytes = 1ull << 30, .privileged = true});
  EXPECT_THAT(privileged[3]["options"].get<std::vector<std::string>>(), Contains("size=1048576k"));
  EXPECT_THAT(privileged[5]["options"].get<std::vector<std::string>>(), Contains("rw"));
}

TEST(DefaultDevices, DenyAllThenRuncAllowList) {
  auto rules = default_device_rules(false);
  ASSERT_EQ(rules.size(), 12u);
  EXPECT_EQ(rules[0], nlohmann::json({{"allow", false}, {"access", "rwm"}}));
  EXPECT_EQ(rules[1],
            nlohmann::json(
                {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 3}, {"access", "rwm"}}));
  // mknod wildcard: no major/minor at all.
  EXPECT_EQ(rules[7], nlohmann::json({{"allow", true}, {"type", "c"}, {"access", "m"}}));
  EXPECT_EQ(rules[9],
            nlohmann::json({{"allow", true}, {"type", "c"}, {"major", 136}, {"access", "rwm"}}));
  auto all = default_device_rules(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["allow"], true);
}

TEST(OciCapabilities, Shape) {
  auto json = oci_capabilities({"CAP_KILL"});
  EXPECT_EQ(json["bounding"], nlohmann::json({"CAP_KILL"}));
  EXPECT_EQ(json["effective"], nlohmann::json({"CAP_KILL"}));
  EXPECT_EQ(json["permitted"], nlohmann::json({"CAP_KILL"}));
  EXPECT_TRUE(json["inheritable"].empty());
  EXPECT_TRUE(json["ambient"].empty());
}

}  // namespace
}  // namespace zlayer::runtime::linux
