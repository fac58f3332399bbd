#include "crds/v1alpha1/policy.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "crds/v1alpha1/duration.h"
#include "operator/common/time.h"
#include "tests/support/api_examples.h"

namespace kubegrant::v1alpha1 {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The API example, plus examples/policy-payments-oncall.yaml's cluster-wide node-viewer.
AccessPolicy paymentsOncall() {
  AccessPolicy p = testing::paymentsOncallPolicy();
  p.spec.clusterRoles = {"node-viewer"};
  return p;
}

AccessRequestSpec goodSpec() {
  AccessRequestSpec s;
  s.policy = "payments-oncall";
  s.duration = "2h";
  s.reason = "orders stuck in pending";
  s.ticket = "INC-4211";
  s.roles = {{RoleKind::ClusterRole, "view", {"payments"}}};
  s.databases = {{"orders-db", "readonly"}};
  s.requester = UserInfo{"alice", {"payments-devs"}};
  return s;
}

const UserInfo kAlice{"alice", {"payments-devs"}};
const UserInfo kBob{"bob", {"payments-leads"}};
const UserInfo kCarol{"carol", {"payments-leads"}};
const UserInfo kMallory{"mallory", {}};

// ---------------------------------------------------------------------------------------
// checkRequest

struct RequestCase {
  std::string name;
  std::function<void(AccessPolicy&, AccessRequestSpec&, UserInfo&)> change;
  std::vector<std::string> fields;  // violated fields, in order; empty = allowed
  std::string message;              // fragment of the first message
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const RequestCase& c, std::ostream* os) { *os << c.name; }

class CheckRequest : public ::testing::TestWithParam<RequestCase> {};

// Applies the case's change to (policy, spec, alice), then checks the violated fields and the
// first message.
void expectViolations(const RequestCase& c, AccessPolicy policy, AccessRequestSpec spec) {
  UserInfo caller = kAlice;
  c.change(policy, spec, caller);
  auto vs = checkRequest(policy, spec, caller, "payments");
  std::vector<std::string> fields;
  for (const auto& v : vs) fields.push_back(v.field);
  EXPECT_EQ(fields, c.fields) << describe(vs);
  if (!c.message.empty() && !vs.empty()) {
    EXPECT_THAT(vs[0].message, HasSubstr(c.message));
  }
}

TEST_P(CheckRequest, ReportsExactlyTheBrokenRules) {
  expectViolations(GetParam(), paymentsOncall(), goodSpec());
}

auto noop = [](AccessPolicy&, AccessRequestSpec&, UserInfo&) {};

INSTANTIATE_TEST_SUITE_P(Table, CheckRequest,
                         ::testing::
                             Values(RequestCase{"TheApiExampleIsAllowed", noop, {}, ""},
                                    RequestCase{"AUserListedByNameIsARequester",
                                                [](auto& p, auto&, auto& u) {
                                                  p.spec.requesters = {{"dave"}, {}};
                                                  u = {"dave", {}};
                                                },
                                                {},
                                                ""},
                                    RequestCase{"AnOutsiderIsNotARequester",
                                                [](auto&, auto&, auto& u) { u = kMallory; },
                                                {"spec.policy"},
                                                "user mallory is not a requester of policy "
                                                "payments-oncall (requesters: "
                                                "groups payments-devs)"},
                                    RequestCase{
                                        "AnApproverIsNotARequesterByThatAlone",
                                        [](auto&, auto&, auto& u) { u = kBob; },
                                        {"spec.policy"},
                                        "user bob (groups: payments-leads) is not a requester"},
                                    RequestCase{"BreakGlassSubjectsMayRequest",
                                                [](auto&, auto&, auto& u) {
                                                  u = {"sam", {"sre-oncall"}};
                                                },
                                                {},
                                                ""},
                                    RequestCase{"ARequestForAnotherPolicy",
                                                [](auto&, auto& s, auto&) { s.policy = "other"; },
                                                {"spec.policy"},
                                                "request names policy \"other\""},
                                    RequestCase{"ARoleNotInThePolicy",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles[0] = {RoleKind::ClusterRole, "admin", {}};
                                                },
                                                {"spec.roles[0].name"},
                                                "role ClusterRole/admin is not allowed by policy "
                                                "payments-oncall (allowed: "
                                                "ClusterRole/view, Role/pod-debugger)"},
                                    RequestCase{"TheRightNameWithTheWrongKind",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles[0].kind = RoleKind::Role;
                                                },
                                                {"spec.roles[0].name"},
                                                "role Role/view is not allowed"},
                                    RequestCase{
                                        "ANamespaceNotInThePolicy",
                                        [](auto&, auto& s, auto&) {
                                          s.roles[0].namespaces = {"payments", "kube-system"};
                                        },
                                        {"spec.roles[0].namespaces[1]"},
                                        "namespace kube-system is not allowed by policy "
                                        "payments-oncall (allowed: "
                                        "payments)"},
                                    RequestCase{"AClusterRoleTheClusterListAllows",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles = {{RoleKind::ClusterRole,
                                                              "node-viewer",
                                                              {},
                                                              RoleScope::Cluster}};
                                                },
                                                {},
                                                ""},
                                    RequestCase{"AClusterRoleThePolicyDoesNotListClusterWide",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles = {{RoleKind::ClusterRole,
                                                              "cluster-admin",
                                                              {},
                                                              RoleScope::Cluster}};
                                                },
                                                {"spec.roles[0].name"},
                                                "cluster-wide role ClusterRole/cluster-admin is "
                                                "not allowed by policy payments-oncall (allowed "
                                                "cluster-wide: node-viewer)"},
                                    RequestCase{"ANamespacedRoleIsNotGrantedClusterWide",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles = {{RoleKind::ClusterRole,
                                                              "view",
                                                              {},
                                                              RoleScope::Cluster}};
                                                },
                                                {"spec.roles[0].name"},
                                                "cluster-wide role ClusterRole/view is not allowed"},
                                    RequestCase{"AClusterScopeUnderANamespacedOnlyPolicy",
                                                [](auto& p, auto& s, auto&) {
                                                  p.spec.clusterRoles.clear();
                                                  s.roles = {{RoleKind::ClusterRole,
                                                              "node-viewer",
                                                              {},
                                                              RoleScope::Cluster}};
                                                },
                                                {"spec.roles[0].scope"},
                                                "policy payments-oncall grants only in namespaces"},
                                    RequestCase{"AClusterScopedRoleNamesNoNamespaces",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles = {{RoleKind::ClusterRole,
                                                              "node-viewer",
                                                              {"payments"},
                                                              RoleScope::Cluster}};
                                                },
                                                {"spec.roles[0].namespaces"},
                                                "must be empty when scope is Cluster"},
                                    RequestCase{"OnlyAClusterRoleHasClusterScope",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles = {{RoleKind::Role,
                                                              "node-viewer",
                                                              {},
                                                              RoleScope::Cluster}};
                                                },
                                                {"spec.roles[0].kind"},
                                                "only a ClusterRole can have"},
                                    RequestCase{"TheDefaultNamespaceIsTheRequestsOwn",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles[0].namespaces.clear();
                                                },
                                                {},
                                                ""},
                                    RequestCase{"TheDefaultNamespaceMustBeAllowedToo",
                                                [](auto& p, auto& s, auto&) {
                                                  s.roles[0].namespaces.clear();
                                                  p.spec.namespaces = {"billing"};
                                                },
                                                {"spec.roles[0].namespaces"},
                                                "namespace payments (the request's own, the "
                                                "default) is not allowed"},
                                    RequestCase{"ADatabaseTargetNotInThePolicy",
                                                [](auto&, auto& s, auto&) {
                                                  s.databases[0].target = "users-db";
                                                },
                                                {"spec.databases[0].target"},
                                                "database target users-db is not allowed by policy "
                                                "payments-oncall (allowed: "
                                                "orders-db)"},
                                    RequestCase{"AProfileNotInThePolicy",
                                                [](auto&, auto& s, auto&) {
                                                  s.databases[0].profile = "readwrite";
                                                },
                                                {"spec.databases[0].profile"},
                                                "profile readwrite of database target orders-db is "
                                                "not allowed by policy "
                                                "payments-oncall (allowed: readonly)"},
                                    RequestCase{"ARequestForNothing",
                                                [](auto&, auto& s, auto&) {
                                                  s.roles.clear();
                                                  s.databases.clear();
                                                },
                                                {"spec"},
                                                "asks for nothing"},
                                    RequestCase{"ADatabaseOnlyRequest",
                                                [](auto&, auto& s, auto&) { s.roles.clear(); },
                                                {},
                                                ""},
                                    RequestCase{
                                        "ADurationThatDoesNotParse",
                                        [](auto&, auto& s, auto&) { s.duration = "2 hours"; },
                                        {"spec.duration"},
                                        "invalid duration \"2 hours\""},
                                    RequestCase{"AZeroDuration",
                                                [](auto&, auto& s, auto&) { s.duration = "0s"; },
                                                {"spec.duration"},
                                                "must be greater than zero"},
                                    RequestCase{"ADurationOverTheMaximum",
                                                [](auto&, auto& s, auto&) { s.duration = "5h"; },
                                                {"spec.duration"},
                                                "duration 5h exceeds the maximum 4h of policy "
                                                "payments-oncall"},
                                    RequestCase{
                                        "ADurationExactlyAtTheMaximum",
                                        [](auto&, auto& s, auto&) { s.duration = "240m"; },
                                        {},
                                        ""},
                                    RequestCase{
                                        "NoDurationTakesTheDefault",
                                        [](auto&, auto& s, auto&) { s.duration.reset(); },
                                        {},
                                        ""},
                                    RequestCase{"NoMaximumMeansAnyPositiveDuration",
                                                [](auto& p, auto& s, auto&) {
                                                  p.spec.maxDuration.reset();
                                                  s.duration = "100h";
                                                },
                                                {},
                                                ""},
                                    RequestCase{
                                        "ABrokenPolicyMaximumIsBlamedOnThePolicy",
                                        [](auto& p, auto&, auto&) {
                                          p.spec.maxDuration = "4 hours";
                                        },
                                        {"spec.policy"},
                                        "policy payments-oncall has an invalid maxDuration"},
                                    RequestCase{"AMissingReason",
                                                [](auto&, auto& s, auto&) { s.reason.reset(); },
                                                {"spec.reason"},
                                                "a reason is required by policy payments-oncall"},
                                    RequestCase{"ABlankReason",
                                                [](auto&, auto& s, auto&) { s.reason = "  \t"; },
                                                {"spec.reason"},
                                                "reason is required"},
                                    RequestCase{"NoReasonWhenNotRequired",
                                                [](auto& p, auto& s, auto&) {
                                                  p.spec.requireReason = false;
                                                  s.reason.reset();
                                                },
                                                {},
                                                ""},
                                    RequestCase{"AMissingTicket",
                                                [](auto&, auto& s, auto&) { s.ticket.reset(); },
                                                {"spec.ticket"},
                                                "a ticket matching ^INC-[0-9]+$ is required by "
                                                "policy payments-oncall"},
                                    RequestCase{"ATicketThatDoesNotMatch",
                                                [](auto&, auto& s, auto&) { s.ticket = "JIRA-12"; },
                                                {"spec.ticket"},
                                                "ticket \"JIRA-12\" does not match ^INC-[0-9]+$"},
                                    RequestCase{"APartialMatchIsNotAMatch",
                                                [](auto& p, auto& s, auto&) {
                                                  p.spec.ticketPattern = "INC-[0-9]+";
                                                  s.ticket = "xINC-1x";
                                                },
                                                {"spec.ticket"},
                                                "does not match"},
                                    RequestCase{
                                        "AnInvalidPatternIsBlamedOnThePolicy",
                                        [](auto& p, auto&, auto&) {
                                          p.spec.ticketPattern = "^INC-[0-9+$";
                                        },
                                        {"spec.policy"},
                                        "policy payments-oncall has an invalid ticketPattern"},
                                    RequestCase{"AVeryLongTicketIsRejectedBeforeMatching",
                                                [](auto&, auto& s, auto&) {
                                                  s.ticket = "INC-" + std::string(5000, '1');
                                                },
                                                {"spec.ticket"},
                                                "longer than 256"},
                                    RequestCase{"NoTicketWhenNoPattern",
                                                [](auto& p, auto& s, auto&) {
                                                  p.spec.ticketPattern.reset();
                                                  s.ticket.reset();
                                                },
                                                {},
                                                ""},
                                    RequestCase{
                                        "AStartAtThatIsNotATime",
                                        [](auto&, auto& s, auto&) { s.startAt = "tomorrow"; },
                                        {"spec.startAt"},
                                        "invalid time \"tomorrow\""},
                                    RequestCase{"AValidStartAt",
                                                [](auto&, auto& s,
                                                   auto&) { s.startAt = "2026-12-01T22:00:00Z"; },
                                                {},
                                                ""},
                                    RequestCase{"SeveralProblemsAreAllReported",
                                                [](auto&, auto& s, auto& u) {
                                                  u = kMallory;
                                                  s.roles[0].name = "admin";
                                                  s.duration = "9h";
                                                  s.reason.reset();
                                                },
                                                {"spec.policy", "spec.roles[0].name",
                                                 "spec.duration", "spec.reason"},
                                                "mallory"}),
                         [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------
// checkRequest: ad hoc rules (spec.rules, issue 16)

// A policy allowing get/list pods and get pods/log in its namespaces, and get nodes
// cluster-wide; a request for get,list pods and get pods/log in payments.
PolicyRule policyRule(std::vector<std::string> resources, std::vector<std::string> verbs,
                      RoleScope scope = RoleScope::Namespace) {
  return PolicyRule{{""}, std::move(resources), std::move(verbs), {}, scope};
}
RequestedRule requestedRule(std::vector<std::string> resources, std::vector<std::string> verbs) {
  return RequestedRule{{""}, std::move(resources), std::move(verbs), {}, {}, RoleScope::Namespace};
}

class CheckRules : public ::testing::TestWithParam<RequestCase> {};

TEST_P(CheckRules, ReportsExactlyTheBrokenRules) {
  const auto& c = GetParam();
  AccessPolicy policy = paymentsOncall();
  policy.spec.rules = {policyRule({"pods"}, {"get", "list"}), policyRule({"pods/log"}, {"get"}),
                       policyRule({"nodes"}, {"get"}, RoleScope::Cluster)};
  AccessRequestSpec spec = goodSpec();
  spec.roles.clear();
  spec.databases.clear();
  spec.rules = {requestedRule({"pods"}, {"get", "list"}), requestedRule({"pods/log"}, {"get"})};
  expectViolations(c, policy, spec);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CheckRules,
    ::testing::Values(
        RequestCase{"ASubsetOfThePolicysRulesIsAllowed", noop, {}, ""},
        RequestCase{"OneVerbOfARuleIsAllowed",
                    [](auto&, auto& s, auto&) { s.rules = {requestedRule({"pods"}, {"list"})}; },
                    {},
                    ""},
        RequestCase{"RulesSpanningTwoPolicyRulesAreAllowed",
                    [](auto&, auto& s, auto&) {
                      s.rules = {requestedRule({"pods", "pods/log"}, {"get"})};
                    },
                    {},
                    ""},
        RequestCase{"AResourceOutsideTheSetIsRefusedNamingTheRule",
                    [](auto&, auto& s, auto&) { s.rules[1] = requestedRule({"secrets"}, {"get"}); },
                    {"spec.rules[1]"},
                    "rule {apiGroups: [\"\"], resources: [secrets], verbs: [get]} is outside "
                    "policy payments-oncall: get on secrets"},
        RequestCase{"AVerbOutsideTheSetIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[0] = requestedRule({"pods"}, {"delete"}); },
                    {"spec.rules[0]"},
                    "delete on pods"},
        RequestCase{"AnotherApiGroupIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[0].apiGroups = {"apps"}; },
                    {"spec.rules[0]"},
                    "(apiGroup \"apps\")"},
        RequestCase{"AWildcardVerbThePolicyDoesNotHaveIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[0].verbs = {"*"}; },
                    {"spec.rules[0].verbs"},
                    "wildcard \"*\" in verbs of rule"},
        RequestCase{"AWildcardResourceThePolicyDoesNotHaveIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[0].resources = {"*"}; },
                    {"spec.rules[0].resources"},
                    "wildcard \"*\" in resources"},
        RequestCase{"AWildcardVerbOfThePolicyStillExcludesEscalation",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules[0].verbs = {"*"};
                      s.rules[0].verbs = {"*"};
                    },
                    {"spec.rules[0].verbs"},
                    "includes the escalation verbs escalate, bind and impersonate"},
        RequestCase{"AWildcardPolicyAllowsOrdinaryVerbs",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules[0].verbs = {"*"};
                      s.rules[0].verbs = {"get", "watch", "delete"};
                    },
                    {},
                    ""},
        RequestCase{"EscalateIsRefusedUnlessNamed",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules.push_back(
                          PolicyRule{{"rbac.authorization.k8s.io"}, {"roles"}, {"*"}, {}});
                      s.rules = {RequestedRule{
                          {"rbac.authorization.k8s.io"}, {"roles"}, {"escalate"}, {}, {}}};
                    },
                    {"spec.rules[0].verbs"},
                    "verb escalate of rule"},
        RequestCase{"BindIsRefusedUnlessNamed",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules.push_back(
                          PolicyRule{{"rbac.authorization.k8s.io"}, {"clusterroles"}, {"*"}, {}});
                      s.rules = {RequestedRule{
                          {"rbac.authorization.k8s.io"}, {"clusterroles"}, {"bind"}, {}, {}}};
                    },
                    {"spec.rules[0].verbs"},
                    "is an escalation verb that policy payments-oncall does not name"},
        RequestCase{
            "ImpersonateIsRefusedUnlessNamed",
            [](auto&, auto& s, auto&) { s.rules = {requestedRule({"users"}, {"impersonate"})}; },
            {"spec.rules[0].verbs"},
            "verb impersonate"},
        RequestCase{"AnEscalationVerbThePolicyNamesIsAllowed",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules.push_back(policyRule({"users"}, {"impersonate"}));
                      s.rules = {requestedRule({"users"}, {"impersonate"})};
                    },
                    {},
                    ""},
        RequestCase{"ResourceNamesWithinThePolicysNamesAreAllowed",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules[0].resourceNames = {"api-0", "api-1"};
                      s.rules[0].resourceNames = {"api-1"};
                    },
                    {},
                    ""},
        RequestCase{"AnyNameWhereThePolicyListsNamesIsRefused",
                    [](auto& p, auto&, auto&) { p.spec.rules[0].resourceNames = {"api-0"}; },
                    {"spec.rules[0]"},
                    "get on pods (apiGroup \"\")"},
        RequestCase{"ANamespaceOutsideThePolicyIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[0].namespaces = {"kube-system"}; },
                    {"spec.rules[0].namespaces[0]"},
                    "namespace kube-system is not allowed"},
        RequestCase{"AClusterRuleNeedsAClusterPolicyRule",
                    [](auto&, auto& s, auto&) {
                      s.rules = {requestedRule({"nodes"}, {"get"})};
                      s.rules[0].scope = RoleScope::Cluster;
                    },
                    {},
                    ""},
        RequestCase{"AClusterScopeUnderANamespacedOnlyPolicyIsRefused",
                    [](auto& p, auto& s, auto&) {
                      p.spec.rules.pop_back();
                      s.rules[0].scope = RoleScope::Cluster;
                    },
                    {"spec.rules[0].scope"},
                    "policy payments-oncall allows no cluster-wide rules"},
        RequestCase{"ANamespacedRuleIsNotGrantedClusterWide",
                    [](auto&, auto& s, auto&) { s.rules[0].scope = RoleScope::Cluster; },
                    {"spec.rules[0]"},
                    "get on pods"},
        RequestCase{"NoRulesInThePolicyRefusesEveryRule",
                    [](auto& p, auto&, auto&) { p.spec.rules.clear(); },
                    {"spec.rules[0]", "spec.rules[1]"},
                    "allows no ad hoc rules"},
        RequestCase{"ARuleWithoutVerbsIsRefused",
                    [](auto&, auto& s, auto&) { s.rules[1].verbs.clear(); },
                    {"spec.rules[1]"},
                    "must name at least one"}),
    [](const auto& info) { return info.param.name; });

