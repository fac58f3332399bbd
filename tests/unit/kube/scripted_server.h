#pragma once

// A tiny HTTP/1.1 server on 127.0.0.1:<port 0> for testing the REST client's transport
// behaviour (retries, timeouts, streaming) without an API server. Plain POSIX sockets; each
// connection is served on its own thread, joined on destruction. Keep-alive is supported.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kubegrant::kube::testing {

struct HttpRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Writes raw bytes to the connection; returns false when the peer is gone.
class ScriptedServer;

class Connection {
 public:
  Connection(int fd, ScriptedServer& server) : fd_(fd), server_(server) {}
  // Sleeps up to `d`, returning early (false) when the server is being destroyed.
  bool pause(std::chrono::milliseconds d);
  bool write(std::string_view bytes);
  bool respond(int status, std::string_view body,
               const std::map<std::string, std::string>& headers = {});
  bool startChunked(int status = 200);
  bool chunk(std::string_view data);
  bool endChunked();

 private:
  int fd_;
  ScriptedServer& server_;
};

class ScriptedServer {
 public:
  // The handler answers one request; returning false closes the connection.
  using Handler = std::function<bool(const HttpRequest&, Connection&)>;

  explicit ScriptedServer(Handler handler);
  ~ScriptedServer();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<HttpRequest> requests() const;

 private:
  friend class Connection;
  void acceptLoop();
  void serve(int fd);
  void closeConnection(int fd);

  Handler handler_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable stopCv_;
  std::vector<HttpRequest> requests_;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace kubegrant::kube::testing
