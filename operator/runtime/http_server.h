#pragma once

// A tiny plain-HTTP/1.1 server for the operator's probe and metrics endpoints (/healthz,
// /readyz, /metrics): GET only, one request per connection, answers built by a handler.
// Deliberately minimal (no TLS, no keep-alive): it serves kubelet probes and Prometheus
// scrapes on a trusted port. The admission webhook has its own HTTPS server.

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "operator/common/result.h"

namespace kubegrant::runtime {

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const std::string& method, const std::string& path)>;

// "host:port", ":port" (all interfaces) or "port"; port 0 picks a free port.
struct ListenAddress {
  std::string host;  // "" = 0.0.0.0
  int port = 0;
};
[[nodiscard]] Result<ListenAddress> parseListenAddress(const std::string& text);

class HttpServer {
 public:
  HttpServer(ListenAddress address, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (Unavailable when the port is taken), then serves on a thread.
  [[nodiscard]] Result<void> start();
  // Stops accepting and joins. Idempotent.
  void stop();
  int port() const { return port_; }

 private:
  void serve();
  void handle(int fd);

  ListenAddress address_;
  HttpHandler handler_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kubegrant::runtime
