// kubegrant-operator: wiring only. Flags -> kube client -> runtime::Manager with kubegrant
// registered -> run until SIGTERM/SIGINT (exit 0) or a failure (exit 1).

#include <malloc.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "controllers/access_request/audit.h"
#include "operator/common/clock.h"
#include "operator/common/log.h"
#include "operator/common/tls_trust.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/manager/flags.h"
#include "operator/manager/setup.h"
#include "operator/runtime/manager.h"
#include "operator/runtime/signals.h"
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
  // glibc malloc, set deliberately before any thread exists (bench/README.md, issue 15):
  //  - two arenas instead of up to 8 per core: the ~20 threads mostly wait on I/O, and each
  //    arena of its own keeps its own free pages;
  //  - a fixed mmap threshold: glibc otherwise raises it each time a large block is freed,
  //    after which large transient buffers (responses, list pages) come from the arenas and
  //    their pages stay resident.
  // MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ in the environment still win.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) ::mallopt(M_ARENA_MAX, 2);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Before any thread or TLS client exists: every connection then starts from an empty
  // default trust, and each client installs the one it means (operator/common/tls_trust.h).
  tls::takeOverDefaultTrust();
  // Before any thread starts, so every thread inherits the blocked mask and only the manager
  // sees SIGTERM/SIGINT.
  auto signals = runtime::StopSignals::block();
  if (!signals) {
    log::error("main", "cannot take over the stop signals", {{"error", signals.error().message}});
    return 1;
  }

  // Size cpprestsdk's I/O pool before any cpprestsdk object exists (the pool is created on
  // first use and cannot be resized). The webhook listener and the API client (requests and
  // long-running watches) share it; neither blocks a pool thread (their .get()/.wait() calls
  // run on the informer, worker and main threads), so one thread per core suffices, and
  // cpprestsdk's default of 40 halves the webhook's throughput on 2 cores (bench/README.md).
  if (!webhooks::configureHttpThreads(static_cast<std::size_t>(flags->httpThreads))) {
    log::error("main", "cannot size the HTTP thread pool: it already exists",
               {{"httpThreads", flags->httpThreads}});
    return 1;
  }

  auto config = kube::loadDefaultConfig(flags->kubeconfig, {}, {.saDir = flags->serviceAccountDir});
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
  SystemClock clock;
  runtime::Manager mgr(**client, clock, manager::managerOptions(*flags));
  if (auto r = manager::setupOperator(mgr, clock, audit->get(), *flags); !r) {
    log::error("main", "cannot set up kubegrant", {{"error", r.error().message}});
    return 1;
  }
  log::info("main", "kubegrant-operator starting",
            {{"server", config->server},
             {"context", config->contextName},
             {"httpThreads", flags->httpThreads}});
  if (auto r = mgr.run(&*signals); !r) {
    log::error("main", "exiting", {{"error", r.error().describe()}});
    return 1;
  }
  return 0;
}
