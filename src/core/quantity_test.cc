#include "core/quantity.h"

#include <gtest/gtest.h>

namespace zlayer {
namespace {

TEST(ByteQuantity, DockerAndKubernetesForms) {
  EXPECT_EQ(parse_byte_quantity("1048576").value(), 1048576u);
  EXPECT_EQ(parse_byte_quantity("64m").value(), 64u << 20);
  EXPECT_EQ(parse_byte_quantity("64M").value(), 64u << 20);
  EXPECT_EQ(parse_byte_quantity("512Mi").value(), 512u << 20);
  EXPECT_EQ(parse_byte_quantity("1Gi").value(), 1u << 30);
  EXPECT_EQ(parse_byte_quantity("1g").value(), 1u << 30);
  EXPECT_EQ(parse_byte_quantity("100M").value(), 100u << 20);
  EXPECT_EQ(parse_byte_quantity("512k").value(), 512u << 10);
  EXPECT_EQ(parse_byte_quantity("2Ti").value(), 2ull << 40);
  EXPECT_EQ(parse_byte_quantity("1Ei").value(), 1ull << 60);
  EXPECT_EQ(parse_byte_quantity("1.5g").value(), 3ull << 29);
  EXPECT_EQ(parse_byte_quantity("64mb").value(), 64u << 20);  // docker CLI accepts the b
  EXPECT_EQ(parse_byte_quantity("1GiB").value(), 1u << 30);
  EXPECT_EQ(parse_byte_quantity("100b").value(), 100u);
}

TEST(ByteQuantity, SpecFormRefusesByteSuffix) {
  ByteQuantityForm spec{.allow_byte_suffix = false};
  EXPECT_EQ(parse_byte_quantity("512Mi", spec).value(), 512u << 20);
  auto bad = parse_byte_quantity("512MB", spec);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().message, "\"512MB\" is not a size like 64m, 512Mi or 1048576");
}

TEST(ByteQuantity, RejectsMalformed) {
  for (const char* text : {"", "m", "-1m", "12x", "1.m", "1 m", "1E", "1ib", ".5g"}) {
    EXPECT_FALSE(parse_byte_quantity(text)) << text;
  }
  // Kubernetes suffixes are case-exact in the spec; the docker CLI takes any case.
  ByteQuantityForm spec{.allow_byte_suffix = false};
  EXPECT_FALSE(parse_byte_quantity("1mi", spec));
  EXPECT_FALSE(parse_byte_quantity("1MI", spec));
  EXPECT_EQ(parse_byte_quantity("1MI").value(), 1u << 20);
  auto huge = parse_byte_quantity("9Ei");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message, "\"9Ei\" is too large (at most 8 EiB)");
}

TEST(CpuQuantity, CoresAndMillicores) {
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("0.5").value(), 0.5);
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("2").value(), 2.0);
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("500m").value(), 0.5);
  EXPECT_DOUBLE_EQ(parse_cpu_quantity("1500m").value(), 1.5);
  for (const char* text : {"0", "0m", "-1", "1.5x", "m", "", "1 core"}) {
    EXPECT_FALSE(parse_cpu_quantity(text)) << text;
  }
  EXPECT_EQ(parse_cpu_quantity("two").error().message,
            "\"two\" is not a CPU amount like 0.5, 2 or 500m (millicores)");
}

}  // namespace
}  // namespace zlayer
