#include "operator/notify/signing.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace kubegrant::notify {
namespace {

using namespace std::chrono_literals;

const std::string kKey = "0123456789abcdef0123456789abcdef";
const TimePoint kNow = TimePoint(std::chrono::seconds(1796000000));

TEST(NotifySigning, MatchesAnIndependentHmacSha256OfTimestampDotBody) {
  // printf '%s' '1796000000.{"text":"hi"}' |
  //   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
  EXPECT_EQ(signature(kKey, "1796000000", R"({"text":"hi"})"),
            "v1=0524dc4c6f046339b1718ee285d2d6f23fdf1464ca87a4513db1655f811dc739");
}

TEST(NotifySigning, AReceiverAcceptsTheGenuineOneAndRejectsForgeriesAndReplays) {
  const std::string body = R"({"event":"active"})";
  const std::string ts = "1796000000";
  const std::string sig = signature(kKey, ts, body);
  EXPECT_TRUE(verifySignature(kKey, ts, body, sig, kNow));
  EXPECT_TRUE(verifySignature(kKey, ts, body, sig, kNow + 299s));
  // Altered body, other key, shifted timestamp: the HMAC fails.
  EXPECT_FALSE(verifySignature(kKey, ts, R"({"event":"ended"})", sig, kNow));
  EXPECT_FALSE(verifySignature(std::string(32, 'x'), ts, body, sig, kNow));
  EXPECT_FALSE(verifySignature(kKey, "1796000001", body, sig, kNow));
  // A replay after the window, or a timestamp that is not a number.
  auto late = verifySignature(kKey, ts, body, sig, kNow + 301s);
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("window"), std::string::npos);
  EXPECT_FALSE(verifySignature(kKey, "17960x0000", body, sig, kNow));
}

TEST(NotifySigning, TheKeyFileMustHoldAtLeast32Bytes) {
  const std::string path = ::testing::TempDir() + "/notify-key";
  std::ofstream(path) << "short\n";
  EXPECT_FALSE(readSigningKey(path));
  std::ofstream(path) << kKey << "\n";
  auto key = readSigningKey(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(*key, kKey);  // the trailing newline is not part of it
  std::remove(path.c_str());
  EXPECT_FALSE(readSigningKey(path));
}

}  // namespace
}  // namespace kubegrant::notify
