// Cost of the pure API code on the hot paths: every admission call decodes an object and
// evaluates the policy; every reconcile decodes, counts approvals and encodes a status.
//   api_bench [iterations]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "crds/v1alpha1/duration.h"
#include "crds/v1alpha1/policy.h"
#include "crds/v1alpha1/types.h"
#include "tests/support/api_examples.h"

namespace v1 = kubegrant::v1alpha1;

namespace {

const char* kRequest = R"({
  "apiVersion": "kubegrant.io/v1alpha1", "kind": "AccessRequest",
  "metadata": {"name": "debug-orders", "namespace": "payments", "generation": 1,
               "resourceVersion": "12345", "uid": "0b7e", "finalizers": ["kubegrant.io/revoke"],
               "creationTimestamp": "2026-11-29T10:00:00Z"},
  "spec": {"policy": "payments-oncall", "duration": "2h", "reason": "orders stuck in pending",
           "ticket": "INC-4211",
           "roles": [{"kind": "ClusterRole", "name": "view", "namespaces": ["payments"]}],
           "databases": [{"target": "orders-db", "profile": "readonly"}], "revoke": false,
           "requester": {"username": "alice", "groups": ["payments-devs"]}},
  "status": {"phase": "Active", "approvals": [{"approver": "bob", "approverGroups":
             ["payments-leads"], "decision": "Approve", "time": "2026-11-29T10:02:11Z"}],
             "activatedAt": "2026-11-29T10:02:13Z", "expiresAt": "2026-11-29T12:02:13Z",
             "grants": [{"kind": "RoleBinding", "namespace": "payments", "name": "kg-view"}],
             "observedGeneration": 1}
})";

v1::AccessPolicy policy() { return kubegrant::testing::paymentsOncallPolicy(); }

void run(const char* name, int n, const std::function<void()>& f) {
  f();  // warm up
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) f();
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      n;
  std::printf("%-44s %9.2f us/op\n", name, us);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const auto json = nlohmann::json::parse(kRequest);
  const auto request = *v1::fromJson<v1::AccessRequest>(json);
  const auto p = policy();
  const v1::UserInfo alice{"alice", {"payments-devs"}};
  v1::AccessRequest many = request;
  for (int i = 0; i < 64; ++i) {
    v1::Approval a;
    a.approver = "approver-" + std::to_string(i);
    a.approverGroups = {"payments-leads"};
    many.status->approvals.push_back(a);
  }
  volatile size_t sink = 0;
  run("parse JSON text + fromJson<AccessRequest>", n,
      [&] { sink = sink + v1::fromJsonText<v1::AccessRequest>(kRequest)->spec.roles.size(); });
  run("fromJson<AccessRequest> (parsed json)", n,
      [&] { sink = sink + v1::fromJson<v1::AccessRequest>(json)->spec.roles.size(); });
  run("toJson(AccessRequest).dump()", n, [&] { sink = sink + v1::toJson(request).dump().size(); });
  run("checkRequest (ticketPattern compiled once, cached)", n,
      [&] { sink = sink + v1::checkRequest(p, request.spec, alice, "payments").size(); });
  run("countApprovals, 1 approval", n,
      [&] { sink = sink + v1::countApprovals(p, request).approvals; });
  run("countApprovals, 65 approvals", n,
      [&] { sink = sink + v1::countApprovals(p, many).approvals; });
  run("validatePolicy", n, [&] { sink = sink + v1::validatePolicy(p).size(); });
  run("parseDuration(\"2h45m30.5s\")", n,
      [&] { sink = sink + static_cast<size_t>(v1::parseDuration("2h45m30.5s")->count()); });
  return 0;
}
