// kubegrant-operator: wiring only. Flags -> kube client -> Manager -> wait for a signal.

#include <signal.h>

#include <cstddef>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "controllers/access_request/audit.h"
#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/manager/flags.h"
#include "operator/manager/manager.h"
#include "webhooks/server/https_server.h"

using namespace kubegrant;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flags = manager::parseFlags(args);
  if (!flags) {
    std::fprintf(stderr, "kubegrant-operator: %s\n", flags.error().message.c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(manager::helpText().c_str(), stdout);
    return 0;
  }
  log::setLevel(flags->logLevel);
  // Block the stop signals before any thread starts, so only sigtimedwait below sees them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  // Size cpprestsdk's I/O pool after the signal mask (the pool starts its threads at once and
  // they inherit the mask) and before any cpprestsdk object exists (the pool is created on
  // first use and cannot be resized). The webhook listener and the API client (requests and
  // long-running watches) share it; neither blocks a pool thread (their .get()/.wait() calls
  // run on the informer, worker and main threads), so one thread per core suffices, and
  // cpprestsdk's default of 40 halves the webhook's throughput on 2 cores (bench/README.md).
  if (!webhooks::configureHttpThreads(static_cast<std::size_t>(flags->httpThreads))) {
    log::error("main", "cannot size the HTTP thread pool: it already exists",
               {{"httpThreads", flags->httpThreads}});
    return 1;
  }

  auto config = kube::loadDefaultConfig(flags->kubeconfig);
  if (!config) {
    log::error("main", "cannot load cluster configuration", {{"error", config.error().message}});
    return 1;
  }
  kube::rest::RestOptions ro;
  ro.qps = flags->kubeApiQps;
  ro.burst = flags->kubeApiBurst;
  ro.userAgent = "kubegrant-operator";
  auto client = kube::rest::makeRestClient(*config, ro);
  if (!client) {
    log::error("main", "cannot build the API client", {{"error", client.error().message}});
    return 1;
  }
  auto audit = controllers::access_request::AuditLog::open(flags->auditLog);
  if (!audit) {
    log::error("main", "cannot open the audit log", {{"error", audit.error().message}});
    return 1;
  }
  if (!flags->notifyUrl.empty()) {
    log::warn("main", "--notify-url is accepted but notifications are not implemented yet",
              {{"notifyUrl", flags->notifyUrl}});
  }

  SystemClock clock;
  manager::ManagerOptions mo;
  mo.webhookPort = flags->webhookPort;
  mo.webhookAddress = flags->webhookAddress;
  mo.webhookCertDir = flags->webhookCertDir;
  mo.metricsAddr = flags->metricsAddr;
  mo.healthAddr = flags->healthAddr;
  mo.sweepInterval = flags->sweepInterval;
  mo.workers = flags->workers;
  mo.leaderElect = flags->leaderElect;
  mo.leaseNamespace = flags->leaderElectionNamespace;
  mo.leaseName = flags->leaderElectionId;
  manager::Manager mgr(**client, clock, audit->get(), mo);
  if (auto r = mgr.start(); !r) {
    log::error("main", "cannot start", {{"error", r.error().describe()}});
    mgr.stop();
    return 1;
  }
  log::info("main", "kubegrant-operator running",
            {{"server", config->server},
             {"context", config->contextName},
             {"httpThreads", flags->httpThreads}});

  int exitCode = 0;
  for (;;) {
    timespec tick{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&stopSignals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      log::info("main", "signal received, shutting down", {{"signal", sig}});
      break;
    }
    if (auto f = mgr.fatal()) {
      log::error("main", "exiting", {{"reason", *f}});
      exitCode = 1;
      break;
    }
  }
  mgr.stop();
  return exitCode;
}
