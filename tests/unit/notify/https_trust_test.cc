// The notification poster over HTTPS after the operator took over OpenSSL's default trust
// (operator/common/tls_trust.h): every connection starts with an empty default store, and the
// poster still verifies receivers against the system CAs, which here are the test's own CA
// given as $SSL_CERT_FILE. Its own binary: it sets the process's environment.

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "operator/common/tls_trust.h"
#include "operator/notify/http_poster.h"
#include "tests/support/free_port.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/https_server.h"
#include "webhooks/server/tls.h"

namespace kubegrant {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int objectsAfterDefaultLoad() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_default_verify_paths(ctx);
  const int n = sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)));
  SSL_CTX_free(ctx);
  return n;
}

// A loopback HTTPS receiver whose serving certificate the given request describes.
struct Receiver {
  webhooks::AdmissionRouter router;
  std::unique_ptr<webhooks::TlsMaterial> tls;
  std::unique_ptr<webhooks::HttpsServer> server;
  int port = 0;

  explicit Receiver(const webhooks::CertificateRequest& req) {
    tls = std::make_unique<webhooks::TlsMaterial>(req.dir, 0ms);
    port = testing::freeLoopbackPort();
    server = std::make_unique<webhooks::HttpsServer>(
        webhooks::HttpsServerOptions{"127.0.0.1", port}, router, *tls);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port) + "/hook"; }
};

TEST(HttpsTrust, ConnectionsStartEmptyAndTheReceiverIsStillVerifiedAgainstTheSystemCas) {
  const fs::path dir = fs::temp_directory_path() / ("kg-https-trust-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // The "system" CA: the receiver's certificate is signed by it.
  webhooks::CertificateRequest trusted;
  trusted.dir = (dir / "trusted").string();
  auto trustedCerts = webhooks::generateCertificates(trusted);
  ASSERT_TRUE(trustedCerts) << trustedCerts.error().message;
  // Another CA nobody trusts.
  webhooks::CertificateRequest stranger;
  stranger.dir = (dir / "stranger").string();
  ASSERT_TRUE(webhooks::generateCertificates(stranger));

  ::setenv("SSL_CERT_FILE", trustedCerts->caFile.c_str(), 1);
  ::setenv("SSL_CERT_DIR", (dir / "no-such-dir").c_str(), 1);
  ASSERT_EQ(objectsAfterDefaultLoad(), 1) << "OpenSSL's default load reads $SSL_CERT_FILE";

  auto recorded = tls::takeOverDefaultTrust();
  EXPECT_EQ(recorded.file, trustedCerts->caFile);
  EXPECT_EQ(recorded.dir, (dir / "no-such-dir").string());
  EXPECT_EQ(objectsAfterDefaultLoad(), 0) << "each connection's default load parses nothing";
  EXPECT_EQ(sk_X509_OBJECT_num(X509_STORE_get0_objects(tls::systemTrust())), 1);

  Receiver good(trusted);
  ASSERT_TRUE(good.server->start());
  Receiver bad(stranger);
  ASSERT_TRUE(bad.server->start());

  auto poster = notify::makeHttpPoster();
  // The handshake succeeds (the system CA signed it); the router has no /hook, so the
  // receiver answers 404, a final refusal: proof the request went over verified TLS.
  auto r = poster->post(good.url(), "{}", {}, 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Invalid) << r.error().message;
  EXPECT_NE(r.error().message.find("404"), std::string::npos) << r.error().message;
  // Twice: the second connection gets the same shared store.
  auto again = poster->post(good.url(), "{}", {}, 5s);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("404"), std::string::npos) << again.error().message;

  // A receiver whose certificate no system CA signed is never reached.
  auto refused = poster->post(bad.url(), "{}", {}, 5s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::Unavailable) << refused.error().message;
  EXPECT_EQ(refused.error().message.find("404"), std::string::npos) << refused.error().message;

  good.server->stop();
  bad.server->stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace kubegrant
