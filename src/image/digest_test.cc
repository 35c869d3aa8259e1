#include "image/digest.h"

#include <gtest/gtest.h>

namespace zlayer::image {
namespace {

TEST(Digest, Sha256OfKnownVectors) {
  EXPECT_EQ(sha256_of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.update("ab");
  h.update("c");
  EXPECT_EQ(h.finish().hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // finish() resets: the object hashes afresh.
  EXPECT_EQ(h.finish().hex, sha256_of("").hex);
}

TEST(Digest, ParseRoundTripAndErrors) {
  auto d = Digest::parse("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->short_hex(), "ba7816bf8f01");
  for (const char* bad :
       {"sha256", "sha256:abc", "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}) {
    auto r = Digest::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace zlayer::image
