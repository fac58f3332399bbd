// Informer benchmark against the real local API server (see bench/README.md, "informer"):
//  1. a child process creates N ConfigMaps of ~1 KiB in a fresh namespace (a few client
//     threads), so the measuring process never holds the creation traffic's memory;
//  2. the parent starts an informer on that namespace and reports time to sync and its RSS
//     (VmRSS from /proc/self/status) before and after, with the objects cached;
//  3. with those objects cached it creates M more ConfigMaps one by one and reports the
//     create-to-event-delivered latency (create call issued -> onAdd ran) p50/p90/p99/max.
// Usage: informer_bench [objects=10000] [latency-samples=1000] [creator-threads=4] [namespace]
// (an existing, already populated namespace from an earlier run skips step 1)
// Needs KUBEGRANT_KUBECONFIG_ADMIN (source DIR/env from tests/controlplane/up.sh).
// INFORMER_BENCH_MALLINFO=1 also prints malloc statistics (all arenas), =2 adds glibc's
// malloc_info() XML (per arena: size, free chunks by size) to see where memory sits.

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/informer.h"

using namespace kubegrant;
using Steady = std::chrono::steady_clock;

namespace {

long rssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

std::unique_ptr<kube::Client> makeClient(const std::string& kubeconfig) {
  auto cfg = kube::loadKubeconfig(kubeconfig);
  if (!cfg) {
    std::fprintf(stderr, "kubeconfig: %s\n", cfg.error().describe().c_str());
    std::exit(1);
  }
  kube::rest::RestOptions ro;
  ro.qps = 0;  // measure the server and the informer, not the client-side limiter
  auto c = kube::rest::makeRestClient(*cfg, ro);
  if (!c) {
    std::fprintf(stderr, "client: %s\n", c.error().describe().c_str());
    std::exit(1);
  }
  return std::move(*c);
}

kube::Object configMap(const std::string& ns, const std::string& name) {
  kube::Object o;
  o.setApiVersionKind(kube::resources::configMaps());
  o.setNamespace(ns);
  o.setName(name);
  o.setLabel("app.kubernetes.io/name", "informer-bench");
  o.setLabel("kubegrant.io/request-uid", name);
  // ~1 KiB per object as stored (metadata included).
  std::string payload(760, 'x');
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = "abcdefghijklmnopqrstuvwxyz"[(i * 7 + name.size()) % 26];
  o.body["data"] = {{"payload", payload}, {"owner", "payments"}};
  return o;
}

int populate(const std::string& kubeconfig, const std::string& ns, int objects, int threads) {
  auto client = makeClient(kubeconfig);
  kube::Object nsObj;
  nsObj.setApiVersionKind(kube::resources::namespaces());
  nsObj.setName(ns);
  if (auto r = client->create(kube::resources::namespaces(), nsObj); !r) {
    std::fprintf(stderr, "namespace: %s\n", r.error().describe().c_str());
    return 1;
  }
  std::atomic<int> next{0}, failures{0};
  auto t0 = Steady::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto c = makeClient(kubeconfig);  // one connection per thread
      for (int i; (i = next++) < objects;) {
        auto r = c->create(kube::resources::configMaps(), configMap(ns, "cm-" + std::to_string(i)));
        if (!r) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  std::printf("created %d ConfigMaps with %d threads in %.1f s (%.0f/s), %d failures\n", objects,
              threads, secs, objects / secs, failures.load());
  return failures == 0 ? 0 : 1;
}

int measureMemory(const std::string& kubeconfig, const std::string& ns, bool compact) {
  auto client = makeClient(kubeconfig);
  SystemClock clock;
  runtime::InformerOptions opts;
  opts.namespace_ = ns;
  opts.compactCache = compact;
  runtime::Informer inf(*client, kube::resources::configMaps(), clock, opts);
  inf.addIndexer("request-uid", runtime::indexByLabel("kubegrant.io/request-uid"));
  // A warm-up request so the connection pool and TLS state are in the baseline.
  (void)client->list(kube::resources::namespaces(), "", {.limit = 1});
  malloc_trim(0);
  const long before = rssKiB();
  auto t0 = Steady::now();
  inf.start();
  if (!inf.waitForSync(std::chrono::minutes(3))) {
    std::fprintf(stderr, "informer did not sync\n");
    return 1;
  }
  const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  const long synced = rssKiB();
  malloc_trim(0);
  const long trimmed = rssKiB();
  const size_t n = inf.store().size();
  if (std::getenv("INFORMER_BENCH_MALLINFO") != nullptr) {
    struct mallinfo2 mi = mallinfo2();
    std::printf("  malloc (all arenas): in use %.1f MiB, arena %.1f MiB, mmapped %.1f MiB\n",
                (mi.uordblks + mi.hblkhd) / 1048576.0, mi.arena / 1048576.0, mi.hblkhd / 1048576.0);
    if (std::string(std::getenv("INFORMER_BENCH_MALLINFO")) == "2") malloc_info(0, stdout);
  }
  // A read through the index, to show the cache answers.
  auto t1 = Steady::now();
  size_t hits = inf.store().byIndex("request-uid", "cm-42").size();
  const double lookupUs = std::chrono::duration<double, std::micro>(Steady::now() - t1).count();
  std::printf(
      "[%s cache] synced %zu objects in %.2f s; VmRSS before %.1f MiB, synced %.1f MiB, "
      "after malloc_trim %.1f MiB (~%.2f KiB/object); index lookup %.1f us (%zu hit)\n",
      compact ? "compact" : "shared", n, secs, before / 1024.0, synced / 1024.0, trimmed / 1024.0,
      double(trimmed - before) / std::max<size_t>(1, n), lookupUs, hits);
  inf.stop();
  return 0;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const int objects = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int samples = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
  const char* kc = std::getenv("KUBEGRANT_KUBECONFIG_ADMIN");
  if (kc == nullptr || *kc == '\0') {
    std::fprintf(stderr, "KUBEGRANT_KUBECONFIG_ADMIN is not set: source DIR/env first\n");
    return 2;
  }
  const std::string kubeconfig = kc;
  log::setLevel(log::Level::Warn);
  // An existing namespace from an earlier run may be given to skip populating.
  const bool reuse = argc > 4;
  const std::string ns = reuse ? argv[4] : "informer-bench-" + std::to_string(::getpid());
  const std::string latPrefix = "lat-" + std::to_string(::getpid()) + "-";

  // 1. Populate from a child process (before this process starts any thread).
  int status = 0;
  if (!reuse) {
    pid_t child = ::fork();
    if (child == 0) {
      int rc = populate(kubeconfig, ns, objects, threads);
      std::fflush(stdout);
      ::_exit(rc);
    }
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "populating failed\n");
      return 1;
    }
  }

