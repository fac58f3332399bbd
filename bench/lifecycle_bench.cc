// AccessRequest lifecycle benchmark against the real local control plane, with the real
// kubegrant-operator binary (controller + webhook) as a child process. Not a test: it prints
// figures for bench/README.md ("AccessRequest lifecycle").
//
//   1. approval-to-access: N sequential requests; from the moment bob's approval patch is sent
//      to alice's first allowed call, then revoke-to-forbidden for the same request
//      (spec.revoke). alice polls back to back with one of three probes: GET of one ConfigMap
//      (a plain read; N requests, the headline figure), a SelfSubjectAccessReview for
//      `list pods` (the authorizer's answer, `kubectl auth can-i`; N/4), and `list pods` (what
//      `kubectl get pods` does; an allowed consistent list may wait for the API server's watch
//      cache; N/4).
//   2. expiry precision: N requests (required 0) created at a steady pace so their expiresAt
//      are spread out; per RoleBinding, from expiresAt to its DELETED watch event.
//   3. idle: with Active and Pending requests in place and nothing changing, the API writes
//      per minute (the API server's own apiserver_request_total, write verbs, kubegrant's
//      resources) over 60 s.
//   4. a thundering herd: M requests (required 0) whose expiresAt all fall in the same second;
//      per RoleBinding, from expiresAt to its DELETED watch event, and the time until all are
//      gone.
//
//      With BACKLOG > 0, up to BACKLOG Pending requests are created (in another namespace,
//      each queueing a "Requested" Event) after the herd is Active and until a second before
//      its expiresAt (which is BACKLOG/80 s later to leave the time), so the herd expires while
//      thousands of Events are still queued in the operator; the bench reads the operator's
//      kubegrant_events_pending at expiresAt (issue 15: Events never delay revocation).
//
// Usage (after `source DIR/env` of tests/controlplane/up.sh):
//   build/bench/lifecycle_bench [N=200] [M=1000] [operator workers=8] [BACKLOG=0]
// N=0 runs only the herd (4). KG_BENCH_OPERATOR_ARGS="--flag value ..." adds operator flags (A/B
// runs); KG_BENCH_LOG_LEVEL and KG_BENCH_TRACE are described where they are read.

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
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

// CPU seconds (user + system) a process has used so far; 0 when it cannot be read.
double cpuSeconds(pid_t pid) {
  FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  size_t len = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[len] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may contain spaces
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime.
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
      2)
    return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

