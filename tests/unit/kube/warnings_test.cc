#include "operator/kube/warnings.h"

#include <gtest/gtest.h>

namespace kubegrant::kube {
namespace {

using Texts = std::vector<std::string>;

TEST(ParseWarningHeader, ReadsOneWarnValue) {
  EXPECT_EQ(parseWarningHeader(R"(299 - "policy payments-oncall matched")"),
            Texts{"policy payments-oncall matched"});
}

TEST(ParseWarningHeader, SplitsJoinedHeadersButNotCommasInsideTheText) {
  EXPECT_EQ(parseWarningHeader(R"(299 - "needs 1 approval, from payments-leads", 299 - "b")"),
            (Texts{"needs 1 approval, from payments-leads", "b"}));
}

TEST(ParseWarningHeader, UnescapesQuotesAndSkipsADateAndOtherCodes) {
  EXPECT_EQ(
      parseWarningHeader(
          R"(299 kube-apiserver "say \"hi\"" "Sun, 29 Nov 2026 10:00:00 GMT", 110 - "stale")"),
      Texts{"say \"hi\""});
}

TEST(ParseWarningHeader, KeepsWhatCameBeforeAMalformedPart) {
  EXPECT_EQ(parseWarningHeader(R"(299 - "ok", garbage)"), Texts{"ok"});
  EXPECT_EQ(parseWarningHeader(R"(299 - "unterminated)"), Texts{});
  EXPECT_EQ(parseWarningHeader(""), Texts{});
}

}  // namespace
}  // namespace kubegrant::kube
