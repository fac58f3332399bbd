#include "webhooks/server/https_server.h"

// HTTP/1.1 over TLS on Boost.Asio (the library under cpprestsdk), run on cpprestsdk's shared
// I/O pool. Not cpprestsdk's http_listener: in 2.10 its Linux listener has no timeout at all
// (http_listener_config::set_timeout is ignored), so a client that connects and sends
// nothing, or half a request, holds its connection forever; and it reads every request body
// completely into memory before any answer is written, so a 413 for a huge Content-Length
// came only after the huge body had been received. Here every phase has a deadline and the
// body is read only when the route needs it and it is within the cap.

#include <pplx/threadpool.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>

#include "operator/common/log.h"

namespace kubegrant::webhooks {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr const char* kLogger = "webhook.http";

const char* reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What the transport needs from a request head. Parsing is strict: anything odd is a 400
// and the connection is closed (its framing can no longer be trusted).
struct RequestHead {
  std::string method;
  std::string path;
  std::string contentType;
  bool hasLength = false;
  std::size_t contentLength = 0;
  bool hasTransferEncoding = false;
  bool close = false;
  bool expectContinue = false;
};

// Returns an HTTP status (400, 505) when the head is malformed, 0 when it parsed.
int parseHead(std::string_view head, RequestHead& out) {
  auto lineEnd = head.find("\r\n");
  std::string_view line = head.substr(0, lineEnd);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0) return 400;
  out.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty() || target.front() != '/') return 400;
  if (!version.starts_with("HTTP/1.")) return version.starts_with("HTTP/") ? 505 : 400;
  out.close = version == "HTTP/1.0";
  out.path = std::string(target.substr(0, target.find('?')));
  std::string_view rest = lineEnd == std::string_view::npos ? "" : head.substr(lineEnd + 2);
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    std::string_view field = rest.substr(0, end);
    rest = end == std::string_view::npos ? "" : rest.substr(end + 2);
    if (field.empty()) continue;
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0 || field.front() == ' ' ||
        field.front() == '\t') {
      return 400;  // no name, or an obsolete folded line
    }
    std::string_view name = field.substr(0, colon);
    std::string_view value = trim(field.substr(colon + 1));
    if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string_view::npos) {
        return 400;
      }
      std::size_t n = std::stoull(std::string(value));
      if (out.hasLength && n != out.contentLength) return 400;  // conflicting lengths
      out.hasLength = true;
      out.contentLength = n;
    } else if (iequals(name, "transfer-encoding")) {
      out.hasTransferEncoding = true;
    } else if (iequals(name, "content-type")) {
      out.contentType = std::string(value);
    } else if (iequals(name, "connection")) {
      if (iequals(value, "close")) out.close = true;
      if (iequals(value, "keep-alive")) out.close = false;
    } else if (iequals(name, "expect")) {
      out.expectContinue = iequals(value, "100-continue");
    }
  }
  return 0;
}

std::string serialize(const HttpReply& reply, bool close) {
  std::string out;
  out.reserve(128 + reply.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(reply.status);
  out += ' ';
  out += reasonPhrase(reply.status);
  out += "\r\nContent-Type: ";
  out += reply.contentType;
  out += "\r\nContent-Length: ";
  out += std::to_string(reply.body.size());
  out += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
  out += reply.body;
  return out;
}

}  // namespace

// Shared by the server and its connections; outlives both until the last handler is done.
struct ServerState {
  HttpsServerOptions options;
  const AdmissionRouter& router;
  TlsMaterial& tls;
  asio::io_context& io;

  std::mutex mu;
  std::condition_variable idle;
  std::set<std::shared_ptr<class Connection>> connections;  // guarded by mu

  ServerState(HttpsServerOptions o, const AdmissionRouter& r, TlsMaterial& t, asio::io_context& i)
      : options(std::move(o)), router(r), tls(t), io(i) {}
};