pid_t pidFromFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return 0;
  int pid = 0;
  if (std::fscanf(f, "%d", &pid) != 1) pid = 0;
  std::fclose(f);
  return pid;
}

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
        // alice holds up to 1,000 open requests at once (the herd): the CRD's maximum.
        {"maxOpenRequests", 1000},
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
  const int backlog = argc > 4 ? std::atoi(argv[4]) : 0;
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
  sh(kSource + "/operator/deploy/render-rbac.sh kubegrant-operator | " + k +
     "apply -f - >/dev/null");
  // The seal keys every replica reads, created once per control plane.
  sh(k + "get secret -n kubegrant-system kubegrant-seal-keys >/dev/null 2>&1 || " + kSource +
     "/operator/deploy/seal-keys.sh new | " + k + "create -f - >/dev/null");
  sh(k + "apply -f " + kSource + "/operator/deploy/rbac-users.yaml >/dev/null");
  sh(std::string(KG_CERTS_BIN) + " --dir " + dir + "/certs --ip 127.0.0.1 >/dev/null");
  const int webhookPort = ::kubegrant::testing::freeLoopbackPort(),
            healthPort = ::kubegrant::testing::freeLoopbackPort(),
            metricsPort = ::kubegrant::testing::freeLoopbackPort();
  pid_t op = ::fork();
  if (op == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no operator left behind when the bench is killed
    int fd = ::open((dir + "/operator.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> args = {
        KG_OPERATOR_BIN, "--kubeconfig", kOperatorKubeconfig, "--operator-identity",
        "kubegrant-operator",
        // the bench's clean-up deletes every request as admin
        "--admin-group", "system:masters", "--webhook-port", std::to_string(webhookPort),
        "--webhook-cert-dir", dir + "/certs", "--health-addr",
        fmt::format("127.0.0.1:{}", healthPort), "--metrics-addr",
        fmt::format("127.0.0.1:{}", metricsPort), "--workers", workers, "--kube-api-qps", "5000",
        "--kube-api-burst", "10000", "--log-level",
        std::getenv("KG_BENCH_LOG_LEVEL") ? std::getenv("KG_BENCH_LOG_LEVEL") : "warn"};
    // KG_BENCH_OPERATOR_ARGS: more operator flags, space-separated (A/B runs, bench/README.md).
    if (const char* extra = std::getenv("KG_BENCH_OPERATOR_ARGS")) {
      std::istringstream in(extra);
      for (std::string a; in >> a;) args.push_back(a);
    }
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
                  "https://127.0.0.1:{} {}/certs/ca.crt kubegrant-operator | {} apply -f - "
                  ">/dev/null",
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
  // Three ways for alice to find out she has access (see the header); each probe has its own
  // client, so one waiting call never delays another.
  enum Probe { kGet, kCanI, kList, kProbes };
  const char* probeNames[kProbes] = {"GET configmap", "can-i (SSAR)", "list pods"};
  std::unique_ptr<kube::Client> probeClients[kProbes] = {clientFor(aliceCfg), clientFor(aliceCfg),
                                                         clientFor(aliceCfg)};
  auto aliceAllowed = [&](Probe probe, const std::string& ns) -> bool {
    kube::Client& c = *probeClients[probe];
    switch (probe) {
      case kGet:
        return c.get(kube::resources::configMaps(), {ns, "probe"}).has_value();
      case kCanI: {
        json review = {{"apiVersion", "authorization.k8s.io/v1"},
                       {"kind", "SelfSubjectAccessReview"},
                       {"spec",
                        {{"resourceAttributes",
                          {{"namespace", ns}, {"verb", "list"}, {"resource", "pods"}}}}}};
        auto r = c.create(kube::resources::selfSubjectAccessReviews(), kube::Object(review));
        return r && r->body["status"].value("allowed", false);
      }
      default: {
        kube::ListOptions lo;
        lo.limit = 1;
        return c.list(kube::resources::pods(), ns, lo).has_value();
      }
    }
  };
  // Polls one probe back to back from t0 until it answers `want`; returns the time taken.
  // One probe at a time: concurrent pollers would load the API server they measure.
  auto poll = [&](Probe probe, const std::string& ns, bool want, Clk::time_point t0) {
    while (aliceAllowed(probe, ns) != want && msSince(t0) < 10000) {
    }
    return msSince(t0);
  };
  // Samples per probe: GET is the headline figure, the others are for comparison.
  auto samples = [&](Probe probe, int full) {
    return probe == kGet ? full : std::max(full / 4, 1);
  };

  // ---- 1. approval-to-access and revoke-to-forbidden ----
  const std::string ns1 = tag + "-lat";
  makeNamespace(ns1);
  (void)adminC->create(kube::resources::configMaps(),
                       kube::Object(json{{"apiVersion", "v1"},
                                         {"kind", "ConfigMap"},
                                         {"metadata", {{"name", "probe"}, {"namespace", ns1}}},
                                         {"data", {{"k", "v"}}}}));
  for (int i = 0; i < 100; ++i) {  // the policy webhook needs the operator's cache warm
    auto created =
        adminC->create(kube::resources::accessPolicies(), kube::Object(policyJson(ns1, ns1, 1)));
    if (created) break;
    if (i == 99) std::fprintf(stderr, "create policy: %s\n", created.error().describe().c_str());
    std::this_thread::sleep_for(100ms);
  }
  // Baseline without kubegrant: admin creates/deletes a RoleBinding for alice directly; how
  // long until the API server's authorizer agrees. The lifecycle figures include this; as many
  // samples as the approvals below, so that their tails compare.
  Stats rbacAllow[kProbes], rbacDeny[kProbes];
  json rb = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", {{"name", "baseline"}, {"namespace", ns1}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "view"}}},
      {"subjects",
       json::array(
           {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "User"}, {"name", "alice"}}})}};
  for (int p = 0; p < kProbes; ++p) {
    const auto probe = static_cast<Probe>(p);
    for (int i = 0; i < samples(probe, n); ++i) {
      auto t0 = Clk::now();
      if (!adminC->create(kube::resources::roleBindings(), kube::Object(rb))) break;
      rbacAllow[p].add(poll(probe, ns1, true, t0));
      auto t1 = Clk::now();
      (void)adminC->remove(kube::resources::roleBindings(), {ns1, "baseline"});
      rbacDeny[p].add(poll(probe, ns1, false, t1));
    }
  }
  for (int p = 0; p < kProbes; ++p) {
    std::printf("baseline: admin creates a RoleBinding -> alice allowed, %-14s %s\n", probeNames[p],
                rbacAllow[p].summary().c_str());
  }
  for (int p = 0; p < kProbes; ++p) {
    std::printf("baseline: admin deletes it -> alice Forbidden, %-14s        %s\n", probeNames[p],
                rbacDeny[p].summary().c_str());
  }
  Stats approveToAccess[kProbes], revokeToForbidden[kProbes], approvePatch, revokePatch;
  // KG_BENCH_TRACE=FILE: per GET-probe approval, the request's name and the wall-clock
  // microseconds when bob's patch was sent, when it returned and when alice was allowed; with
  // KG_BENCH_LOG_LEVEL=debug, bench/approval_profile.py joins them to the operator's plan lines.
  FILE* trace =
      std::getenv("KG_BENCH_TRACE") ? std::fopen(std::getenv("KG_BENCH_TRACE"), "w") : nullptr;
  auto wallUs = [] {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  };
  for (int p = 0; p < kProbes; ++p) {
    const auto probe = static_cast<Probe>(p);
    for (int i = 0; i < samples(probe, n); ++i) {
      const std::string name = fmt::format("lat-{}-{}", p, i);
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
      const long long w0 = wallUs();
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
      const long long w1 = wallUs();
      approveToAccess[p].add(poll(probe, ns1, true, t0));
      if (trace && p == kGet)
        std::fprintf(trace, "%s %lld %lld %lld\n", name.c_str(), w0, w1, wallUs());
      auto t1 = Clk::now();
      (void)alice->patch(areq, {ns1, name}, kube::PatchType::Merge,
                         json{{"spec", {{"revoke", true}}}});
      revokePatch.add(msSince(t1));
      revokeToForbidden[p].add(poll(probe, ns1, false, t1));
    }
  }
  for (int p = 0; p < kProbes; ++p) {
    std::printf("approval-to-access (bob's patch sent -> alice allowed), %-14s %s\n", probeNames[p],
                approveToAccess[p].summary().c_str());
  }
  for (int p = 0; p < kProbes; ++p) {
    std::printf("revoke-to-forbidden (spec.revoke sent -> Forbidden),    %-14s %s\n", probeNames[p],
                revokeToForbidden[p].summary().c_str());
  }
  if (trace) std::fclose(trace);
  std::printf("  of which the approval patch call itself (API server + webhooks):       %s\n",
              approvePatch.summary().c_str());
  std::printf("  of which the revoke patch call itself (API server + webhooks):         %s\n",
              revokePatch.summary().c_str());
  std::fflush(stdout);

  // ---- expiry runs: requests (required 0) and the DELETED events of their RoleBindings ----
  struct ExpiryRun {
    Stats lag;
    size_t grants = 0, missing = 0;
    int sameSecond = 0;
    double allGoneSeconds = 0;  // after the shared expiresAt (herd only)
  };
  // `count` requests in `ns`; with `pace` > 0 one is created every `pace` with `duration`
  // (expiries spread out), otherwise as fast as possible, all aimed at one expiresAt second.
  // A herd's expiresAt is `lead` later than its creation needs; `beforeTarget` runs once all
  // are Active, before that moment (given it), and `atTarget` at it.
  auto expiryRun = [&](const std::string& ns, int count, std::chrono::milliseconds pace,
                       std::chrono::seconds duration,
                       const std::function<void()>& atTarget = nullptr,
                       const std::function<void(TimePoint)>& beforeTarget = nullptr,
                       std::chrono::seconds lead = 0s) {
    ExpiryRun out;
    makeNamespace(ns);
    (void)adminC->create(kube::resources::accessPolicies(), kube::Object(policyJson(ns, ns, 0)));
    std::mutex mu;
    std::map<std::string, TimePoint> deletedAt;  // RoleBinding name -> DELETED seen
    std::atomic<bool> watching{false};
    std::jthread watcher([&](std::stop_token st) {
      kube::WatchOptions wo;
      wo.labelSelector = "app.kubernetes.io/managed-by=kubegrant";
      wo.timeoutSeconds = 900;
      watching = true;
      (void)adminC->watch(
          kube::resources::roleBindings(), ns, wo,
          [&](const kube::WatchEvent& ev) {
            if (ev.type != kube::WatchEventType::Deleted) return;
            std::lock_guard<std::mutex> g(mu);
            deletedAt[ev.object.name()] = WallClock::now();
          },
          st);
    });
    while (!watching) std::this_thread::sleep_for(10ms);
    const bool herd = pace.count() == 0;
    // Creation takes a while: aim the common expiry far enough ahead.
    const auto target = std::chrono::floor<std::chrono::seconds>(WallClock::now()) +
                        std::chrono::seconds(20 + count / 10) + lead;
    auto tc = Clk::now();
    for (int i = 0; i < count; ++i) {
      std::string d = fmt::format("{}s", duration.count());
      if (herd) {
        auto now = std::chrono::floor<std::chrono::seconds>(WallClock::now());
        d = fmt::format("{}s",
                        std::chrono::duration_cast<std::chrono::seconds>(target - now).count());
      } else {
        std::this_thread::sleep_until(tc + i * pace);
      }
      auto r = alice->create(areq, kube::Object(requestJson(fmt::format("exp-{}", i), ns, ns, d)));
      if (!r) std::fprintf(stderr, "create exp-%d: %s\n", i, r.error().describe().c_str());
    }
    std::printf("created %d requests in %.1f s\n", count, msSince(tc) / 1000);
    std::fflush(stdout);
    // Read every expiresAt once all are Active (before the first expires).
    std::map<std::string, TimePoint> expiresAt;  // RoleBinding name -> request's expiresAt
    for (int attempt = 0; attempt < 600; ++attempt) {
      auto list = adminC->list(areq, ns);
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
      if (active == count || (herd && WallClock::now() >= target)) break;
      std::this_thread::sleep_for(200ms);
    }
    for (const auto& [name, e] : expiresAt) out.sameSecond += (e == target) ? 1 : 0;
    TimePoint last{};
    for (const auto& [name, e] : expiresAt) last = std::max(last, e);
    if (beforeTarget) beforeTarget(target);
    if (atTarget) {
      std::this_thread::sleep_until(target);
      atTarget();
    }
    // Wait until every binding is gone (or 60 s after the last expiry).
    while (WallClock::now() < last + 60s) {
      {
        std::lock_guard<std::mutex> g(mu);
        size_t gone = 0;
        for (const auto& [name, e] : expiresAt) gone += deletedAt.count(name);
        if (gone == expiresAt.size()) break;
      }
      std::this_thread::sleep_for(100ms);
    }
    TimePoint lastGone{};
    {
      std::lock_guard<std::mutex> g(mu);
      out.grants = expiresAt.size();
      for (const auto& [name, e] : expiresAt) {
        auto it = deletedAt.find(name);
        if (it == deletedAt.end()) {
          ++out.missing;
          continue;
        }
        out.lag.add(std::chrono::duration<double, std::milli>(it->second - e).count());
        if (e == target) lastGone = std::max(lastGone, it->second);
      }
    }
    if (out.sameSecond > 0)
      out.allGoneSeconds = std::chrono::duration<double>(lastGone - target).count();
    watcher.request_stop();
    return out;
  };

  // ---- 2. expiry precision, expiries spread out ----
  const std::string ns2 = tag + "-exp";
  if (n > 0) {
    auto run = expiryRun(ns2, n, 50ms, 15s);
    std::printf(
        "expiry precision, %zu grants created every 50 ms, 15s each (expiresAt -> RoleBinding "
        "DELETED event): %s; not removed: %zu\n",
        run.grants, run.lag.summary().c_str(), run.missing);
    std::fflush(stdout);
  }

  // ---- 3. idle: API writes per minute when nothing changes ----
  const std::string ns3 = tag + "-idle";
  if (n > 0) {
    makeNamespace(ns3);
    (void)adminC->create(kube::resources::accessPolicies(), kube::Object(policyJson(ns3, ns3, 0)));
    (void)adminC->create(kube::resources::accessPolicies(),
                         kube::Object(policyJson(ns3 + "-pending", ns3, 1)));
    const int idleActive = 50, idlePending = 50;
    for (int i = 0; i < idleActive; ++i)
      (void)alice->create(areq,
                          kube::Object(requestJson(fmt::format("active-{}", i), ns3, ns3, "1h")));
    for (int i = 0; i < idlePending; ++i) {
      (void)alice->create(areq, kube::Object(requestJson(fmt::format("pending-{}", i), ns3,
                                                         ns3 + "-pending", "1h")));
    }
    // The API server's own count of write requests, by resource, from its /metrics.
    auto writes = [&]() {
      std::map<std::string, double> byResource;
      FILE* f = ::popen((k + "get --raw /metrics 2>/dev/null").c_str(), "r");
      if (!f) return byResource;
      char line[4096];
      while (std::fgets(line, sizeof line, f)) {
        std::string l(line);
        if (l.rfind("apiserver_request_total{", 0) != 0) continue;
        auto label = [&](const std::string& key) {
          auto p = l.find(key + "=\"");
          if (p == std::string::npos) return std::string();
          p += key.size() + 2;
          return l.substr(p, l.find('"', p) - p);
        };
        const std::string verb = label("verb");
        if (verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE" &&
            verb != "APPLY" && verb != "DELETECOLLECTION")
          continue;
        std::string resource = label("resource");
        if (!label("subresource").empty()) resource += "/" + label("subresource");
        byResource[resource] += std::atof(l.substr(l.rfind(' ') + 1).c_str());
      }
      ::pclose(f);
      return byResource;
    };
    // Settle: every request has its status, then a little more for the follow-up events.
    for (int attempt = 0; attempt < 300; ++attempt) {
      auto list = adminC->list(areq, ns3);
      int settled = 0;
      if (list) {
        for (const auto& it : list->items) {
          auto phase = it.body.value("status", json::object()).value("phase", "");
          settled += (phase == "Active" || phase == "Pending") ? 1 : 0;
        }
      }
      if (settled == idleActive + idlePending) break;
      std::this_thread::sleep_for(200ms);
    }
    std::this_thread::sleep_for(5s);
    // Nothing changes from here on, but the paced Event sink may still be sending the Events of
    // the phases before: wait until kubegrant's write count stands still for 5 s (max 3 min).
    auto kubegrantTotal = [&](const std::map<std::string, double>& w) {
      double sum = 0;
      for (const auto& [resource, v] : w) {
        if (resource.rfind("accessrequests", 0) == 0 || resource.rfind("accesspolicies", 0) == 0 ||
            resource.rfind("rolebindings", 0) == 0 || resource.rfind("events", 0) == 0 ||
            resource.rfind("secrets", 0) == 0)
          sum += v;
      }
      return sum;
    };
    {
      auto ts = Clk::now();
      double last = -1;
      while (msSince(ts) < 180000) {
        double now = kubegrantTotal(writes());
        if (now == last) break;
        last = now;
        std::this_thread::sleep_for(5s);
      }
      std::printf("idle: settled %.0f s after the requests were in place\n", msSince(ts) / 1000);
    }
    auto before = writes();
    auto t0 = Clk::now();
    std::this_thread::sleep_for(60s);
    auto after = writes();
    const double minutes = msSince(t0) / 60000.0;
    const double kubegrantWrites = kubegrantTotal(after) - kubegrantTotal(before);
    std::string detail;
    for (const auto& [resource, v] : after) {
      const double d = v - (before.count(resource) ? before[resource] : 0.0);
      if (d > 0) detail += fmt::format(" {}={:.0f}", resource, d);
    }
    std::printf(
        "idle, %d Active + %d Pending requests, %.1f min: %.1f writes/min to kubegrant's "
        "resources (accessrequests, rolebindings, events, secrets); all writes seen:%s\n",
        idleActive, idlePending, minutes, kubegrantWrites / minutes,
        detail.empty() ? " none" : detail.c_str());
    std::fflush(stdout);
  }

  // ---- 4. M requests expiring in the same second ----
  const std::string ns4 = tag + "-herd";
  {
    // Who spends the CPU while the herd is revoked: the operator, the API server, etcd.
    const std::string pids = envOr("KUBEGRANT_TEST_DIR") + "/pids/";
    const pid_t apiserver = pidFromFile(pids + "kube-apiserver.pid"),
                etcd = pidFromFile(pids + "etcd.pid");
    double cpu0[3] = {};
    // The operator's own gauge, from its /metrics.
    auto operatorMetric = [&](const std::string& name) {
      const std::string cmd =
          fmt::format("curl -sf http://127.0.0.1:{}/metrics | awk '$1 == \"{}\" {{print $2}}'",
                      metricsPort, name);
      FILE* f = ::popen(cmd.c_str(), "r");
      double v = -1;
      if (f != nullptr) {
        if (std::fscanf(f, "%lf", &v) != 1) v = -1;
        ::pclose(f);
      }
      return v;
    };
    // The backlog: Pending requests, each queueing a "Requested" Event (paced at 20/s), created
    // by 4 clients after the herd is Active, at the latest until a second before its
    // expiresAt, so that thousands of Events are still queued when the herd expires.
    const std::string nsb = ns4 + "-backlog";
    auto createBacklog = [&](TimePoint target) {
      // Started so that it would end a second before expiresAt at 100 creates/s (4 clients
      // manage ~160/s here): then the Event queue, paced at 20/s, is still full at expiresAt.
      std::this_thread::sleep_until(target - 1s - std::chrono::seconds(backlog / 100));
      auto tb = Clk::now();
      std::atomic<int> created{0};
      std::vector<std::jthread> creators;
      for (int c = 0; c < 4; ++c) {
        creators.emplace_back([&, c] {
          for (int i = c; i < backlog && WallClock::now() < target - 1s; i += 4) {
            auto r = alice->create(
                areq, kube::Object(requestJson(fmt::format("backlog-{}", i), nsb,
                                               fmt::format("{}-{}", nsb, i / 1000), "1h")));
            if (r) {
              ++created;
            } else {
              std::fprintf(stderr, "create backlog-%d: %s\n", i, r.error().describe().c_str());
            }
          }
        });
      }
      creators.clear();  // joins
      const double left = std::chrono::duration<double>(target - WallClock::now()).count();
      std::printf(
          "created %d Pending requests (the Event backlog) in %.1f s, %.1f s before the herd's "
          "expiresAt; Events queued: %.0f\n",
          created.load(), msSince(tb) / 1000, left, operatorMetric("kubegrant_events_pending"));
      std::fflush(stdout);
    };
    if (backlog > 0) {
      makeNamespace(nsb);
      for (int p = 0; p * 1000 < backlog; ++p) {
        (void)adminC->create(kube::resources::accessPolicies(),
                             kube::Object(policyJson(fmt::format("{}-{}", nsb, p), nsb, 1)));
      }
    }
    // Sampled when the herd's expiresAt comes (expiryRun reports it), and after.
    std::atomic<bool> sampled{false};
    double queuedAtExpiry = -1;
    auto run = expiryRun(
        ns4, m, 0ms, 0s,
        [&] {
          cpu0[0] = cpuSeconds(op);
          cpu0[1] = cpuSeconds(apiserver);
          cpu0[2] = cpuSeconds(etcd);
          sampled = true;
          queuedAtExpiry = operatorMetric("kubegrant_events_pending");
        },
        backlog > 0 ? std::function<void(TimePoint)>(createBacklog) : nullptr,
        std::chrono::seconds(backlog / 80));
    std::printf(
        "operator Events: %.0f queued at the herd's expiresAt, %.0f queued now; dropped %.0f "
        "(of which too old %.0f)\n",
        queuedAtExpiry, operatorMetric("kubegrant_events_pending"),
        operatorMetric("kubegrant_events_dropped"), operatorMetric("kubegrant_events_expired"));
    if (sampled) {
      std::printf(
          "CPU seconds from the herd's expiresAt until all were gone: operator %.2f, "
          "kube-apiserver %.2f, etcd %.2f\n",
          cpuSeconds(op) - cpu0[0], cpuSeconds(apiserver) - cpu0[1], cpuSeconds(etcd) - cpu0[2]);
    }
    std::printf("%zu active grants in the herd; %d of them with the same expiresAt second\n",
                run.grants, run.sameSecond);
    std::printf(
        "herd expiry (expiresAt -> RoleBinding DELETED event), all grants: %s; not removed: "
        "%zu\n",
        run.lag.summary().c_str(), run.missing);
    if (run.sameSecond > 0) {
      std::printf("%d grants expiring at the same second: all gone %.2f s after expiresAt\n",
                  run.sameSecond, run.allGoneSeconds);
    }
    std::fflush(stdout);
  }

  // Cleanup: requests first (the operator removes their finalizers), then the rest. Deleted
  // without kubectl's --wait, which with thousands of objects kept waiting for minutes after
  // none was left; the bench lists until none is (at most 300 s).
  for (const auto& ns : {ns1, ns2, ns3, ns4, ns4 + "-backlog"}) {
    sh(k + "delete accessrequests --all -n " + ns + " --wait=false >/dev/null");
  }
  for (const auto tc = Clk::now(); msSince(tc) < 300'000; std::this_thread::sleep_for(500ms)) {
    std::size_t left = 0;
    for (const auto& ns : {ns1, ns2, ns3, ns4, ns4 + "-backlog"}) {
      kube::ListOptions lo;
      lo.limit = 1;
      auto l = adminC->list(areq, ns, lo);
      left += l ? l->items.size() : 1;
    }
    if (left == 0) break;
  }
  ::kill(op, SIGTERM);
  int status = 0;
  ::waitpid(op, &status, 0);
  sh(k + "delete validatingwebhookconfiguration,mutatingwebhookconfiguration " + tag +
     " --ignore-not-found >/dev/null");
  sh(k + "delete accesspolicy " + ns1 + " " + ns2 + " " + ns3 + " " + ns3 + "-pending " + ns4 +
     " --ignore-not-found >/dev/null");
  for (int p = 0; p * 1000 < backlog; ++p) {
    sh(fmt::format("{}delete accesspolicy {}-backlog-{} --ignore-not-found >/dev/null", k, ns4, p));
  }
  sh(k + "delete namespace " + ns1 + " " + ns2 + " " + ns3 + " " + ns4 + " " + ns4 +
     "-backlog --wait=false --ignore-not-found >/dev/null");
  if (const char* t = std::getenv("KG_BENCH_TRACE")) {  // the plan lines, kept with the trace
    std::error_code ec;
    std::filesystem::copy_file(dir + "/operator.log", std::string(t) + ".operator.log",
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