// The compiled ticketPattern is cached by its text: a policy whose pattern changes is judged
// by the new one, and a broken pattern keeps being reported, call after call.
TEST(CheckRequestPatternCache, EachPatternTextIsJudgedByItsOwnRegex) {
  AccessPolicy policy = paymentsOncall();
  AccessRequestSpec spec = goodSpec();
  spec.ticket = "INC-4211";
  for (int round = 0; round < 2; ++round) {
    policy.spec.ticketPattern = "^INC-[0-9]+$";
    EXPECT_TRUE(checkRequest(policy, spec, kAlice, "payments").empty());
    policy.spec.ticketPattern = "^JIRA-[0-9]+$";
    auto vs = checkRequest(policy, spec, kAlice, "payments");
    ASSERT_EQ(vs.size(), 1u) << describe(vs);
    EXPECT_THAT(vs[0].message, HasSubstr("does not match ^JIRA-[0-9]+$"));
    policy.spec.ticketPattern = "^INC-[0-9+$";
    vs = checkRequest(policy, spec, kAlice, "payments");
    ASSERT_EQ(vs.size(), 1u) << describe(vs);
    EXPECT_THAT(vs[0].message, HasSubstr("has an invalid ticketPattern"));
  }
}

TEST(CheckRequestPatternCache, ManyDistinctPatternsStayCorrectPastTheCacheBound) {
  AccessPolicy policy = paymentsOncall();
  AccessRequestSpec spec = goodSpec();
  for (int i = 0; i < 600; ++i) {
    policy.spec.ticketPattern = fmt::format("^T{}-[0-9]+$", i);
    spec.ticket = fmt::format("T{}-1", i);
    EXPECT_TRUE(checkRequest(policy, spec, kAlice, "payments").empty()) << i;
    spec.ticket = fmt::format("T{}-1", i + 1);
    EXPECT_EQ(checkRequest(policy, spec, kAlice, "payments").size(), 1u) << i;
  }
}

