// Kube client figures against the real local API server (tests/controlplane/up.sh):
// request latency over a keep-alive connection, list cost, watch delivery delay, and what
// the default client-side QPS limit does to a burst. Prints one line per figure.
//
//   source /tmp/kg-<you>/env && build-<you>/bench/kube_client_bench [objects]

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"

namespace {

using namespace kubegrant;
using namespace kubegrant::kube;
using Steady = std::chrono::steady_clock;

double ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string summary(std::vector<double> v) {
  if (v.empty()) return "n=0";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  double sum = 0;
  for (double x : v) sum += x;
  return fmt::format("n={} mean={:.2f}ms p50={:.2f}ms p99={:.2f}ms max={:.2f}ms", v.size(),
                     sum / v.size(), at(0.5), at(0.99), v.back());
}

std::unique_ptr<Client> makeClient(const ClusterConfig& cfg, double qps, int burst) {
  auto c = rest::makeRestClient(cfg, {.qps = qps, .burst = burst});
  if (!c) {
    fmt::print(stderr, "client: {}\n", c.error().describe());
    std::exit(1);
  }
  return std::move(*c);
}

}  // namespace

int main(int argc, char** argv) {
  int objects = argc > 1 ? std::atoi(argv[1]) : 200;
  const char* kubeconfig = std::getenv("KUBEGRANT_KUBECONFIG_ADMIN");
  if (kubeconfig == nullptr) {
    fmt::print(stderr, "KUBEGRANT_KUBECONFIG_ADMIN is not set: source DIR/env first\n");
    return 1;
  }
  auto cfg = loadKubeconfig(kubeconfig);
  if (!cfg) {
    fmt::print(stderr, "{}\n", cfg.error().describe());
    return 1;
  }
  auto client = makeClient(*cfg, 0, 1);  // unlimited: measure the server and transport
  const auto cms = resources::configMaps();
  const std::string ns = fmt::format("bench-kube-{}", ::getpid());
  Object nsObj;
  nsObj.setApiVersionKind(resources::namespaces());
  nsObj.setName(ns);
  if (auto r = client->create(resources::namespaces(), nsObj); !r) {
    fmt::print(stderr, "namespace: {}\n", r.error().describe());
    return 1;
  }

  std::vector<double> createMs;
  for (int i = 0; i < objects; ++i) {
    Object o;
    o.setApiVersionKind(cms);
    o.setNamespace(ns);
    o.setName(fmt::format("cm-{:04}", i));
    o.body["data"] = {{"payload", std::string(512, 'x')}};
    auto t = Steady::now();
    auto r = client->create(cms, o);
    createMs.push_back(ms(Steady::now() - t));
    if (!r) {
      fmt::print(stderr, "create: {}\n", r.error().describe());
      return 1;
    }
  }
  fmt::print("create ConfigMap (512 B): {}\n", summary(createMs));

  std::vector<double> getMs;
  for (int i = 0; i < 500; ++i) {
    auto t = Steady::now();
    auto r = client->get(cms, {ns, fmt::format("cm-{:04}", i % objects)});
    getMs.push_back(ms(Steady::now() - t));
    if (!r) return 1;
  }
  fmt::print("get (keep-alive): {}\n", summary(getMs));

  std::vector<double> listMs;
  for (int i = 0; i < 20; ++i) {
    auto t = Steady::now();
    auto r = client->list(cms, ns);
    listMs.push_back(ms(Steady::now() - t));
    if (!r || static_cast<int>(r->items.size()) != objects) return 1;
  }
  fmt::print("list {} objects: {}\n", objects, summary(listMs));

  // Watch delivery: time from issuing an update to its MODIFIED event reaching the handler.
  std::mutex mu;
  std::condition_variable cv;
  std::string lastRv;
  std::stop_source stop;
  auto start = client->list(cms, ns, {.limit = 1});
  std::thread watcher([&] {
    (void)client->watch(
        cms, ns, {.resourceVersion = start->resourceVersion},
        [&](const WatchEvent& ev) {
          if (ev.type != WatchEventType::Modified) return;
          std::lock_guard lock(mu);
          lastRv = ev.object.resourceVersion();
          cv.notify_all();
        },
        stop.get_token());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<double> watchMs;
  for (int i = 0; i < std::min(objects, 200); ++i) {
    auto t = Steady::now();
    auto r = client->patch(cms, {ns, fmt::format("cm-{:04}", i)}, PatchType::Merge,
                           {{"data", {{"n", std::to_string(i)}}}});
    if (!r) return 1;
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(10),
                     [&] { return lastRv == r->resourceVersion(); })) {
      fmt::print(stderr, "watch: no event for rv {}\n", r->resourceVersion());
      return 1;
    }
    watchMs.push_back(ms(Steady::now() - t));
  }
  auto stopAt = Steady::now();
  stop.request_stop();
  watcher.join();
  fmt::print("patch -> MODIFIED event delivered: {}\n", summary(watchMs));
  fmt::print("watch stop: {:.2f}ms\n", ms(Steady::now() - stopAt));

  // The default client-side limit (50 QPS, burst 100) on 300 back-to-back GETs.
  auto limited = makeClient(*cfg, 50, 100);
  auto t = Steady::now();
  for (int i = 0; i < 300; ++i) {
    if (!limited->get(cms, {ns, "cm-0000"})) return 1;
  }
  double seconds = ms(Steady::now() - t) / 1000;
  fmt::print("300 GETs at qps=50 burst=100: {:.2f}s ({:.0f} req/s; expected ~4s)\n", seconds,
             300 / seconds);

  (void)client->remove(resources::namespaces(), {"", ns});
  return 0;
}
