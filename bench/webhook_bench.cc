// webhook_bench: the admission webhook server alone (same WebhookServer, rules and TLS as
// the operator) with a fixed AccessPolicy in memory, for load tests with wrk. See
// bench/README.md ("admission webhook") and bench/webhook_bench.sh, which drives it.
//
//   webhook_bench [--port N] [--cert-dir DIR] [--seal on|off]
// Prints "url https://127.0.0.1:PORT" once serving; runs until SIGINT/SIGTERM.
// Sealing is on by default, as in production, with a fixed bench key (kBenchKeys): the
// requester seal in bench/webhook_bench.lua's review verifies with it.
//   webhook_bench --seal-sample REVIEW.json   prints the requester seal of the review's object
//                                             (to regenerate webhook_bench.lua's seal)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "crds/v1alpha1/types.h"
#include "operator/common/base64.h"
#include "operator/common/log.h"
#include "operator/seal/forms.h"
#include "operator/seal/seal.h"
#include "tests/support/api_examples.h"
#include "tests/support/free_port.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/https_server.h"
#include "webhooks/server/webhook_server.h"

using namespace kubegrant;

namespace {
// A fixed key so the sample review's seal verifies; never a production key.
std::shared_ptr<const seal::Keyring> benchKeys() {
  return std::make_shared<const seal::Keyring>(
      *seal::Keyring::parse("bench " + base64Encode(std::string(32, 'b'))));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string inprocBodyFile;
  int inprocIterations = 0;
  bool sealing = true;
  std::string sealSample;
  std::string certDir =
      (std::filesystem::temp_directory_path() / ("kg-webhook-bench-" + std::to_string(getpid())))
          .string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (arg == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (arg == "--cert-dir") {
      certDir = argv[i + 1];
    } else if (arg == "--inproc") {
      // --inproc FILE: time AdmissionRouter::handle on FILE's review (no TLS, no HTTP).
      inprocBodyFile = argv[i + 1];
    } else if (arg == "--io-threads") {
      // cpprestsdk's shared pool (default 40 threads), which runs the listener.
      webhooks::configureHttpThreads(std::atoi(argv[i + 1]));
    } else if (arg == "--iterations") {
      inprocIterations = std::atoi(argv[i + 1]);
    } else if (arg == "--seal") {
      sealing = std::string(argv[i + 1]) != "off";
    } else if (arg == "--seal-sample") {
      sealSample = argv[i + 1];
    }
  }
  auto sealer = std::make_shared<seal::HmacSealer>(benchKeys());
  if (!sealSample.empty()) {
    auto review = nlohmann::json::parse(readFile(sealSample), nullptr, false);
    auto object = review.is_object() ? review["request"]["object"] : nlohmann::json();
    auto request = v1alpha1::fromJson<v1alpha1::AccessRequest>(object);
    if (!request) {
      std::fprintf(stderr, "webhook_bench: %s\n", request.error().message.c_str());
      return 1;
    }
    std::printf("%s\n", sealer->seal(seal::requesterForm(*request))->c_str());
    return 0;
  }
  if (port == 0) port = ::kubegrant::testing::freeLoopbackPort();
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  log::setLevel(log::Level::Warn);

  webhooks::CertificateRequest req;
  req.dir = certDir;
  if (auto r = webhooks::generateCertificates(req); !r) {
    std::fprintf(stderr, "webhook_bench: %s\n", r.error().message.c_str());
    return 1;
  }
  auto policies = std::make_shared<webhooks::StaticPolicyLookup>();
  policies->put(testing::paymentsOncallPolicy());

  if (!inprocBodyFile.empty()) {
    std::string body = readFile(inprocBodyFile);
    SystemClock clock;
    webhooks::AdmissionOptions options;
    if (sealing) options.sealer = sealer.get();
    webhooks::AccessRequestAdmission admission(*policies, clock, options);
    auto router = webhooks::makeRouter(admission);
    int n = inprocIterations > 0 ? inprocIterations : 20000;
    auto start = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      bytes +=
          router.handle({"POST", webhooks::kValidateAccessRequestPath, "application/json", body})
              .body.size();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("in-process: %d reviews in %.3f s = %.0f reviews/s, %.1f us each (%zu bytes out)\n",
                n, secs, n / secs, secs * 1e6 / n, bytes / n);
    return 0;
  }

  webhooks::WebhookServerConfig wc;
  wc.address = "127.0.0.1";
  wc.port = port;
  wc.certDir = certDir;
  wc.policies = policies;
  if (sealing) wc.sealer = sealer;
  webhooks::WebhookServer server(std::move(wc));
  if (auto r = server.start(); !r) {
    std::fprintf(stderr, "webhook_bench: %s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("url %s\n", server.url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stopSignals, &sig);
  server.stop();
  std::error_code ec;
  std::filesystem::remove_all(certDir, ec);
  return 0;
}