// ---------------------------------------------------------------------------------------
// mayApprove and countApprovals

AccessRequest pendingRequest() {
  AccessRequest r;
  r.metadata.name = "debug-orders";
  r.metadata.namespace_ = "payments";
  r.spec = goodSpec();
  r.status = AccessRequestStatus{};
  r.status->phase = Phase::Pending;
  return r;
}

Approval decision(std::string who, Decision d, std::vector<std::string> groups = {}) {
  Approval a;
  a.approver = std::move(who);
  a.approverGroups = std::move(groups);
  a.decision = d;
  return a;
}

TEST(MayApprove, AnApproverByGroupMayApprove) {
  EXPECT_EQ(mayApprove(paymentsOncall(), pendingRequest(), kBob), std::nullopt);
}

TEST(MayApprove, AnApproverByNameMayApprove) {
  auto p = paymentsOncall();
  p.spec.approval.approvers = {{"dave"}, {}};
  EXPECT_EQ(mayApprove(p, pendingRequest(), UserInfo{"dave", {}}), std::nullopt);
  auto v = mayApprove(p, pendingRequest(), kBob);
  ASSERT_TRUE(v.has_value());
  EXPECT_THAT(v->message, HasSubstr("not an approver of policy payments-oncall (approvers: users "
                                    "dave)"));
}

