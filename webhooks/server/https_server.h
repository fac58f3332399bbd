#pragma once

// The HTTPS transport of the admission webhook: HTTP/1.1 with keep-alive over TLS, on
// Boost.Asio with cpprestsdk's shared I/O pool (kept out of this header). It hands every
// request to an AdmissionRouter and adds what only the transport can know:
//   - Content-Length above the router's cap is refused with 413 from the header alone (not
//     one byte of the body is read), a body without Content-Length (chunked) with 411, a
//     request head above maxHeaderBytes with 431; the connection is then closed.
//   - Every phase has a deadline: the TLS handshake plus the first request within
//     requestTimeout of connecting, a later request within requestTimeout of its first byte,
//     the wait for the next request on a kept-alive connection within idleTimeout, an answer
//     written within writeTimeout. A client that connects and sends nothing, or half a
//     request, or trickles bytes, is disconnected; nothing ever blocks a pool thread.
//   - GET /healthz and /readyz answer "ok" for probes.
// TLS material comes from a TlsMaterial, consulted for each new connection, so a rotated
// certificate is served without a restart.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "operator/common/result.h"
#include "webhooks/server/admission.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {

struct HttpsServerOptions {
  std::string address = "0.0.0.0";  // an IP address (or localhost)
  int port = 9443;                  // 0 = any free port (see url())
  // The API server sends a whole review at once and waits at most timeoutSeconds (2 s).
  std::chrono::milliseconds requestTimeout = std::chrono::seconds(10);
  // Longer than the API server's idle keep-alive (90 s), so it closes idle connections
  // first and never races a close with a new review.
  std::chrono::milliseconds idleTimeout = std::chrono::seconds(120);
  std::chrono::milliseconds writeTimeout = std::chrono::seconds(10);
  std::size_t maxHeaderBytes = 16 * 1024;
};

// Sizes cpprestsdk's process-wide I/O thread pool (its default is 40 threads), which runs
// this server. Fewer threads mean less contention: on 2 cores, 2-4 threads serve 1.5-2x the
// reviews per CPU second of the default (bench/README.md). The pool is shared with every
// cpprestsdk user in the process (the kube REST client too) and can only be sized before its
// first use: call this first thing in main(). Returns false when it was too late (the pool
// already exists).
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
  // "https://address:port" (the bound port once started, also when options.port was 0)
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubegrant::webhooks
