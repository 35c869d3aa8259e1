#include "image/reference.h"

#include <gtest/gtest.h>

namespace zlayer::image {
namespace {

constexpr const char* kHex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Reference, NormalisesLikeDocker) {
  struct Case {
    const char* in;
    const char* full;
    const char* familiar;
  };
  std::string with_digest = std::string("127.0.0.1:5000/ns/name:tag@sha256:") + kHex;
  const Case cases[] = {
      {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
      {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"},
      {"user/app", "docker.io/user/app:latest", "user/app:latest"},
      {"ghcr.io/org/team/app:2.0", "ghcr.io/org/team/app:2.0", "ghcr.io/org/team/app:2.0"},
      {"localhost/app", "localhost/app:latest", "localhost/app:latest"},
      {"localhost:5000/a_b/c__d/e-f.g", "localhost:5000/a_b/c__d/e-f.g:latest",
       "localhost:5000/a_b/c__d/e-f.g:latest"},
      {with_digest.c_str(), with_digest.c_str(), with_digest.c_str()},
  };
  for (const auto& c : cases) {
    auto ref = Reference::parse(c.in);
    ASSERT_TRUE(ref) << c.in << ": " << ref.error().message;
    EXPECT_EQ(ref->str(), c.full) << c.in;
    EXPECT_EQ(ref->familiar(), c.familiar) << c.in;
    auto again = Reference::parse(ref->str());
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *ref);
  }
}

TEST(Reference, DigestOnlyHasNoTag) {
  auto ref = Reference::parse(std::string("busybox@sha256:") + kHex);
  ASSERT_TRUE(ref);
  EXPECT_TRUE(ref->tag.empty());
  EXPECT_EQ(ref->manifest_reference(), std::string("sha256:") + kHex);
  EXPECT_EQ(ref->api_host(), "registry-1.docker.io");
}

TEST(Reference, MalformedIsAnErrorQuotingIt) {
  for (const char* bad :
       {"", "Busybox", "busy box", "busybox:", "busybox:-bad", "a//b", "/busybox", "busybox/",
        "busybox@sha256:xyz", "ho st:5000/x", "localhost:/x", "a..b", "-a", "x:tag with space"}) {
    auto ref = Reference::parse(bad);
    ASSERT_FALSE(ref) << "accepted: " << bad;
    EXPECT_EQ(ref.error().code, Errc::kInvalidArgument);
    EXPECT_NE(ref.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << ref.error().message;
  }
}

TEST(Reference, LoopbackRegistries) {
  EXPECT_TRUE(is_loopback_registry("localhost"));
  EXPECT_TRUE(is_loopback_registry("localhost:5000"));
  EXPECT_TRUE(is_loopback_registry("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_registry("127.1.2.3"));
  EXPECT_TRUE(is_loopback_registry("[::1]:5000"));
  EXPECT_FALSE(is_loopback_registry("docker.io"));
  EXPECT_FALSE(is_loopback_registry("127.example.com"));
  EXPECT_FALSE(is_loopback_registry("10.0.0.1:5000"));
}

}  // namespace
}  // namespace zlayer::image
