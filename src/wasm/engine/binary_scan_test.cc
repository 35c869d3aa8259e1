#include "wasm/engine/binary_scan.h"

#include <gtest/gtest.h>

#include <vector>

namespace zlayer::wasm::detail {
namespace {

TEST(WasmBinaryScan, ClassifiesThePreamble) {
  const std::uint8_t core[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  const std::uint8_t component[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  const std::uint8_t v2[] = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
  const std::uint8_t text[] = {'(', 'm', 'o', 'd'};
  EXPECT_EQ(classify_preamble(core, sizeof core), Preamble::kCoreModule);
  EXPECT_EQ(classify_preamble(component, sizeof component), Preamble::kComponent);
  EXPECT_EQ(classify_preamble(v2, sizeof v2), Preamble::kOtherVersion);
  EXPECT_EQ(classify_preamble(core, 6), Preamble::kOtherVersion);
  EXPECT_EQ(classify_preamble(text, sizeof text), Preamble::kNotBinary);
  EXPECT_EQ(classify_preamble(nullptr, 0), Preamble::kNotBinary);
}

TEST(WasmBinaryScan, LocatesOffsetsInSectionsAndFunctionBodies) {
  // One imported function, then two defined ones: code bodies are functions 1 and 2.
  const std::vector<std::uint8_t> b = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                    // 0: preamble
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00,                                // 8: type
      0x02, 0x07, 0x01, 0x01, 0x65, 0x01, 0x66, 0x00, 0x00,              // 14: import e.f
      0x03, 0x03, 0x02, 0x00, 0x00,                                      // 23: function
      0x0a, 0x07, 0x02, 0x02, 0x00, 0x0b, 0x02, 0x00, 0x0b};             // 28: code
  EXPECT_EQ(describe_offset(b.data(), b.size(), 3), "preamble");
  EXPECT_EQ(describe_offset(b.data(), b.size(), 10), "type section");
  EXPECT_EQ(describe_offset(b.data(), b.size(), 18), "import section");
  EXPECT_EQ(describe_offset(b.data(), b.size(), 32), "code section, function 1");
  EXPECT_EQ(describe_offset(b.data(), b.size(), 35), "code section, function 2");
  // Garbage after the preamble: still an answer, never a read out of range.
  std::vector<std::uint8_t> junk(b.begin(), b.begin() + 8);
  junk.insert(junk.end(), {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x05});
  EXPECT_FALSE(describe_offset(junk.data(), junk.size(), 12).empty());
  EXPECT_FALSE(describe_offset(junk.data(), junk.size(), 1000).empty());
}

}  // namespace
}  // namespace zlayer::wasm::detail