TEST(MayApprove, TheRequesterNeverApprovesEvenWhenAnApprover) {
  auto p = paymentsOncall();
  p.spec.approval.approvers.groups.push_back("payments-devs");
  auto v = mayApprove(p, pendingRequest(), kAlice);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->field, "status.approvals");
  EXPECT_THAT(v->message, HasSubstr("self-approval is not allowed"));
}

TEST(MayApprove, AnOutsiderMayNotApprove) {
  auto v = mayApprove(paymentsOncall(), pendingRequest(), kMallory);
  ASSERT_TRUE(v.has_value());
  EXPECT_THAT(v->message, HasSubstr("user mallory is not an approver of policy payments-oncall "
                                    "(approvers: groups payments-leads)"));
}

TEST(MayApprove, AnApproverDecidesOnlyOnce) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Deny, {"payments-leads"}));
  auto v = mayApprove(paymentsOncall(), r, kBob);
  ASSERT_TRUE(v.has_value());
  EXPECT_THAT(v->message, HasSubstr("bob has already decided (Deny)"));
  EXPECT_EQ(mayApprove(paymentsOncall(), r, kCarol), std::nullopt);
}

TEST(MayApprove, NoDecisionAfterATerminalPhase) {
  for (Phase ph : {Phase::Denied, Phase::Expired, Phase::Revoked, Phase::Failed}) {
    auto r = pendingRequest();
    r.status->phase = ph;
    auto v = mayApprove(paymentsOncall(), r, kBob);
    ASSERT_TRUE(v.has_value()) << toString(ph);
    EXPECT_THAT(v->message, HasSubstr(std::string("is ") + toString(ph)));
  }
  for (Phase ph : {Phase::Pending, Phase::Approved, Phase::Active}) {
    auto r = pendingRequest();
    r.status->phase = ph;
    EXPECT_EQ(mayApprove(paymentsOncall(), r, kBob), std::nullopt) << toString(ph);
  }
}

