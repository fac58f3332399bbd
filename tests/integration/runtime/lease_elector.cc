// Test helper: runs one leader elector on a Lease and reports on stdout, one line each:
//   LEADING <identity> <unix ms>    when it starts leading
//   STOPPED <identity> <unix ms>    when it stops leading (then it exits 0)
// Usage: lease_elector KUBECONFIG NAMESPACE LEASE IDENTITY
// SIGTERM stops it (releasing the lease if it leads); kill -9 simulates a crash.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/runtime/kube_lease_lock.h"
#include "operator/runtime/leader_election.h"

namespace {

std::atomic<bool> gTerm{false};

long long nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void say(const char* what, const std::string& identity) {
  std::printf("%s %s %lld\n", what, identity.c_str(), nowMs());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kubegrant;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s KUBECONFIG NAMESPACE LEASE IDENTITY\n", argv[0]);
    return 2;
  }
  const std::string identity = argv[4];
  auto cfg = kube::loadKubeconfig(argv[1]);
  if (!cfg) {
    std::fprintf(stderr, "kubeconfig: %s\n", cfg.error().describe().c_str());
    return 1;
  }
  kube::rest::RestOptions ro;
  ro.timeout = std::chrono::milliseconds(5000);  // well under the renew deadline
  auto client = kube::rest::makeRestClient(*cfg, ro);
  if (!client) {
    std::fprintf(stderr, "client: %s\n", client.error().describe().c_str());
    return 1;
  }
  std::signal(SIGTERM, [](int) { gTerm = true; });

  SystemClock clock;
  runtime::KubeLeaseLock lock(**client, argv[2], argv[3]);
  runtime::LeaderElectionConfig lec;
  lec.identity = identity;
  lec.onStartedLeading = [&] { say("LEADING", identity); };
  lec.onStoppedLeading = [&] { say("STOPPED", identity); };
  runtime::LeaderElector elector(lock, clock, lec);
  elector.start();
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    elector.wait();
    finished = true;
  });
  // Ends on SIGTERM, or by itself once leadership was lost (as the operator exits).
  while (!gTerm && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  elector.stop();
  waiter.join();
  return 0;
}
