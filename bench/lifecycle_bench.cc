// AccessRequest lifecycle benchmark against the real local control plane, with the real
// kubegrant-operator binary (controller + webhook) as a child process. Not a test: it prints
// figures for bench/README.md ("AccessRequest lifecycle").
//
//   1. approval-to-access: N sequential requests; from the moment bob's approval patch is sent
//      to alice's first allowed `list pods` (polled as fast as the API answers), then
//      revoke-to-forbidden for the same request (spec.revoke);
//   2. expiry precision and a thundering herd: M requests (required 0) whose expiresAt all fall
//      in the same second; per RoleBinding, from expiresAt to its DELETED watch event, and the
//      time until all are gone.
//
// Usage (after `source DIR/env` of tests/controlplane/up.sh):
//   build/bench/lifecycle_bench [N=200] [M=1000] [operator workers=8]

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/time.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "tests/support/free_port.h"

using namespace kubegrant;
using namespace std::chrono_literals;
using Clk = std::chrono::steady_clock;
using nlohmann::json;

namespace {

const std::string kSource = KG_SOURCE_DIR;

std::string envOr(const char* k) {
  const char* v = std::getenv(k);
  if (!v) {
    std::fprintf(stderr, "missing %s: source the env of tests/controlplane/up.sh\n", k);
    std::exit(2);
  }
  return v;
}

int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

std::unique_ptr<kube::Client> clientFor(const std::string& kubeconfig) {
  auto cfg = kube::loadKubeconfig(kubeconfig);
  if (!cfg) {
    std::fprintf(stderr, "kubeconfig %s: %s\n", kubeconfig.c_str(), cfg.error().message.c_str());
    std::exit(1);
  }
  kube::rest::RestOptions ro;
  ro.qps = 0;  // the benchmark measures the operator, not a client-side limiter
  auto c = kube::rest::makeRestClient(*cfg, ro);
  if (!c) std::exit(1);
  return std::move(*c);
}

struct Stats {
  std::vector<double> ms;
  void add(double v) { ms.push_back(v); }
  std::string summary() {
    if (ms.empty()) return "no samples";
    std::sort(ms.begin(), ms.end());
    auto q = [&](double p) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(p * (ms.size() - 1) + 0.5))];
    };
    return fmt::format("n={} p50={:.1f} ms p90={:.1f} ms p99={:.1f} ms max={:.1f} ms", ms.size(),
                       q(0.5), q(0.9), q(0.99), ms.back());
  }
};

double msSince(Clk::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clk::now() - t0).count();
}

json policyJson(const std::string& name, const std::string& ns, int required) {
  return json{
      {"apiVersion", "kubegrant.io/v1alpha1"},
      {"kind", "AccessPolicy"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"requesters", {{"groups", {"payments-devs"}}}},
        {"namespaces", {ns}},
        {"roles", json::array({{{"kind", "ClusterRole"}, {"name", "view"}}})},
        {"defaultDuration", "1h"},
        {"maxDuration", "4h"},
        {"approval", {{"approvers", {{"groups", {"payments-leads"}}}}, {"required", required}}}}}};
}