TEST(MayApprove, WorksBeforeTheOperatorWroteAnyStatus) {
  auto r = pendingRequest();
  r.status.reset();
  EXPECT_EQ(mayApprove(paymentsOncall(), r, kBob), std::nullopt);
}

TEST(CountApprovals, NoApprovalsLeavesAllRequired) {
  auto t = countApprovals(paymentsOncall(), pendingRequest());
  EXPECT_EQ(t.approvals, 0);
  EXPECT_EQ(t.required, 1);
  EXPECT_EQ(t.remaining, 1);
  EXPECT_FALSE(t.denied);
  EXPECT_FALSE(t.satisfied());
}

TEST(CountApprovals, OneGroupApproverSatisfiesRequiredOne) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  auto t = countApprovals(paymentsOncall(), r);
  EXPECT_EQ(t.approvals, 1);
  EXPECT_EQ(t.remaining, 0);
  EXPECT_THAT(t.approvers, ElementsAre("bob"));
  EXPECT_TRUE(t.satisfied());
}

TEST(CountApprovals, TheSameApproverTwiceCountsOnce) {
  auto p = paymentsOncall();
  p.spec.approval.required = 2;
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  auto t = countApprovals(p, r);
  EXPECT_EQ(t.approvals, 1);
  EXPECT_EQ(t.remaining, 1);
  EXPECT_FALSE(t.satisfied());
  r.status->approvals.push_back(decision("carol", Decision::Approve, {"payments-leads"}));
  t = countApprovals(p, r);
  EXPECT_EQ(t.approvals, 2);
  EXPECT_THAT(t.approvers, ElementsAre("bob", "carol"));
  EXPECT_TRUE(t.satisfied());
}

TEST(CountApprovals, TheRequestersOwnApprovalNeverCounts) {
  auto p = paymentsOncall();
  p.spec.approval.approvers.groups.push_back("payments-devs");
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("alice", Decision::Approve, {"payments-devs"}));
  auto t = countApprovals(p, r);
  EXPECT_EQ(t.approvals, 0);
  ASSERT_EQ(t.ignored.size(), 1u);
  EXPECT_THAT(t.ignored[0], HasSubstr("approval by alice ignored: the requester's own decision"));
}

TEST(CountApprovals, AnApprovalWithoutApproverIsIgnored) {
  auto r = pendingRequest();
  Approval a;
  a.decision = Decision::Approve;
  r.status->approvals.push_back(a);
  auto t = countApprovals(paymentsOncall(), r);
  EXPECT_EQ(t.approvals, 0);
  EXPECT_EQ(t.ignored.size(), 1u);
}

TEST(CountApprovals, GroupApproversMatchOnlyThroughStampedGroups) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {}));
  EXPECT_EQ(countApprovals(paymentsOncall(), r).approvals, 0);
}

TEST(CountApprovals, UserApproversMatchByName) {
  auto p = paymentsOncall();
  p.spec.approval.approvers = {{"dave"}, {}};
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("dave", Decision::Approve));
  EXPECT_EQ(countApprovals(p, r).approvals, 1);
}

