#include "operator/notify/http_poster.h"

#include <cpprest/http_client.h>

#include <string>
#include <vector>

#include "operator/common/tls_trust.h"

namespace kubegrant::notify {
namespace {

class HttpPoster final : public Poster {
 public:
  Result<void> post(const std::string& url, const std::string& body, const Headers& headers,
                    Duration timeout) override {
    // Errors never repeat the URL: it is a credential (Slack-style URLs embed a token).
    try {
      web::http::client::http_client_config config;
      config.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
      // The system CAs, parsed once per process and shared (operator/common/tls_trust.h).
      config.set_ssl_context_callback(
          [](boost::asio::ssl::context& ctx) { tls::useSystemTrust(ctx.native_handle()); });
      web::http::client::http_client client(web::uri(url), config);
      web::http::http_request request(web::http::methods::POST);
      // A byte vector, not set_body(std::string), as in the kube client: cpprestsdk reads a
      // string body through a streambuf of another type (undefined behaviour UBSan flags).
      request.headers().set_content_type("application/json");
      request.set_body(std::vector<unsigned char>(body.begin(), body.end()));
      for (const auto& [name, value] : headers) request.headers().add(name, value);
      auto response = client.request(request).get();
      const int code = response.status_code();
      if (code >= 200 && code < 300) return ok();
      if (code == 408 || code == 429 || code >= 500) {
        return fail(ErrorCode::Unavailable, "the receiver answered HTTP " + std::to_string(code));
      }
      return fail(ErrorCode::Invalid, "the receiver refused it with HTTP " + std::to_string(code));
    } catch (const web::uri_exception&) {
      return fail(ErrorCode::Invalid, "the receiver's URL is not a valid URL");
    } catch (const std::exception& e) {
      return fail(ErrorCode::Unavailable, std::string("cannot reach the receiver: ") + e.what());
    }
  }
};

}  // namespace

std::unique_ptr<Poster> makeHttpPoster() { return std::make_unique<HttpPoster>(); }

}  // namespace kubegrant::notify
