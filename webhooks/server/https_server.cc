#include "webhooks/server/https_server.h"

#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include <exception>
#include <utility>

#include "operator/common/log.h"

namespace kubegrant::webhooks {

namespace http = web::http;
using web::http::experimental::listener::http_listener;
using web::http::experimental::listener::http_listener_config;

struct HttpsServer::Impl {
  HttpsServerOptions options;
  const AdmissionRouter& router;
  TlsMaterial& tls;
  std::unique_ptr<http_listener> listener;

  Impl(HttpsServerOptions o, const AdmissionRouter& r, TlsMaterial& t)
      : options(std::move(o)), router(r), tls(t) {}

  static void send(http::http_request& req, const HttpReply& reply) {
    http::http_response resp(static_cast<http::status_code>(reply.status));
    // Bytes, not std::string: cpprestsdk's string body reinterprets a char stream buffer as an
    // unsigned-char one (undefined behaviour that UBSan reports); the vector overload does not.
    resp.set_body(std::vector<unsigned char>(reply.body.begin(), reply.body.end()));
    resp.headers().set_content_type(reply.contentType);
    req.reply(resp).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (...) {
        // The client went away; nothing to answer.
      }
    });
  }

  void handle(http::http_request req) {
    try {
      const std::string& method = req.method();
      std::string path = req.relative_uri().path();
      if (method == http::methods::GET && (path == "/healthz" || path == "/readyz")) {
        send(req, textReply(200, "ok"));
        return;
      }
      std::string contentType;
      req.headers().match(http::header_names::content_type, contentType);
      // Answers that do not need the body are given before reading it.
      if (method != http::methods::POST || !router.has(path) || !isJsonContentType(contentType)) {
        send(req, router.handle({method, path, contentType, {}}));
        return;
      }
      std::string lengthHeader;
      if (!req.headers().match(http::header_names::content_length, lengthHeader)) {
        // Without a length the body size is unbounded until read; the API server always
        // sends Content-Length.
        send(req, textReply(411, "Content-Length required"));
        return;
      }
      if (req.headers().content_length() > router.maxBodyBytes()) {
        send(req, textReply(413, "request body exceeds " + std::to_string(router.maxBodyBytes()) +
                                     " bytes"));
        return;
      }
      req.extract_vector().then(
          [this, req, method, path, contentType](pplx::task<std::vector<unsigned char>> t) mutable {
            HttpReply reply;
            try {
              std::vector<unsigned char> body = t.get();
              std::string_view view(reinterpret_cast<const char*>(body.data()), body.size());
              reply = router.handle({method, path, contentType, view});
            } catch (const std::exception& e) {
              reply = textReply(400, std::string("cannot read request body: ") + e.what());
            }
            send(req, reply);
          });
    } catch (const std::exception& e) {
      log::error("webhook.http", "request failed", {{"error", e.what()}});
      try {
        send(req, textReply(500, "internal error"));
      } catch (...) {
      }
    }
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
  return "https://" + impl_->options.address + ":" + std::to_string(impl_->options.port);
}

Result<void> HttpsServer::start() {
  if (impl_->listener) return ok();
  // From files: the pair must be there now. In memory (a self-managed certificate), it is set
  // when its Secret is read; until then handshakes fail and /readyz says why.
  if (impl_->tls.fromFiles()) {
    if (auto loaded = impl_->tls.load(); !loaded) return fail(loaded.error());
  }
  http_listener_config config;
  TlsMaterial* tls = &impl_->tls;
  config.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) {
    // Called for every accepted connection: the current certificate is installed per
    // connection, which is how a rotated certificate takes effect without a restart.
    if (auto r = tls->configure(ctx.native_handle()); !r) {
      log::error("webhook.tls", "cannot configure TLS for a connection",
                 {{"error", r.error().message}});
    }
  });
  try {
    auto listener = std::make_unique<http_listener>(web::uri(url() + "/"), config);
    Impl* impl = impl_.get();
    listener->support([impl](http::http_request req) { impl->handle(std::move(req)); });
    listener->open().wait();
    impl_->listener = std::move(listener);
  } catch (const std::exception& e) {
    return fail(ErrorCode::Unavailable, "cannot listen on " + url() + ": " + e.what());
  }
  log::info("webhook.http", "serving admission webhooks", {{"url", url()}});
  return ok();
}

void HttpsServer::stop() {
  if (!impl_ || !impl_->listener) return;
  try {
    impl_->listener->close().wait();
  } catch (const std::exception& e) {
    log::warn("webhook.http", "error while stopping", {{"error", e.what()}});
  }
  impl_->listener.reset();
}

}  // namespace kubegrant::webhooks
