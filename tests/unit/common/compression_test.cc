#include "operator/common/compression.h"

#include <gtest/gtest.h>

#include <string>

namespace kubegrant {
namespace {

TEST(Compression, RoundTripsWithAndWithoutADictionaryAndTheDictionaryPaysOff) {
  const std::string dictionary = R"({"apiVersion":"kubegrant.io/v1alpha1","kind":"AccessRequest"})";
  std::string text;
  for (int i = 0; i < 3; ++i)
    text += R"({"apiVersion":"kubegrant.io/v1alpha1","kind":"AccessRequest","n":)" +
            std::to_string(i) + "}";
  for (const std::string& dict : {std::string(), dictionary}) {
    const std::string packed = compress(text, dict);
    ASSERT_FALSE(packed.empty());
    auto back = decompress(packed, dict);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, text);
  }
  const std::string one = R"({"apiVersion":"kubegrant.io/v1alpha1","kind":"AccessRequest","n":1})";
  EXPECT_LT(compress(one, dictionary).size(), compress(one).size() / 2);
  // Empty input and large input (more than one inflate chunk).
  EXPECT_EQ(*decompress(compress("", dictionary), dictionary), "");
  const std::string big(100'000, 'x');
  EXPECT_EQ(*decompress(compress(big)), big);
}

TEST(Compression, BytesThatAreNotItsOwnOrTruncatedAreInvalid) {
  const std::string dictionary = "the shared text of every object";
  const std::string packed = compress("the shared text of every object, and then some", dictionary);
  auto truncated = decompress(packed.substr(0, packed.size() / 2), dictionary);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::Invalid);
  auto garbage = decompress("\xff\xff\xff\xff not deflate", dictionary);
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code, ErrorCode::Invalid);
  // Another dictionary never yields the original text.
  auto other = decompress(packed, "a different dictionary of the same size...");
  EXPECT_TRUE(!other || *other != "the shared text of every object, and then some");
}

}  // namespace
}  // namespace kubegrant
