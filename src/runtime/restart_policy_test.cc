#include "runtime/restart_policy.h"

#include <gtest/gtest.h>

namespace zlayer::runtime {
namespace {

using namespace std::chrono_literals;
using Kind = RestartPolicy::Kind;

TEST(RestartPolicyTest, ParsesDockersForms) {
  EXPECT_EQ(*parse_restart_policy("no"), (RestartPolicy{Kind::kNo, 0}));
  EXPECT_EQ(*parse_restart_policy("always"), (RestartPolicy{Kind::kAlways, 0}));
  EXPECT_EQ(*parse_restart_policy("unless-stopped"), (RestartPolicy{Kind::kUnlessStopped, 0}));
  EXPECT_EQ(*parse_restart_policy("on-failure"), (RestartPolicy{Kind::kOnFailure, 0}));
  EXPECT_EQ(*parse_restart_policy("on-failure:3"), (RestartPolicy{Kind::kOnFailure, 3}));
  for (std::string_view text : {"on-failure:3", "on-failure", "always", "no", "unless-stopped"}) {
    EXPECT_EQ(format_restart_policy(*parse_restart_policy(text)), text);
  }
}

TEST(RestartPolicyTest, RefusesOtherText) {
  for (std::string_view text :
       {"", "yes", "On-failure", "on-failure:", "on-failure:-1", "on-failure:x", "always:2"}) {
    auto parsed = parse_restart_policy(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find("on-failure:N"), std::string::npos);
  }
}

TEST(RestartPolicyTest, DecidesLikeDocker) {
  const RestartPolicy no{}, always{Kind::kAlways, 0}, failure2{Kind::kOnFailure, 2},
      failure{Kind::kOnFailure, 0};
  EXPECT_FALSE(should_restart(no, 1, 0, false));
  EXPECT_TRUE(should_restart(always, 0, 100, false));
  EXPECT_FALSE(should_restart(always, 137, 0, /*stopped_by_user=*/true));
  EXPECT_FALSE(should_restart(failure2, 0, 0, false));
  EXPECT_TRUE(should_restart(failure2, 1, 0, false));
  EXPECT_TRUE(should_restart(failure2, 137, 1, false));
  EXPECT_FALSE(should_restart(failure2, 1, 2, false));
  EXPECT_TRUE(should_restart(failure, 1, 1000, false));
}

TEST(RestartPolicyTest, BackoffDoublesCapsAndResets) {
  RestartBackoff backoff;
  EXPECT_EQ(backoff.next(0ms), 100ms);
  EXPECT_EQ(backoff.next(5ms), 200ms);
  EXPECT_EQ(backoff.next(9999ms), 400ms);
  for (int i = 0; i < 20; ++i) (void)backoff.next(1ms);
  EXPECT_EQ(backoff.next(1ms), 60s);
  EXPECT_EQ(backoff.next(10s), 100ms);
  EXPECT_EQ(backoff.next(1ms), 200ms);
}

}  // namespace
}  // namespace zlayer::runtime
