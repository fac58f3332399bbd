#include "operator/common/crypto.h"

#include <gtest/gtest.h>

#include <set>

namespace kubegrant {
namespace {

TEST(Crypto, Sha256HexMatchesTheKnownDigest) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, RandomUrlSafeHasTheLengthAndAlphabetAndDoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto v = randomUrlSafe(32);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->size(), 43u);  // 256 bits, base64url without padding
    EXPECT_EQ(
        v->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(*v);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(randomUrlSafe(1)->size(), 2u);
  EXPECT_EQ(randomUrlSafe(2)->size(), 3u);
}

}  // namespace
}  // namespace kubegrant