TEST(CountApprovals, UsesThePolicyAsItIsNow) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  auto p = paymentsOncall();
  ASSERT_TRUE(countApprovals(p, r).satisfied());
  // payments-leads are no longer approvers: bob's approval stops counting.
  p.spec.approval.approvers.groups = {"payments-managers"};
  auto t = countApprovals(p, r);
  EXPECT_EQ(t.approvals, 0);
  EXPECT_FALSE(t.satisfied());
  ASSERT_EQ(t.ignored.size(), 1u);
  EXPECT_THAT(t.ignored[0], HasSubstr("not an approver of policy payments-oncall now"));
  // A raised requirement applies at once too.
  p = paymentsOncall();
  p.spec.approval.required = 2;
  EXPECT_EQ(countApprovals(p, r).remaining, 1);
}

TEST(CountApprovals, AnyValidDenyDenies) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  r.status->approvals.push_back(decision("carol", Decision::Deny, {"payments-leads"}));
  auto t = countApprovals(paymentsOncall(), r);
  EXPECT_TRUE(t.denied);
  EXPECT_THAT(t.deniedBy, ElementsAre("carol"));
  EXPECT_EQ(t.approvals, 1);
  EXPECT_FALSE(t.satisfied());
}

TEST(CountApprovals, ADenyByAnOutsiderDoesNotDeny) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("mallory", Decision::Deny));
  auto t = countApprovals(paymentsOncall(), r);
  EXPECT_FALSE(t.denied);
  EXPECT_EQ(t.ignored.size(), 1u);
}

TEST(CountApprovals, AnApproverWhoAlsoDeniedCountsAsADenial) {
  auto r = pendingRequest();
  r.status->approvals.push_back(decision("bob", Decision::Approve, {"payments-leads"}));
  r.status->approvals.push_back(decision("bob", Decision::Deny, {"payments-leads"}));
  auto t = countApprovals(paymentsOncall(), r);
  EXPECT_TRUE(t.denied);
  EXPECT_EQ(t.approvals, 0);
}

TEST(CountApprovals, RequiredZeroIsSatisfiedAtOnce) {
  auto p = paymentsOncall();
  p.spec.approval.required = 0;
  auto t = countApprovals(p, pendingRequest());
  EXPECT_EQ(t.remaining, 0);
  EXPECT_TRUE(t.satisfied());
}

// ---------------------------------------------------------------------------------------
// Break-glass, durations, expiry

TEST(BreakGlass, MatchesAutoApproveUsersAndGroupsOnly) {
  auto p = paymentsOncall();
  EXPECT_TRUE(isBreakGlass(p, UserInfo{"sam", {"sre-oncall"}}));
  EXPECT_FALSE(isBreakGlass(p, kAlice));
  p.spec.approval.autoApprove = Subjects{{"alice"}, {}};
  EXPECT_TRUE(isBreakGlass(p, kAlice));
  p.spec.approval.autoApprove.reset();
  EXPECT_FALSE(isBreakGlass(p, UserInfo{"sam", {"sre-oncall"}}));
}

TEST(Matches, IsExactAndCaseSensitive) {
  Subjects s{{"alice"}, {"payments-devs"}};
  EXPECT_TRUE(matches(s, UserInfo{"alice", {}}));
  EXPECT_TRUE(matches(s, UserInfo{"zed", {"other", "payments-devs"}}));
  EXPECT_FALSE(matches(s, UserInfo{"Alice", {}}));
  EXPECT_FALSE(matches(s, UserInfo{"", {"payments"}}));
  EXPECT_FALSE(matches(Subjects{}, kAlice));
  EXPECT_FALSE(matches(Subjects{{""}, {}}, UserInfo{"", {}}));
}

TEST(EffectiveDuration, PrefersTheRequestThenTheDefaultThenOneHourCappedAtTheMax) {
  auto p = paymentsOncall();
  auto s = goodSpec();
  EXPECT_EQ(*effectiveDuration(p, s), 2h);
  s.duration.reset();
  EXPECT_EQ(*effectiveDuration(p, s), 1h);
  p.spec.defaultDuration = "45m";
  EXPECT_EQ(*effectiveDuration(p, s), 45min);
  p.spec.defaultDuration.reset();
  EXPECT_EQ(*effectiveDuration(p, s), 1h) << "maxDuration 4h is not a default";
  p.spec.maxDuration = "20m";
  EXPECT_EQ(*effectiveDuration(p, s), 20min) << "never beyond the maximum";
  p.spec.maxDuration.reset();
  EXPECT_EQ(*effectiveDuration(p, s), kDefaultRequestDuration);
  p.spec.maxDuration = "4 hours";
  EXPECT_FALSE(effectiveDuration(p, s).has_value());
}

TEST(EffectiveDuration, NamesTheFieldThatDoesNotParse) {
  auto p = paymentsOncall();
  auto s = goodSpec();
  s.duration = "2d";
  auto d = effectiveDuration(p, s);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message, HasSubstr("spec.duration: invalid duration \"2d\""));
  s.duration.reset();
  p.spec.defaultDuration = "forever";
  d = effectiveDuration(p, s);
  ASSERT_FALSE(d.has_value());
  EXPECT_THAT(d.error().message, HasSubstr("policy payments-oncall defaultDuration"));
}

TEST(PolicyDurations, PendingTimeoutAndRetainForHaveDefaults) {
  auto p = paymentsOncall();
  p.spec.pendingTimeout = "30m";
  EXPECT_EQ(*effectivePendingTimeout(p), 30min);
  EXPECT_EQ(*effectiveRetainFor(p), 720h);
  p.spec.pendingTimeout.reset();
  p.spec.retainFor.reset();
  EXPECT_EQ(*effectivePendingTimeout(p), kDefaultPendingTimeout);
  EXPECT_EQ(*effectiveRetainFor(p), kDefaultRetainFor);
  p.spec.retainFor = "1 month";
  EXPECT_FALSE(effectiveRetainFor(p).has_value());
}

