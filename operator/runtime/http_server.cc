#include "operator/runtime/http_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "operator/common/log.h"

namespace kubegrant::runtime {
namespace {

const char* statusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

Result<ListenAddress> parseListenAddress(const std::string& text) {
  ListenAddress a;
  std::string port = text;
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5) {
    return fail(ErrorCode::Invalid,
                fmt::format("invalid listen address \"{}\": want host:port or :port", text));
  }
  a.port = std::stoi(port);
  if (a.port > 65535) {
    return fail(ErrorCode::Invalid, fmt::format("invalid port in listen address \"{}\"", text));
  }
  return a;
}

HttpServer::HttpServer(ListenAddress address, HttpHandler handler)
    : address_(std::move(address)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

Result<void> HttpServer::start() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorCode::Unavailable, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(address_.port));
  std::string host = address_.host.empty() ? "0.0.0.0" : address_.host;
  if (host == "localhost") host = "127.0.0.1";
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    return fail(ErrorCode::Invalid, fmt::format("invalid IPv4 listen host \"{}\"", host));
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return fail(ErrorCode::Unavailable,
                fmt::format("cannot listen on {}:{}: {}", host, address_.port, err));
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  listenFd_ = fd;
  thread_ = std::thread([this] { serve(); });
  return ok();
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (listenFd_ >= 0) ::close(listenFd_);
  listenFd_ = -1;
}

void HttpServer::serve() {
  while (!stopping_.load()) {
    pollfd p{listenFd_, POLLIN, 0};
    // Short poll so stop() is prompt without a self-pipe.
    int n = ::poll(&p, 1, 100);
    if (n <= 0) continue;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void HttpServer::handle(int fd) {
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    req.append(buf, static_cast<size_t>(r));
  }
  auto lineEnd = req.find("\r\n");
  if (lineEnd == std::string::npos) return;
  std::string line = req.substr(0, lineEnd);
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return;
  std::string method = line.substr(0, sp1);
  std::string path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  HttpResponse resp;
  try {
    resp = handler_(method, path);
  } catch (const std::exception& e) {
    resp = {500, "text/plain; charset=utf-8", "internal error\n"};
  }
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
      resp.status, statusText(resp.status), resp.contentType, resp.body.size());
  if (method != "HEAD") out += resp.body;
  size_t off = 0;
  while (off < out.size()) {
    ssize_t w = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

}  // namespace kubegrant::runtime