// One client connection. All its handlers run on its strand, so the socket, the TLS stream,
// the deadline timer and the buffers are never touched by two threads at once.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> state, tcp::socket socket,
             std::unique_ptr<asio::ssl::context> ctx)
      : state_(std::move(state)),
        strand_(socket.get_executor()),
        ctx_(std::move(ctx)),
        stream_(std::move(socket), *ctx_),
        timer_(strand_) {}

  void start() {
    // Handshake, then the first request head, must both come within requestTimeout: a
    // client that connects and sends nothing is dropped then.
    arm(state_->options.requestTimeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](const error_code& ec) {
                              if (ec) return self->finish();
                              self->readHead(true);
                            });
  }

  // From any thread: ends the connection on its strand.
  void close() {
    asio::post(strand_, [self = shared_from_this()] { self->finish(); });
  }

 private:
  // The deadline of the current phase; when it passes the socket is closed, which fails
  // the pending operation with operation_aborted and ends the connection.
  void arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;  // re-armed or cancelled
      log::debug(kLogger, "closing a connection that missed its deadline");
      self->finish();
    });
  }

  // Reads until the end of a request head. `first` = nothing of this request seen yet: on a
  // kept-alive connection the wait for it is bounded by idleTimeout, and once its first
  // bytes arrive, the whole request by requestTimeout.
  void readHead(bool first) {
    auto end = in_.find("\r\n\r\n");
    if (end != std::string::npos && end + 4 <= state_->options.maxHeaderBytes) {
      return onHead(end + 4);
    }
    if (end != std::string::npos || in_.size() > state_->options.maxHeaderBytes) {
      return reply(textReply(431, "request header exceeds " +
                                      std::to_string(state_->options.maxHeaderBytes) + " bytes"),
                   true);
    }
    if (first && in_.empty() && requests_ > 0) arm(state_->options.idleTimeout);
    stream_.async_read_some(asio::buffer(chunk_), [self = shared_from_this(), first](
                                                      const error_code& ec, std::size_t n) {
      if (ec) return self->finish();
      if (first && self->in_.empty() && self->requests_ > 0) {
        self->arm(self->state_->options.requestTimeout);
      }
      self->in_.append(self->chunk_.data(), n);
      self->readHead(false);
    });
  }

  void onHead(std::size_t headBytes) {
    RequestHead head;
    int bad = parseHead(std::string_view(in_).substr(0, headBytes - 4), head);
    in_.erase(0, headBytes);
    if (bad != 0) return reply(textReply(bad, "malformed HTTP request"), true);
    head_ = std::move(head);
    const AdmissionRouter& router = state_->router;
    if (head_.method == "GET" && (head_.path == "/healthz" || head_.path == "/readyz")) {
      return afterBodyless(textReply(200, "ok"));
    }
    // Answers that do not need the body are given without reading it.
    if (head_.method != "POST" || !router.has(head_.path) ||
        !isJsonContentType(head_.contentType)) {
      return afterBodyless(router.handle({head_.method, head_.path, head_.contentType, {}}));
    }
    if (head_.hasTransferEncoding || !head_.hasLength) {
      // Without a length the body size is unbounded until read; the API server always
      // sends Content-Length.
      return reply(textReply(411, "Content-Length required"), true);
    }
    if (head_.contentLength > router.maxBodyBytes()) {
      // Refused from the header alone: not one byte of the body is read or buffered.
      return reply(textReply(413, "request body exceeds " + std::to_string(router.maxBodyBytes()) +
                                      " bytes"),
                   true);
    }
    if (head_.expectContinue && in_.size() < head_.contentLength) {
      auto line = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      asio::async_write(stream_, asio::buffer(*line),
                        [self = shared_from_this(), line](const error_code& ec, std::size_t) {
                          if (ec) return self->finish();
                          self->readBody();
                        });
      return;
    }
    readBody();
  }

  // A request answered without its body: the connection stays usable only when the body
  // (if any) is small enough to skip; otherwise it is closed after the answer.
  void afterBodyless(HttpReply r) {
    if (head_.hasTransferEncoding || head_.contentLength > state_->router.maxBodyBytes()) {
      return reply(std::move(r), true);
    }
    discard_ = head_.contentLength;
    pending_ = std::move(r);
    skipBody();
  }

  void skipBody() {
    std::size_t n = std::min(discard_, in_.size());
    in_.erase(0, n);
    discard_ -= n;
    if (discard_ == 0) return reply(std::move(pending_), head_.close);
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              if (ec) return self->finish();
                              self->in_.append(self->chunk_.data(), n);
                              self->skipBody();
                            });
  }

  void readBody() {
    if (in_.size() >= head_.contentLength) {
      std::string_view body(in_.data(), head_.contentLength);
      HttpReply r = state_->router.handle({head_.method, head_.path, head_.contentType, body});
      in_.erase(0, head_.contentLength);
      return reply(std::move(r), head_.close);
    }
    stream_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              if (ec) return self->finish();
                              self->in_.append(self->chunk_.data(), n);
                              self->readBody();
                            });
  }

  void reply(HttpReply r, bool close) {
    ++requests_;
    out_ = serialize(r, close);
    arm(state_->options.writeTimeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), close](const error_code& ec, std::size_t) {
                        if (ec || close) return self->finish();
                        // Pipelined bytes may already hold (part of) the next request.
                        if (!self->in_.empty()) self->arm(self->state_->options.requestTimeout);
                        self->readHead(true);
                      });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    error_code ignored;
    timer_.cancel();
    auto& socket = stream_.next_layer();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    std::lock_guard lock(state_->mu);
    state_->connections.erase(shared_from_this());
    if (state_->connections.empty()) state_->idle.notify_all();
  }

  std::shared_ptr<ServerState> state_;
  asio::any_io_executor strand_;  // the socket's: a strand made for it by the acceptor
  std::unique_ptr<asio::ssl::context> ctx_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  std::array<char, 16 * 1024> chunk_{};
  std::string in_;   // received, not yet consumed
  std::string out_;  // the answer being written
  RequestHead head_;
  HttpReply pending_;
  std::size_t discard_ = 0;
  std::size_t requests_ = 0;
  bool finished_ = false;
};

