#include "core/container_id.h"

#include <gtest/gtest.h>

namespace zlayer {
namespace {

TEST(ContainerId, PrintsOneBasedReplica) {
  EXPECT_EQ((ContainerId{"web", 1}).str(), "web-rep-1");
  EXPECT_EQ((ContainerId{"api-v2", 12}).str(), "api-v2-rep-12");
}

TEST(ContainerId, ParsePrintRoundTrip) {
  for (const char* text : {"web-rep-1", "a-rep-99", "my-rep-svc-rep-3", "x1-rep-4294967295"}) {
    auto id = ContainerId::parse(text);
    ASSERT_TRUE(id) << text << ": " << id.error().message;
    EXPECT_EQ(id->str(), text);
  }
  auto nested = ContainerId::parse("my-rep-svc-rep-3");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->service, "my-rep-svc");
  EXPECT_EQ(nested->replica, 3u);
}

TEST(ContainerId, RejectsMalformedAndQuotesIt) {
  for (const char* text : {"web", "web-rep-0", "web-rep-", "web-rep-01", "web-rep-x", "-rep-1",
                           "Web-rep-1", "web_a-rep-1", "web-rep-1a", "web-rep-99999999999"}) {
    auto id = ContainerId::parse(text);
    ASSERT_FALSE(id) << text;
    EXPECT_EQ(id.error().code, Errc::kInvalidArgument);
    EXPECT_NE(id.error().message.find(text), std::string::npos) << id.error().message;
  }
}

}  // namespace
}  // namespace zlayer
