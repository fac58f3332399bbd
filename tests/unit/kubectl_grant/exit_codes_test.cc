#include "operator/kubectl_grant/exit_codes.h"

#include <gtest/gtest.h>

namespace kubegrant::kubectl_grant {
namespace {

using v1alpha1::Phase;

TEST(ExitCodes, ARefusalByTheServerIsThreeAndAMissingRequestFour) {
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::Forbidden, "webhook said no")), ExitCode::Refused);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::Invalid, "bad")), ExitCode::Refused);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::AlreadyExists, "taken")), ExitCode::Refused);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::Unauthorized, "who")), ExitCode::Refused);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::NotFound, "gone")), ExitCode::NotFound);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::Unavailable, "down")), ExitCode::Error);
  EXPECT_EQ(exitCodeFor(makeError(ErrorCode::Timeout, "slow")), ExitCode::Error);
}

TEST(ExitCodes, EachFinalPhaseOfAWaitHasItsOwnCode) {
  EXPECT_EQ(exitCodeForPhase(Phase::Active), ExitCode::Ok);
  EXPECT_EQ(exitCodeForPhase(Phase::Denied), ExitCode::Denied);
  EXPECT_EQ(exitCodeForPhase(Phase::Expired), ExitCode::Expired);
  EXPECT_EQ(exitCodeForPhase(Phase::Failed), ExitCode::Failed);
  EXPECT_EQ(exitCodeForPhase(Phase::Revoked), ExitCode::Revoked);
  EXPECT_EQ(exitCodeForPhase(Phase::Pending), std::nullopt);
  EXPECT_EQ(exitCodeForPhase(Phase::Approved), std::nullopt);
}

TEST(ExitCodes, TheHelpListsEveryCodeWithItsNumber) {
  const std::string help = exitCodesHelp();
  for (ExitCode c : {ExitCode::Ok, ExitCode::Error, ExitCode::Usage, ExitCode::Refused,
                     ExitCode::NotFound, ExitCode::Denied, ExitCode::Expired, ExitCode::Failed,
                     ExitCode::Revoked, ExitCode::WaitTimeout, ExitCode::Tampered}) {
    EXPECT_NE(help.find("  " + std::to_string(toInt(c)) + "  "), std::string::npos) << toInt(c);
  }
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
