#include "operator/common/time.h"

#include <gtest/gtest.h>

namespace kubegrant {
namespace {

TEST(Rfc3339Test, RoundTripsSecondPrecisionUtc) {
  auto t = parseRfc3339("2026-11-29T10:02:11Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(formatRfc3339(*t), "2026-11-29T10:02:11Z");
}

TEST(Rfc3339Test, AcceptsFractionsAndOffsets) {
  auto a = parseRfc3339("2026-11-29T10:02:11.250000Z");
  auto b = parseRfc3339("2026-11-29T12:02:11.25+02:00");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(formatRfc3339Micro(*a), "2026-11-29T10:02:11.250000Z");
}

TEST(Rfc3339Test, RejectsMalformedInput) {
  for (const char* bad : {"", "2026-11-29", "2026-11-29 10:02:11Z", "2026-13-01T00:00:00Z",
                          "2026-02-31T00:00:00Z", "2026-11-29T10:02:11", "2026-11-29T10:02:11Zx",
                          "2026-11-29T10:02:11.Z", "2026-11-29T25:00:00Z", "yesterday"}) {
    EXPECT_FALSE(parseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kubegrant
