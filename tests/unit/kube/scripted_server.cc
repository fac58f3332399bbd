#include "tests/unit/kube/scripted_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace kubegrant::kube::testing {

bool Connection::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(server_.mu_);
  return !server_.stopCv_.wait_for(lock, d, [&] { return server_.stopping_.load(); });
}

bool Connection::write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool Connection::respond(int status, std::string_view body,
                         const std::map<std::string, std::string>& headers) {
  std::string out = fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", status, body.size());
  bool hasType = false;
  for (const auto& [k, v] : headers) {
    out += fmt::format("{}: {}\r\n", k, v);
    if (k == "Content-Type") hasType = true;
  }
  if (!hasType) out += "Content-Type: application/json\r\n";
  out += "\r\n";
  out += body;
  return write(out);
}

bool Connection::startChunked(int status) {
  return write(fmt::format(
      "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
      status));
}

bool Connection::chunk(std::string_view data) {
  return write(fmt::format("{:x}\r\n", data.size())) && write(data) && write("\r\n");
}

bool Connection::endChunked() { return write("0\r\n\r\n"); }

ScriptedServer::ScriptedServer(Handler handler) : handler_(std::move(handler)) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listenFd_, 16);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

ScriptedServer::~ScriptedServer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    stopCv_.notify_all();
  }
  ::shutdown(listenFd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listenFd_);
  {
    std::lock_guard lock(mu_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
}

std::vector<HttpRequest> ScriptedServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void ScriptedServer::acceptLoop() {
  while (!stopping_) {
    pollfd p{listenFd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listenFd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    connections_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void ScriptedServer::serve(int fd) {
  std::string buffer;
  char chunk[4096];
  auto fill = [&]() {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  while (!stopping_) {
    std::size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) {
        closeConnection(fd);
        return;
      }
    }
    HttpRequest req;
    std::string head = buffer.substr(0, end);
    buffer.erase(0, end + 4);
    std::size_t lineEnd = head.find("\r\n");
    std::string requestLine = head.substr(0, lineEnd);
    auto sp1 = requestLine.find(' ');
    auto sp2 = requestLine.rfind(' ');
    req.method = requestLine.substr(0, sp1);
    req.target = requestLine.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (pos < head.size()) {
      std::size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers[name] = value;
      }
      pos = next + 2;
    }
    std::size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      length = std::stoul(it->second);
    }
    while (buffer.size() < length) {
      if (!fill()) {
        closeConnection(fd);
        return;
      }
    }
    req.body = buffer.substr(0, length);
    buffer.erase(0, length);
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
    }
    Connection conn(fd, *this);
    if (!handler_(req, conn)) break;
  }
  closeConnection(fd);
}

void ScriptedServer::closeConnection(int fd) {
  std::lock_guard lock(mu_);
  connections_.erase(std::remove(connections_.begin(), connections_.end(), fd), connections_.end());
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace kubegrant::kube::testing
