#include "runtime/linux/rlimits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

namespace zlayer::runtime::linux {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RlimitType, DockerAndOciNames) {
  EXPECT_EQ(*rlimit_type("nofile"), "RLIMIT_NOFILE");
  EXPECT_EQ(*rlimit_type("NPROC"), "RLIMIT_NPROC");
  EXPECT_EQ(*rlimit_type("RLIMIT_MEMLOCK"), "RLIMIT_MEMLOCK");
  auto bad = rlimit_type("files");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(bad.error().message, HasSubstr("nofile"));
}

TEST(BuildRlimits, FillRulesAndDefaultNofile) {
  RlimitCeilings none;
  auto plan = build_rlimits({{"core", {.soft = 10}},
                             {"memlock", {.hard = 20}},
                             {"stack", {}},
                             {"cpu", {.soft = 1, .hard = kRlimitInfinity}}},
                            none);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(plan->rlimits, ElementsAre(OciRlimit{"RLIMIT_CORE", 10, 10},
                                         OciRlimit{"RLIMIT_CPU", 1, kRlimitInfinity},
                                         OciRlimit{"RLIMIT_MEMLOCK", 20, 20},
                                         OciRlimit{"RLIMIT_NOFILE", kDefaultNofile, kDefaultNofile},
                                         OciRlimit{"RLIMIT_STACK", 0, 0}));
  EXPECT_TRUE(plan->warnings.empty());
}

TEST(BuildRlimits, Errors) {
  auto plan = build_rlimits({{"nofile", {.soft = 10, .hard = 5}}}, {});
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().code, Errc::kInvalidArgument);
  EXPECT_THAT(plan.error().message, HasSubstr("soft limit 10 is above the hard limit 5"));

  plan = build_rlimits({{"nofile", {.soft = 1}}, {"RLIMIT_NOFILE", {.soft = 2}}}, {});
  ASSERT_FALSE(plan);
  EXPECT_THAT(plan.error().message, HasSubstr("both set RLIMIT_NOFILE"));

  plan = build_rlimits({{"bogus", {.soft = 1}}}, {});
  ASSERT_FALSE(plan);
}

TEST(BuildRlimits, ClampsToCeilingWithWarningNamingTheLimit) {
  RlimitCeilings ceilings = {{"RLIMIT_NOFILE", 20000}, {"RLIMIT_NPROC", 500}, {"RLIMIT_CORE", 100}};
  auto plan = build_rlimits({{"nproc", {.soft = 100, .hard = 1000}},
                             {"core", {.soft = 50, .hard = 100}},
                             {"memlock", {.soft = kRlimitInfinity}}},
                            ceilings);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_THAT(
      plan->rlimits,
      ElementsAre(OciRlimit{"RLIMIT_CORE", 50, 100},
                  OciRlimit{"RLIMIT_MEMLOCK", kRlimitInfinity, kRlimitInfinity},
                  OciRlimit{"RLIMIT_NOFILE", 20000, 20000}, OciRlimit{"RLIMIT_NPROC", 100, 500}));
  ASSERT_EQ(plan->warnings.size(), 2u);
  EXPECT_EQ(plan->warnings[0],
            "RLIMIT_NOFILE default 1048576/1048576 (soft/hard) is above the agent's own hard "
            "limit; using 20000/20000");
  EXPECT_EQ(plan->warnings[1],
            "RLIMIT_NPROC ulimit \"nproc\" 100/1000 (soft/hard) is above the agent's own hard "
            "limit; using 100/500");
}

TEST(BuildRlimits, NeverAboveThisProcessHardLimits) {
  auto ceilings = agent_rlimit_ceilings();
  ASSERT_TRUE(ceilings) << ceilings.error().message;
  rlimit nofile{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  ASSERT_EQ(ceilings->at("RLIMIT_NOFILE"), nofile.rlim_max);
  rlimit nproc{};
  ASSERT_EQ(::getrlimit(RLIMIT_NPROC, &nproc), 0);

  auto plan =
      build_rlimits({{"nproc", {.soft = kRlimitInfinity, .hard = kRlimitInfinity}}}, *ceilings);
  ASSERT_TRUE(plan) << plan.error().message;
  for (const auto& limit : plan->rlimits) {
    EXPECT_LE(limit.hard, ceilings->at(limit.type)) << limit.type;
    EXPECT_LE(limit.soft, limit.hard) << limit.type;
  }
  ASSERT_EQ(plan->rlimits.size(), 2u);
  EXPECT_EQ(plan->rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(plan->rlimits[0].hard, std::min<std::uint64_t>(kDefaultNofile, nofile.rlim_max));
  // These machines: NOFILE hard 20000 (machine-facts.md), so the default is clamped and warned.
  if (nofile.rlim_max == 20000) {
    EXPECT_EQ(plan->rlimits[0].soft, 20000u);
    EXPECT_THAT(plan->warnings, ::testing::Contains(HasSubstr("RLIMIT_NOFILE default")));
  }
  EXPECT_EQ(plan->rlimits[1].hard,
            nproc.rlim_max == RLIM_INFINITY ? kRlimitInfinity : nproc.rlim_max);
}

TEST(OciRlimits, Json) {
  auto json = oci_rlimits({{"RLIMIT_NOFILE", 1, kRlimitInfinity}});
  EXPECT_EQ(json.dump(), R"([{"hard":18446744073709551615,"soft":1,"type":"RLIMIT_NOFILE"}])");
}

}  // namespace
}  // namespace zlayer::runtime::linux
