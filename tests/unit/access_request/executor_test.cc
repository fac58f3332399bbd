#include "controllers/access_request/executor.h"

#include <gtest/gtest.h>

#include "operator/runtime/testing/fake_client.h"
#include "tests/unit/access_request/fixtures.h"

namespace kubegrant::controllers::access_request {
namespace {

using namespace testing;
using nlohmann::json;
using runtime::testing::FakeAction;
using runtime::testing::FakeClient;

// The executor once against the fake client: every effect kind, in order, and what each
// sent to the API server or told the audit log, the Events and the metrics.
TEST(Executor, PerformsEachEffectInOrderAndStopsAtARefusedGrant) {
  FakeClock clock(at("2026-11-29T10:05:00Z"));
  FakeClient client(&clock);
  client.enableStatusSubresource(kube::resources::accessRequests());
  auto stored = client.seed(kube::resources::accessRequests(), kube::Object(makeRequest()));
  auto request = *v1::fromJson<v1::AccessRequest>(stored.body);
  std::vector<std::string> audit, events;
  AuditLog log([&](std::string_view line) { audit.push_back(json::parse(line)["event"]); });
  metrics::Registry registry;
  Executor executor(client, clock,
                    {.audit = &log,
                     .events = [&](const v1::AccessRequest&,
                                   const RequestEvent& e) { events.push_back(e.reason); },
                     .metrics = &registry});

  const DesiredRoleBinding view{"payments", "kubegrant-view", v1::RoleKind::ClusterRole, "view",
                                "alice"};
  v1::AccessRequestStatus active;
  active.phase = v1::Phase::Active;
  auto done = executor.run(
      request, {EnsureRoleBinding{view}, WriteStatus{active}, CountTransition{v1::Phase::Active},
                Record{AuditEvent::Granted, request, {"bob"}, "Normal", "Granted", "granted"},
                ObserveLatency{Latency::ApprovalToActive, at("2026-11-29T10:04:59Z")},
                EnsureRoleBinding{view}, RemoveRoleBinding{{"payments", "kubegrant-view"}, true}});
  ASSERT_TRUE(done) << done.error().describe();
  EXPECT_FALSE(done->has_value());
  std::vector<std::string> calls;
  for (const auto& a : client.actions()) calls.push_back(a.verb + " " + a.resource);
  EXPECT_EQ(calls, (std::vector<std::string>{
                       "get rolebindings.rbac.authorization.k8s.io",
                       "create rolebindings.rbac.authorization.k8s.io",
                       "updateStatus accessrequests.kubegrant.io",
                       "get rolebindings.rbac.authorization.k8s.io",  // exists: adopted
                       "delete rolebindings.rbac.authorization.k8s.io"}));
  EXPECT_EQ(audit, std::vector<std::string>{"granted"});
  EXPECT_EQ(events, std::vector<std::string>{"Granted"});
  auto text = registry.render();
  EXPECT_NE(text.find("kubegrant_accessrequest_transitions_total{phase=\"Active\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("kubegrant_accessrequest_approval_to_active_seconds_count 1"),
            std::string::npos);

  // The status write carried the read's resourceVersion: a second one from it is stale.
  done = executor.run(request, {WriteStatus{active}});
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code, ErrorCode::Conflict);

  // A grant refused for good stops the run: nothing after it happens.
  client.addReactor([](const FakeAction& a) -> std::optional<Error> {
    if (a.verb == "create") return makeError(ErrorCode::Forbidden, "cannot bind view");
    return std::nullopt;
  });
  client.clearActions();
  done = executor.run(request, {EnsureRoleBinding{view}, WriteStatus{active}});
  ASSERT_TRUE(done);
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->reason, "GrantForbidden");
  EXPECT_NE((*done)->message.find("cannot create RoleBinding payments/kubegrant-view"),
            std::string::npos);
  for (const auto& a : client.actions()) EXPECT_NE(a.verb, "updateStatus");
}

// A break-glass approval (the BreakGlass Event) is counted for the chart's
// KubegrantBreakGlassUsed alert; an ordinary approval is not.
TEST(Executor, CountsBreakGlassApprovals) {
  FakeClock clock(at("2026-11-29T10:05:00Z"));
  FakeClient client(&clock);
  auto request = *v1::fromJson<v1::AccessRequest>(makeRequest());
  metrics::Registry registry;
  Executor executor(client, clock, {.metrics = &registry});
  auto done = executor.run(
      request,
      {Record{AuditEvent::Approved, request, {"bob"}, "Normal", "Approved", "approved by bob"},
       Record{AuditEvent::Approved,
              request,
              {},
              "Warning",
              "BreakGlass",
              "approved automatically (break-glass)"}});
  ASSERT_TRUE(done) << done.error().describe();
  EXPECT_NE(registry.render().find("kubegrant_accessrequest_break_glass_total 1\n"),
            std::string::npos)
      << registry.render();
}

// A RoleBinding of the wanted name that is another request's (or not kubegrant's) is never
// adopted, replaced or deleted: the grant is refused (GrantConflict) and nothing after it runs.
TEST(Executor, RefusesToAdoptARoleBindingOwnedByAnotherRequest) {
  FakeClock clock(at("2026-11-29T10:05:00Z"));
  FakeClient client(&clock);
  client.enableStatusSubresource(kube::resources::accessRequests());
  auto stored = client.seed(kube::resources::accessRequests(), kube::Object(makeRequest()));
  auto request = *v1::fromJson<v1::AccessRequest>(stored.body);
  auto otherJson = makeRequest("other");
  otherJson["metadata"]["uid"] = "uid-other";
  const auto other = *v1::fromJson<v1::AccessRequest>(otherJson);
  const DesiredRoleBinding view{"payments", "kubegrant-view", v1::RoleKind::ClusterRole, "view",
                                "alice"};
  const kube::ObjectKey key{"payments", "kubegrant-view"};
  v1::AccessRequestStatus active;
  active.phase = v1::Phase::Active;
  Executor executor(client, clock, {});

  auto theirs =
      client.seed(kube::resources::roleBindings(), kube::Object(roleBindingJson(view, other)));
  client.clearActions();
  auto done = executor.run(request, {EnsureRoleBinding{view}, WriteStatus{active}});
  ASSERT_TRUE(done) << done.error().describe();
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->reason, "GrantConflict");
  EXPECT_NE((*done)->message.find("cannot create RoleBinding payments/kubegrant-view for "
                                  "ClusterRole view: a RoleBinding of that name belongs to "
                                  "another request (uid uid-other)"),
            std::string::npos)
      << (*done)->message;
  for (const auto& a : client.actions()) {
    EXPECT_TRUE(a.verb == "get" || a.verb == "create") << a.verb << " " << a.resource;
  }
  auto still = client.peek(kube::resources::roleBindings(), key);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->uid(), theirs.uid());
  EXPECT_EQ(still->body["metadata"]["labels"][std::string(kRequestUidLabel)], "uid-other");

  // Not kubegrant's at all: refused the same way, naming that.
  auto plain = roleBindingJson(view, other);
  plain["metadata"].erase("labels");
  ASSERT_TRUE(client.remove(kube::resources::roleBindings(), key, {}));
  client.seed(kube::resources::roleBindings(), kube::Object(plain));
  done = executor.run(request, {EnsureRoleBinding{view}, WriteStatus{active}});
  ASSERT_TRUE(done) << done.error().describe();
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ((*done)->reason, "GrantConflict");
  EXPECT_NE((*done)->message.find("exists and is not kubegrant's"), std::string::npos)
      << (*done)->message;
  EXPECT_FALSE(
      client.peek(kube::resources::roleBindings(), key)->body["metadata"].contains("labels"));
}

}  // namespace
}  // namespace kubegrant::controllers::access_request