TEST(ExpiryFor, AddsTheDurationToActivationAtSecondPrecision) {
  auto at = *parseRfc3339("2026-11-29T10:02:13.750Z");
  EXPECT_EQ(formatRfc3339Micro(expiryFor(at, 2h)), "2026-11-29T12:02:13.000000Z");
  auto whole = *parseRfc3339("2026-11-29T10:00:00Z");
  EXPECT_EQ(expiryFor(whole, 90min), *parseRfc3339("2026-11-29T11:30:00Z"));
}

TEST(ExpiryFor, SaturatesInsteadOfOverflowingForHugeDurations) {
  auto at = *parseRfc3339("2026-11-29T10:00:00Z");
  auto huge = parseDuration("2562047h");
  ASSERT_TRUE(huge.has_value());
  auto end = expiryFor(at, *huge);
  EXPECT_GT(end, at);
  EXPECT_EQ(end, std::chrono::floor<std::chrono::seconds>(TimePoint::max()));
}

TEST(Describe, JoinsFieldAndMessage) {
  EXPECT_EQ(describe(Violation{"spec.duration", "too long"}), "spec.duration: too long");
  EXPECT_EQ(describe(std::vector<Violation>{{"a", "x"}, {"", "y"}}), "a: x; y");
  EXPECT_EQ(describe(std::vector<Violation>{}), "");
}

// ---------------------------------------------------------------------------------------
// validatePolicy / validateDatabaseTarget

struct PolicyCase {
  std::string name;
  std::function<void(AccessPolicy&)> change;
  std::vector<std::string> fields;
  std::string message;
};
// Readable in test names' listings and failure messages (instead of raw bytes).
void PrintTo(const PolicyCase& c, std::ostream* os) { *os << c.name; }

class ValidatePolicy : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(ValidatePolicy, ReportsExactlyTheBrokenRules) {
  const auto& c = GetParam();
  AccessPolicy p = paymentsOncall();
  c.change(p);
  auto vs = validatePolicy(p);
  std::vector<std::string> fields;
  for (const auto& v : vs) fields.push_back(v.field);
  EXPECT_EQ(fields, c.fields) << describe(vs);
  if (!c.message.empty() && !vs.empty()) {
    EXPECT_THAT(vs[0].message, HasSubstr(c.message));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ValidatePolicy,
    ::testing::Values(PolicyCase{"TheApiExampleIsValid", [](auto&) {}, {}, ""},
                      PolicyCase{"ABadMaxDuration",
                                 [](auto& p) { p.spec.maxDuration = "2 hours"; },
                                 {"spec.maxDuration"},
                                 "invalid duration \"2 hours\""},
                      PolicyCase{"ABadDefaultDuration",
                                 [](auto& p) { p.spec.defaultDuration = "1d"; },
                                 {"spec.defaultDuration"},
                                 "unknown unit \"d\""},
                      PolicyCase{"ABadPendingTimeout",
                                 [](auto& p) { p.spec.pendingTimeout = "soon"; },
                                 {"spec.pendingTimeout"},
                                 ""},
                      PolicyCase{"AZeroRetainFor",
                                 [](auto& p) { p.spec.retainFor = "0s"; },
                                 {"spec.retainFor"},
                                 "greater than zero"},
                      PolicyCase{"MaxShorterThanDefault",
                                 [](auto& p) { p.spec.maxDuration = "30m"; },
                                 {"spec.maxDuration"},
                                 "maxDuration 30m is shorter than defaultDuration 1h"},
                      PolicyCase{
                          "MaxEqualToDefault", [](auto& p) { p.spec.maxDuration = "60m"; }, {}, ""},
                      PolicyCase{"NegativeRequired",
                                 [](auto& p) { p.spec.approval.required = -1; },
                                 {"spec.approval.required"},
                                 "required must be 0 or more, got -1"},
                      PolicyCase{"RequiredZeroWithoutApprovers",
                                 [](auto& p) {
                                   p.spec.approval.required = 0;
                                   p.spec.approval.approvers = {};
                                 },
                                 {},
                                 ""},
                      PolicyCase{"ApprovalsRequiredButNoApprovers",
                                 [](auto& p) { p.spec.approval.approvers = {}; },
                                 {"spec.approval.approvers"},
                                 "names no approvers"},
                      PolicyCase{"APatternThatDoesNotCompile",
                                 [](auto& p) { p.spec.ticketPattern = "^INC-("; },
                                 {"spec.ticketPattern"},
                                 "invalid regular expression \"^INC-(\""},
                      PolicyCase{"EmptyNamesInLists",
                                 [](auto& p) {
                                   p.spec.requesters.groups.push_back("");
                                   p.spec.roles.push_back({RoleKind::Role, ""});
                                   p.spec.databases[0].profiles.push_back("");
                                 },
                                 {"spec.requesters.groups[1]", "spec.roles[2].name",
                                  "spec.databases[0].profiles[1]"},
                                 "must not be empty"}),
    [](const auto& info) { return info.param.name; });

DatabaseTarget ordersDb() {
  DatabaseTarget t;
  t.metadata.name = "orders-db";
  t.spec.host = "orders-db.payments.svc";
  t.spec.database = "orders";
  t.spec.adminSecretRef = {"kubegrant-system", "orders-db-admin"};
  t.spec.connectionLimit = 2;
  TableGrant g;
  g.schema = "public";
  g.tables = {"*"};
  g.privileges = {"SELECT"};
  g.excludeColumns = {{"customers", {"email", "phone", "card_number"}}};
  t.spec.profiles = {{"readonly", {g}}};
  return t;
}

TEST(CheckSecretNamespaces, RefusesEachReferenceOutsideTheScopeNamingItsField) {
  auto t = ordersDb();
  t.spec.caSecretRef = SecretReference{"payments", "orders-db-ca"};
  const SecretNamespaces scope{{"kubegrant-system"}};
  auto v = checkSecretNamespaces(t, scope);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].field, "spec.caSecretRef.namespace");
  EXPECT_EQ(v[0].message,
            "Secrets may only be referenced in namespace kubegrant-system (the operator's "
            "--secret-namespace), not in \"payments\"");
  t.spec.adminSecretRef.namespace_ = "payments";
  EXPECT_EQ(checkSecretNamespaces(t, scope).size(), 2u);
  EXPECT_THAT(checkSecretNamespaces(t, {{"kubegrant-system", "payments"}}), IsEmpty());
  EXPECT_THAT(checkSecretNamespaces(t, {}), IsEmpty()) << "an empty scope allows any";

  AccessPolicy p;
  p.spec.notify = {{"slack", {"kubegrant-system", "hook", "url"}},
                   {"pager", {"team-b", "their-hook", "url"}}};
  auto pv = checkSecretNamespaces(p, scope);
  ASSERT_EQ(pv.size(), 1u);
  EXPECT_EQ(pv[0].field, "spec.notify[1].urlSecretRef.namespace");
}

