// request --wait against the runtime's in-memory FakeClient (which streams watch events as
// writes happen): the outcome decides the exit code, and with -o json the document alone is
// on stdout.

#include "operator/kubectl_grant/commands.h"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "operator/common/time.h"
#include "operator/runtime/testing/fake_client.h"
#include "tests/support/api_examples.h"

namespace kubegrant::kubectl_grant {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class WaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_.enableStatusSubresource(kube::resources::accessRequests());
    client_.seed(kube::resources::accessPolicies(),
                 kube::Object(v1alpha1::toJson(testing::paymentsOncallPolicy())));
  }

  // What the operator does once the request is watched: a Pending status, then `phase`.
  std::jthread operatorMoves(const std::string& phase) {
    return std::jthread([this, phase](std::stop_token st) {
      while (!st.stop_requested() && client_.openWatches() == 0) {
        std::this_thread::sleep_for(5ms);
      }
      auto set = [&](json status) {
        auto r = client_.patch(kube::resources::accessRequests(), {"payments", "debug-orders"},
                               kube::PatchType::Merge, json{{"status", status}},
                               {.subresource = "status"});
        ASSERT_TRUE(r.has_value()) << r.error().describe();
      };
      set({{"phase", "Pending"}, {"message", "waiting for approval"}});
      set({{"phase", phase},
           {"message", phase == "Active" ? "access granted" : "denied by bob"},
           {"expiresAt", formatRfc3339(std::chrono::system_clock::now() + 2h)}});
    });
  }

  ExitCode run(const RequestOptions& options) {
    Context ctx{client_, warnings_, clock_, out_, err_};
    ctx.namespace_ = "payments";
    RequestFlags flags{.policy = "payments-oncall",
                       .roles = {"view"},
                       .reason = "orders stuck",
                       .ticket = "INC-1",
                       .name = "debug-orders"};
    return request(ctx, flags, options);
  }

  runtime::testing::FakeClient client_;
  Warnings warnings_;
  SystemClock clock_;
  std::ostringstream out_, err_;
};

TEST_F(WaitTest, ActiveEndsTheWaitWithZeroAndSaysHowToUseTheAccess) {
  auto mover = operatorMoves("Active");
  EXPECT_EQ(run({.wait = true}), ExitCode::Ok) << err_.str();
  const std::string out = out_.str();
  EXPECT_NE(out.find("accessrequest payments/debug-orders created\n"), std::string::npos) << out;
  EXPECT_NE(out.find("debug-orders Pending  approvals 0/1"), std::string::npos)
      << "one line per change when not on a terminal\n"
      << out;
  EXPECT_NE(out.find("debug-orders is Active: access granted\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ClusterRole/view in namespace payments"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "no redraw off a terminal";
}

TEST_F(WaitTest, DeniedHasItsOwnExitCode) {
  auto mover = operatorMoves("Denied");
  EXPECT_EQ(run({.wait = true}), ExitCode::Denied);
  EXPECT_NE(out_.str().find("debug-orders is Denied: denied by bob"), std::string::npos)
      << out_.str();
}

TEST_F(WaitTest, WithJsonOutputTheProgressGoesToStderr) {
  auto mover = operatorMoves("Active");
  EXPECT_EQ(run({.wait = true, .output = Output::Json}), ExitCode::Ok) << err_.str();
  auto doc = json::parse(out_.str(), nullptr, false);
  ASSERT_TRUE(doc.is_object()) << "stdout is one JSON document:\n" << out_.str();
  EXPECT_EQ(doc["metadata"]["name"], "debug-orders");
  EXPECT_NE(err_.str().find("debug-orders is Active"), std::string::npos) << err_.str();
}

TEST_F(WaitTest, ATimeoutEndsTheWaitWithNineAndLeavesTheRequest) {
  EXPECT_EQ(run({.wait = true, .timeout = 1s}), ExitCode::WaitTimeout);
  EXPECT_NE(out_.str().find("still Pending after the --timeout"), std::string::npos) << out_.str();
  EXPECT_TRUE(client_.peek(kube::resources::accessRequests(), {"payments", "debug-orders"}));
}

TEST_F(WaitTest, DryRunAndWaitExcludeEachOther) {
  EXPECT_EQ(run({.dryRun = true, .wait = true}), ExitCode::Usage);
  EXPECT_TRUE(client_.writes().empty());
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