  // 2. Cache them: each mode measured in its own child process, so one mode's freed memory
  // cannot flatter or spoil the other's figure.
  for (bool compact : {false, true}) {
    std::fflush(stdout);
    pid_t m = ::fork();
    if (m == 0) {
      int rc = measureMemory(kubeconfig, ns, compact);
      std::fflush(stdout);
      ::_exit(rc);
    }
    ::waitpid(m, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }

  auto client = makeClient(kubeconfig);
  SystemClock clock;
  runtime::InformerOptions opts;
  opts.namespace_ = ns;
  runtime::Informer inf(*client, kube::resources::configMaps(), clock, opts);
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, Steady::time_point> delivered;
  runtime::EventHandler h;
  h.onAdd = [&](const runtime::ObjectPtr& o) {
    auto now = Steady::now();
    const std::string& n = o->body["metadata"]["name"].get_ref<const std::string&>();
    if (n.rfind(latPrefix, 0) != 0) return;
    std::lock_guard<std::mutex> g(mu);
    delivered[n] = now;
    cv.notify_all();
  };
  inf.addEventHandler(h);
  inf.start();
  if (!inf.waitForSync(std::chrono::minutes(3))) {
    std::fprintf(stderr, "informer did not sync\n");
    return 1;
  }

  // 3. Create-to-event latency, one create at a time.
  std::vector<double> ms;
  ms.reserve(samples);
  int lost = 0;
  for (int i = 0; i < samples; ++i) {
    const std::string name = latPrefix + std::to_string(i);
    auto start = Steady::now();
    auto r = client->create(kube::resources::configMaps(), configMap(ns, name));
    if (!r) {
      std::fprintf(stderr, "create %s: %s\n", name.c_str(), r.error().describe().c_str());
      continue;
    }
    std::unique_lock<std::mutex> lk(mu);
    if (!cv.wait_for(lk, std::chrono::seconds(10), [&] { return delivered.count(name) != 0; })) {
      ++lost;
      continue;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(delivered[name] - start).count());
  }
  if (!ms.empty()) {
    std::printf(
        "create-to-event over %zu objects: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
        "max %.2f ms (%d lost)\n",
        ms.size(), percentile(ms, 0.5), percentile(ms, 0.9), percentile(ms, 0.99),
        *std::max_element(ms.begin(), ms.end()), lost);
  }
  std::printf("VmRSS with %zu objects cached: %.1f MiB\n", inf.store().size(), rssKiB() / 1024.0);
  inf.stop();
  // Without a controller-manager deleting the namespace would not delete its ConfigMaps;
  // they stay for a later run (or go with the throwaway control plane).
  std::printf("objects left in namespace %s; reuse it: informer_bench %d %d %d %s\n", ns.c_str(),
              objects, samples, threads, ns.c_str());
  return 0;
}