TEST(ValidateDatabaseTarget, TheApiExampleIsValid) {
  EXPECT_THAT(validateDatabaseTarget(ordersDb()), IsEmpty());
}

TEST(ValidateDatabaseTarget, ReportsEachBrokenRuleWithItsField) {
  auto t = ordersDb();
  t.spec.host = "";
  t.spec.port = 70000;
  t.spec.sslMode = "sometimes";
  t.spec.connectionLimit = 0;
  t.spec.profiles.push_back(t.spec.profiles[0]);
  t.spec.profiles[1].grants[0].privileges = {"SELECT", "DROP"};
  t.spec.profiles.push_back({"empty", {}});
  std::vector<std::string> fields;
  for (const auto& v : validateDatabaseTarget(t)) fields.push_back(v.field);
  EXPECT_THAT(fields,
              ElementsAre("spec.host", "spec.port", "spec.sslMode", "spec.connectionLimit",
                          "spec.profiles[1].name", "spec.profiles[1].grants[0].privileges[1]",
                          "spec.profiles[2].grants"));
}

TableGrant supportGrant() {
  TableGrant g;
  g.schema = "public";
  g.tables = {"customers", "orders"};
  g.privileges = {"SELECT"};
  g.excludeColumns = {{"customers", {"card_number"}}};
  g.maskColumns = {
      {"customers", {{"email", MaskFunction::Email}, {"phone", MaskFunction::Partial}}}};
  return g;
}

TEST(ValidateDatabaseTarget, AMaskedProfileIsValid) {
  auto t = ordersDb();
  t.spec.profiles.push_back({"support", {supportGrant()}});
  EXPECT_THAT(validateDatabaseTarget(t), IsEmpty());
}

struct MaskCase {
  std::string name;
  std::function<void(TableGrant&)> change;
  std::string field;
  std::string message;
};

class MaskRules : public ::testing::TestWithParam<MaskCase> {};

TEST_P(MaskRules, AreRefusedNamingTheField) {
  auto t = ordersDb();
  auto g = supportGrant();
  GetParam().change(g);
  t.spec.profiles.push_back({"support", {g}});
  auto v = validateDatabaseTarget(t);
  ASSERT_EQ(v.size(), 1u) << describe(v);
  EXPECT_EQ(v[0].field, GetParam().field);
  EXPECT_THAT(v[0].message, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    ValidateDatabaseTarget, MaskRules,
    ::testing::Values(
        MaskCase{"AColumnBothExcludedAndMasked",
                 [](TableGrant& g) { g.excludeColumns["customers"].push_back("email"); },
                 "spec.profiles[1].grants[0].maskColumns.customers.email",
                 "column customers.email is both excluded and masked"},
        MaskCase{"AMaskWithWritePrivileges",
                 [](TableGrant& g) {
                   g.privileges = {"SELECT", "UPDATE"};
                 },
                 "spec.profiles[1].grants[0].privileges",
                 "maskColumns needs privileges [SELECT] only (got UPDATE)"},
        MaskCase{"AMaskedTableTheGrantDoesNotName",
                 [](TableGrant& g) {
                   g.maskColumns["invoices"] = {{"iban", MaskFunction::Hash}};
                 },
                 "spec.profiles[1].grants[0].maskColumns.invoices",
                 "table invoices is not in this grant's tables"},
        MaskCase{"AMaskOnEveryTable",
                 [](TableGrant& g) {
                   g.tables = {"*"};
                   g.maskColumns["*"] = {{"email", MaskFunction::Redact}};
                 },
                 "spec.profiles[1].grants[0].maskColumns.*", "names tables, not \"*\""},
        MaskCase{"AMaskedTableWithoutColumns", [](TableGrant& g) { g.maskColumns["orders"] = {}; },
                 "spec.profiles[1].grants[0].maskColumns.orders", "at least one column"}),
    [](const auto& info) { return info.param.name; });

TEST(ValidateDatabaseTarget, MaskedTablesMayComeFromEveryTable) {
  auto t = ordersDb();
  auto g = supportGrant();
  g.tables = {"*"};
  t.spec.profiles.push_back({"support", {g}});
  EXPECT_THAT(validateDatabaseTarget(t), IsEmpty());
}

TEST(ValidateDatabaseTarget, ACaSecretRefNeedsNamespaceAndName) {
  auto t = ordersDb();
  t.spec.caSecretRef = SecretReference{"", ""};
  std::vector<std::string> fields;
  for (const auto& v : validateDatabaseTarget(t)) fields.push_back(v.field);
  EXPECT_THAT(fields, ElementsAre("spec.caSecretRef.namespace", "spec.caSecretRef.name"));
}

}  // namespace
}  // namespace kubegrant::v1alpha1
