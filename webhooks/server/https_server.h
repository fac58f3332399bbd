#pragma once

// The HTTPS transport of the admission webhook (cpprestsdk's http_listener, kept out of this
// header). It hands every request to an AdmissionRouter and adds what only the transport can
// know: Content-Length above the cap is refused with 413 before the body is decoded, a body
// without Content-Length (chunked) with 411, and GET /healthz answers "ok" for probes.
// TLS material comes from a TlsMaterial, consulted for each new connection, so a rotated
// certificate is served without a restart.

#include <cstddef>
#include <memory>
#include <string>

#include "operator/common/result.h"
#include "webhooks/server/admission.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {

struct HttpsServerOptions {
  std::string address = "0.0.0.0";
  int port = 9443;
};

// Sizes cpprestsdk's process-wide I/O thread pool (its default is 40 threads). Fewer threads
// mean less contention: on 2 cores, 4 threads serve 1.5-2x the reviews per CPU second of
// the default (bench/README.md). The pool is shared with every cpprestsdk user in the
// process (the kube REST client too) and can only be sized before its first use: call this
// first thing in main(). Returns false when it was too late (the pool already exists).
bool configureHttpThreads(std::size_t threads);

class HttpsServer {
 public:
  // `router` and `tls` must outlive the server.
  HttpsServer(HttpsServerOptions options, const AdmissionRouter& router, TlsMaterial& tls);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Binds and starts serving. Fails (Unavailable) when the port cannot be bound.
  [[nodiscard]] Result<void> start();
  // Stops accepting and closes connections. Idempotent; also done by the destructor.
  void stop();
  // "https://address:port"
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubegrant::webhooks