json requestJson(const std::string& name, const std::string& ns, const std::string& policy,
                 const std::string& duration) {
  return json{{"apiVersion", "kubegrant.io/v1alpha1"},
              {"kind", "AccessRequest"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec",
               {{"policy", policy},
                {"duration", duration},
                {"reason", "bench"},
                {"roles", json::array({{{"kind", "ClusterRole"}, {"name", "view"}}})}}}};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;
  const int m = argc > 2 ? std::atoi(argv[2]) : 1000;
  const std::string workers = argc > 3 ? argv[3] : "8";
  const std::string admin = envOr("KUBEGRANT_KUBECONFIG_ADMIN");
  const std::string kOperatorKubeconfig = envOr("KUBEGRANT_KUBECONFIG_OPERATOR");
  const std::string aliceCfg = envOr("KUBEGRANT_KUBECONFIG_ALICE");
  const std::string bobCfg = envOr("KUBEGRANT_KUBECONFIG_BOB");
  const std::string k = "kubectl --kubeconfig " + admin + " ";
  const std::string tag = fmt::format("bench-{}", ::getpid());
  const std::string dir = (std::filesystem::temp_directory_path() / tag).string();
  std::filesystem::create_directories(dir);

  // Install kubegrant and register the operator's webhook under a name of our own.
  sh(k + "apply --server-side --force-conflicts -f " + kSource + "/crds/ >/dev/null");
  sh(k +
     "wait --for condition=Established --timeout=60s crd/accessrequests.kubegrant.io >/dev/null");
  sh(k + "apply -f " + kSource + "/operator/deploy/rbac-operator.yaml >/dev/null");
  sh(k + "apply -f " + kSource + "/operator/deploy/rbac-users.yaml >/dev/null");
  sh(std::string(KG_CERTS_BIN) + " --dir " + dir + "/certs --ip 127.0.0.1 >/dev/null");
  const int webhookPort = ::kubegrant::testing::freeLoopbackPort(),
            healthPort = ::kubegrant::testing::freeLoopbackPort(),
            metricsPort = ::kubegrant::testing::freeLoopbackPort();
  pid_t op = ::fork();
  if (op == 0) {
    int fd = ::open((dir + "/operator.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> args = {KG_OPERATOR_BIN,
                                     "--kubeconfig",
                                     kOperatorKubeconfig,
                                     "--webhook-port",
                                     std::to_string(webhookPort),
                                     "--webhook-cert-dir",
                                     dir + "/certs",
                                     "--health-addr",
                                     fmt::format("127.0.0.1:{}", healthPort),
                                     "--metrics-addr",
                                     fmt::format("127.0.0.1:{}", metricsPort),
                                     "--workers",
                                     "8",
                                     "--kube-api-qps",
                                     "5000",
                                     "--kube-api-burst",
                                     "10000",
                                     "--log-level",
                                     "warn"};
    std::vector<char*> av;
    for (auto& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    ::_exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    if (std::system(fmt::format("curl -fsS --max-time 1 http://127.0.0.1:{}/readyz >/dev/null 2>&1",
                                healthPort)
                        .c_str()) == 0)
      break;
    std::this_thread::sleep_for(100ms);
  }
  sh(
      fmt::format("WEBHOOK_CONFIG_NAME={} {}/operator/deploy/render-webhooks.sh "
                  "https://127.0.0.1:{} {}/certs/ca.crt | {} apply -f - >/dev/null",
                  tag, kSource, webhookPort, dir, k));

  auto adminC = clientFor(admin);
  auto alice = clientFor(aliceCfg);
  auto bob = clientFor(bobCfg);
  const auto areq = kube::resources::accessRequests();

  auto makeNamespace = [&](const std::string& ns) {
    (void)adminC->create(
        kube::resources::namespaces(),
        kube::Object(
            json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}));
  };
  auto aliceAllowed = [&](const std::string& ns) {
    kube::ListOptions lo;
    lo.limit = 1;
    return alice->list(kube::resources::pods(), ns, lo).has_value();
  };

  // ---- 1. approval-to-access and revoke-to-forbidden ----
  const std::string ns1 = tag + "-lat";
  makeNamespace(ns1);
  for (int i = 0; i < 100; ++i) {  // the policy webhook needs the operator's cache warm
    if (adminC->create(kube::resources::accessPolicies(), kube::Object(policyJson(ns1, ns1, 1))))
      break;
    std::this_thread::sleep_for(100ms);
  }
  // Baseline without kubegrant: admin creates/deletes a RoleBinding for alice directly; how
  // long until the API server's authorizer agrees. The lifecycle figures include this.
  Stats rbacAllow, rbacDeny;
  for (int i = 0; i < std::min(n, 50); ++i) {
    json rb = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "RoleBinding"},
        {"metadata", {{"name", "baseline"}, {"namespace", ns1}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
        {"subjects",
         json::array(
             {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", "alice"}}})}};
    auto t0 = Clk::now();
    if (!adminC->create(kube::resources::roleBindings(), kube::Object(rb))) break;
    while (!aliceAllowed(ns1) && msSince(t0) < 10000) {
    }
    rbacAllow.add(msSince(t0));
    auto t1 = Clk::now();
    (void)adminC->remove(kube::resources::roleBindings(), {ns1, "baseline"});
    while (aliceAllowed(ns1) && msSince(t1) < 10000) {
    }
    rbacDeny.add(msSince(t1));
  }
  std::printf("baseline: admin creates a RoleBinding -> alice allowed:                  %s\n",
              rbacAllow.summary().c_str());
  std::printf("baseline: admin deletes it -> alice Forbidden:                           %s\n",
              rbacDeny.summary().c_str());
  Stats approveToAccess, revokeToForbidden, approvePatch, revokePatch;
  for (int i = 0; i < n; ++i) {
    const std::string name = fmt::format("lat-{}", i);
    auto created = alice->create(areq, kube::Object(requestJson(name, ns1, ns1, "1h")));
    if (!created) {
      std::fprintf(stderr, "create %s: %s\n", name.c_str(), created.error().describe().c_str());
      continue;
    }
    // Wait for the operator's first status (approvals: []), as an approver would see it.
    for (;;) {
      auto r = adminC->get(areq, {ns1, name});
      if (r && r->body.contains("status") && r->body["status"].contains("approvals")) break;
      std::this_thread::sleep_for(2ms);
    }
    auto t0 = Clk::now();
    auto approved =
        bob->patch(areq, {ns1, name}, kube::PatchType::Json,
                   json::array({{{"op", "add"},
                                 {"path", "/status/approvals/-"},
                                 {"value", {{"decision", "Approve"}, {"comment", "bench"}}}}}),
                   kube::PatchOptions{.subresource = "status"});
    if (!approved) {
      std::fprintf(stderr, "approve %s: %s\n", name.c_str(), approved.error().describe().c_str());
      continue;
    }
    approvePatch.add(msSince(t0));
    while (!aliceAllowed(ns1)) {
      if (msSince(t0) > 10000) break;
    }
    approveToAccess.add(msSince(t0));
    auto t1 = Clk::now();
    (void)alice->patch(areq, {ns1, name}, kube::PatchType::Merge,
                       json{{"spec", {{"revoke", true}}}});
    revokePatch.add(msSince(t1));
    while (aliceAllowed(ns1)) {
      if (msSince(t1) > 10000) break;
    }
    revokeToForbidden.add(msSince(t1));
  }
  std::printf("approval-to-access (bob's patch sent -> alice's first allowed list pods): %s\n",
              approveToAccess.summary().c_str());
  std::printf("revoke-to-forbidden (alice's spec.revoke sent -> first Forbidden):        %s\n",
              revokeToForbidden.summary().c_str());
  std::printf("  of which the approval patch call itself (API server + webhooks):       %s\n",
              approvePatch.summary().c_str());
  std::printf("  of which the revoke patch call itself (API server + webhooks):         %s\n",
              revokePatch.summary().c_str());
  std::fflush(stdout);

  // ---- 2. M requests expiring in the same second ----
  const std::string ns2 = tag + "-exp";
  makeNamespace(ns2);
  (void)adminC->create(kube::resources::accessPolicies(), kube::Object(policyJson(ns2, ns2, 0)));
  std::mutex mu;
  std::map<std::string, TimePoint> deletedAt;  // RoleBinding name -> DELETED seen
  std::atomic<bool> watching{false};
  std::jthread watcher([&](std::stop_token st) {
    kube::WatchOptions wo;
    wo.labelSelector = "app.kubernetes.io/managed-by=kubegrant";
    wo.timeoutSeconds = 600;
    watching = true;
    (void)adminC->watch(
        kube::resources::roleBindings(), ns2, wo,
        [&](const kube::WatchEvent& ev) {
          if (ev.type != kube::WatchEventType::Deleted) return;
          std::lock_guard<std::mutex> g(mu);
          deletedAt[ev.object.name()] = WallClock::now();
        },
        st);
  });
  while (!watching) std::this_thread::sleep_for(10ms);
  // Creation takes a while: aim the common expiry far enough ahead.
  const auto target = std::chrono::floor<std::chrono::seconds>(WallClock::now()) +
                      std::chrono::seconds(20 + m / 40);
  auto tc = Clk::now();
  for (int i = 0; i < m; ++i) {
    auto now = std::chrono::floor<std::chrono::seconds>(WallClock::now());
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(target - now).count();
    auto r = alice->create(areq, kube::Object(requestJson(fmt::format("exp-{}", i), ns2, ns2,
                                                          fmt::format("{}s", secs))));
    if (!r) std::fprintf(stderr, "create exp-%d: %s\n", i, r.error().describe().c_str());
  }
  std::printf("created %d requests in %.1f s\n", m, msSince(tc) / 1000);
  std::fflush(stdout);
  // Read every expiresAt once all are Active.
  std::map<std::string, TimePoint> expiresAt;  // RoleBinding name -> request's expiresAt
  for (int attempt = 0; attempt < 600; ++attempt) {
    auto list = adminC->list(areq, ns2);
    expiresAt.clear();
    int active = 0;
    if (list) {
      for (const auto& it : list->items) {
        const auto& st = it.body.value("status", json::object());
        if (st.value("phase", "") != "Active") continue;
        ++active;
        auto e = parseRfc3339(st.value("expiresAt", ""));
        for (const auto& g : st.value("grants", json::array())) {
          if (e) expiresAt[g.value("name", "")] = *e;
        }
      }
    }
    if (active == m || WallClock::now() >= target) break;
    std::this_thread::sleep_for(200ms);
  }
  int sameSecond = 0;
  for (const auto& [name, e] : expiresAt) sameSecond += (e == target) ? 1 : 0;
  std::printf("%zu active grants; %d of them with expiresAt = %s\n", expiresAt.size(), sameSecond,
              formatRfc3339(target).c_str());
  std::fflush(stdout);
  // Wait until every binding is gone (or 60 s after the target).
  while (WallClock::now() < target + 60s) {
    {
      std::lock_guard<std::mutex> g(mu);
      size_t gone = 0;
      for (const auto& [name, e] : expiresAt) gone += deletedAt.count(name);
      if (gone == expiresAt.size()) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  Stats lag;
  TimePoint lastGone{};
  size_t missing = 0;
  {
    std::lock_guard<std::mutex> g(mu);
    for (const auto& [name, e] : expiresAt) {
      auto it = deletedAt.find(name);
      if (it == deletedAt.end()) {
        ++missing;
        continue;
      }
      lag.add(std::chrono::duration<double, std::milli>(it->second - e).count());
      if (e == target) lastGone = std::max(lastGone, it->second);
    }
  }
  std::printf(
      "expiry precision (expiresAt -> RoleBinding DELETED event), all grants: %s; "
      "not removed: %zu\n",
      lag.summary().c_str(), missing);
  if (sameSecond > 0) {
    std::printf("%d grants expiring at the same second: all gone %.2f s after expiresAt\n",
                sameSecond, std::chrono::duration<double>(lastGone - target).count());
  }
  std::fflush(stdout);
  watcher.request_stop();

  // Cleanup: requests first (the operator removes their finalizers), then the rest.
  sh(k + "delete accessrequests --all -n " + ns1 + " -n " + ns1 +
     " --wait=true --timeout=120s >/dev/null");
  sh(k + "delete accessrequests --all -n " + ns2 + " --wait=true --timeout=300s >/dev/null");
  ::kill(op, SIGTERM);
  int status = 0;
  ::waitpid(op, &status, 0);
  sh(k + "delete validatingwebhookconfiguration,mutatingwebhookconfiguration " + tag +
     " --ignore-not-found >/dev/null");
  sh(k + "delete accesspolicy " + ns1 + " " + ns2 + " --ignore-not-found >/dev/null");
  sh(k + "delete namespace " + ns1 + " " + ns2 + " --wait=false >/dev/null");
  std::filesystem::remove_all(dir);
  return 0;
}