struct HttpsServer::Impl {
  std::shared_ptr<ServerState> state;
  std::unique_ptr<tcp::acceptor> acceptor;
  asio::strand<asio::io_context::executor_type> acceptStrand;
  int boundPort = 0;
  // Guarded by state->mu. The acceptor's handlers run on acceptStrand in the order posted:
  // start() posts the first accept(), stop() posts the close after it.
  bool accepting = false;  // an async_accept is pending
  bool closed = false;     // stop()'s close ran on the strand
  bool stopping = false;

  Impl(HttpsServerOptions o, const AdmissionRouter& r, TlsMaterial& t)
      : state(std::make_shared<ServerState>(std::move(o), r, t,
                                            crossplat::threadpool::shared_instance().service())),
        acceptStrand(asio::make_strand(state->io)) {}

  void accept() {
    {
      std::lock_guard lock(state->mu);
      if (stopping) {
        state->idle.notify_all();
        return;
      }
      accepting = true;
    }
    acceptor->async_accept(asio::make_strand(state->io),
                           [this](const error_code& ec, tcp::socket socket) {
                             {
                               std::lock_guard lock(state->mu);
                               accepting = false;
                               if (stopping) {
                                 state->idle.notify_all();
                                 return;
                               }
                             }
                             if (!ec) serve(std::move(socket));
                             accept();
                           });
  }

  void serve(tcp::socket socket) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // A fresh context per connection with the certificate current now: how a rotated
    // certificate takes effect without a restart.
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    if (auto r = state->tls.configure(ctx->native_handle()); !r) {
      log::error("webhook.tls", "cannot configure TLS for a connection",
                 {{"error", r.error().message}});
      return;
    }
    auto conn = std::make_shared<Connection>(state, std::move(socket), std::move(ctx));
    {
      std::lock_guard lock(state->mu);
      state->connections.insert(conn);
    }
    conn->start();
  }
};

bool configureHttpThreads(std::size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
    return true;
  } catch (const std::exception&) {
    return false;  // already initialized
  }
}

HttpsServer::HttpsServer(HttpsServerOptions options, const AdmissionRouter& router,
                         TlsMaterial& tls)
    : impl_(std::make_unique<Impl>(std::move(options), router, tls)) {}

HttpsServer::~HttpsServer() { stop(); }

std::string HttpsServer::url() const {
  int port = impl_->boundPort != 0 ? impl_->boundPort : impl_->state->options.port;
  return "https://" + impl_->state->options.address + ":" + std::to_string(port);
}

Result<void> HttpsServer::start() {
  if (impl_->acceptor) return ok();
  if (auto loaded = impl_->state->tls.load(); !loaded) return fail(loaded.error());
  const auto& o = impl_->state->options;
  error_code ec;
  auto address = asio::ip::make_address(o.address == "localhost" ? "127.0.0.1" : o.address, ec);
  if (ec) return fail(ErrorCode::Invalid, "invalid webhook address \"" + o.address + "\"");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->acceptStrand);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorCode::Unavailable, "cannot listen on " + url() + ": " + ec.message());
  impl_->boundPort = acceptor->local_endpoint(ec).port();
  impl_->acceptor = std::move(acceptor);
  impl_->stopping = false;
  impl_->closed = false;
  asio::post(impl_->acceptStrand, [impl = impl_.get()] { impl->accept(); });
  log::info(kLogger, "serving admission webhooks", {{"url", url()}});
  return ok();
}

void HttpsServer::stop() {
  if (!impl_ || !impl_->acceptor) return;
  auto& state = *impl_->state;
  {
    std::lock_guard lock(state.mu);
    impl_->stopping = true;
  }
  // The acceptor belongs to its strand: close it there, which ends the pending accept.
  asio::post(impl_->acceptStrand, [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor->close(ignored);
    std::lock_guard lock(impl->state->mu);
    impl->closed = true;
    impl->state->idle.notify_all();
  });
  std::unique_lock lock(state.mu);
  for (const auto& c : state.connections) c->close();
  // Every handler holding the acceptor or a connection finishes promptly once its socket is
  // closed; wait for them so nothing runs against a destroyed server.
  if (!state.idle.wait_for(lock, std::chrono::seconds(10), [&] {
        return impl_->closed && !impl_->accepting && state.connections.empty();
      })) {
    log::warn(kLogger, "connections still open 10s after stop");
  }
  lock.unlock();
  impl_->acceptor.reset();
}

}  // namespace kubegrant::webhooks
