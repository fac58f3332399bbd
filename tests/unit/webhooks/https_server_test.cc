// The HTTPS transport on loopback: what only the transport can get wrong (TLS policy,
// certificate hot reload, Content-Length caps, content types), driven with curl.

#include "webhooks/server/https_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/free_port.h"
#include "tests/support/test_env.h"
#include "webhooks/server/certs.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {
namespace {

using testing::CommandResult;
using testing::runCommand;

std::string review() {
  return nlohmann::json{{"apiVersion", "admission.k8s.io/v1"},
                        {"kind", "AdmissionReview"},
                        {"request",
                         {{"uid", "u-1"},
                          {"kind", {{"group", "g"}, {"version", "v"}, {"kind", "K"}}},
                          {"operation", "CREATE"},
                          {"userInfo", {{"username", "alice"}}}}}}
      .dump();
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kg-https-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    CertificateRequest req;
    req.dir = (dir_ / "serving").string();
    auto certs = generateCertificates(req);
    ASSERT_TRUE(certs) << certs.error().message;
    caFile_ = (dir_ / "ca-1.crt").string();
    std::filesystem::copy_file(certs->caFile, caFile_);
    router_.add("/validate",
                [](const AdmissionRequest&) { return AdmissionResponse::allow({"seen"}); });
    tls_ = std::make_unique<TlsMaterial>(req.dir, std::chrono::milliseconds(0));
    port_ = ::kubegrant::testing::freeLoopbackPort();
    server_ = std::make_unique<HttpsServer>(HttpsServerOptions{"127.0.0.1", port_}, router_, *tls_);
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
  }

  void TearDown() override {
    if (server_) server_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(port_) + path;
  }

  // curl printing the body then the status code on the last line.
  CommandResult curl(std::vector<std::string> args, const std::string& ca) {
    std::vector<std::string> argv = {"curl",     "-sS", "--max-time", "10",
                                     "--cacert", ca,    "-w",         "\n%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  }

  static std::string statusOf(const CommandResult& r) {
    auto nl = r.out.rfind('\n');
    return nl == std::string::npos ? r.out : r.out.substr(nl + 1);
  }

  AdmissionRouter router_{1024};
  std::filesystem::path dir_;
  std::string caFile_;
  std::unique_ptr<TlsMaterial> tls_;
  std::unique_ptr<HttpsServer> server_;
  int port_ = 0;
};

TEST_F(HttpsServerTest, AnswersAnAdmissionReviewOverTls) {
  auto r =
      curl({"-H", "Content-Type: application/json", "--data-binary", review(), url("/validate")},
           caFile_);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(statusOf(r), "200");
  EXPECT_NE(r.out.find(R"("uid":"u-1")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("warnings":["seen"])"), std::string::npos) << r.out;
  auto ct = runCommand({"curl", "-sS", "--max-time", "10", "--cacert", caFile_, "-o", "/dev/null",
                        "-w", "%{content_type}", "-H", "Content-Type: application/json",
                        "--data-binary", review(), url("/validate")});
  EXPECT_EQ(ct.out, "application/json");
}

TEST_F(HttpsServerTest, HealthzAnswersOk) {
  auto r = curl({url("/healthz")}, caFile_);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n\n200");
}

TEST_F(HttpsServerTest, RefusesTransportLevelMistakesWithClearStatuses) {
  struct Case {
    std::vector<std::string> args;
    std::string status;
  } cases[] = {
      {{"-H", "Content-Type: application/json", "--data-binary", std::string(4096, 'x'),
        url("/validate")},
       "413"},
      {{"-H", "Content-Type: text/plain", "--data-binary", review(), url("/validate")}, "415"},
      {{"-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked", "--data-binary",
        review(), url("/validate")},
       "411"},
      {{"-H", "Content-Type: application/json", "--data-binary", "not json", url("/validate")},
       "400"},
      {{"-H", "Content-Type: application/json", "--data-binary", review(), url("/nope")}, "404"},
      {{url("/validate")}, "405"},
  };
  for (const auto& c : cases) {
    auto r = curl(c.args, caFile_);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(statusOf(r), c.status) << ::testing::PrintToString(c.args) << "\n" << r.out;
  }
  // Still serving after all of that.
  EXPECT_EQ(statusOf(curl({url("/healthz")}, caFile_)), "200");
}

TEST_F(HttpsServerTest, OffersTls12OnlyWithAeadCiphers) {
  auto tls12 = [&](const std::string& cipher) {
    return runCommand({"curl", "-sS", "--max-time", "10", "--cacert", caFile_, "--tls-max", "1.2",
                       "--ciphers", cipher, url("/healthz")});
  };
  auto gcm = tls12("ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(gcm.exitCode, 0) << gcm.err;
  // CBC suites are in OpenSSL's default server list; the policy removes them.
  auto cbc = tls12("ECDHE-ECDSA-AES128-SHA");
  EXPECT_NE(cbc.exitCode, 0) << cbc.out;
  auto tls13 = runCommand(
      {"curl", "-sS", "--max-time", "10", "--cacert", caFile_, "--tlsv1.3", url("/healthz")});
  EXPECT_EQ(tls13.exitCode, 0) << tls13.err;
}

TEST_F(HttpsServerTest, ServesARotatedCertificateWithoutRestart) {
  std::string before = tls_->currentFingerprint();
  // A new CA and serving pair replace the files (as a cert-manager rotation would).
  CertificateRequest req;
  req.dir = (dir_ / "serving").string();
  auto rotated = generateCertificates(req);
  ASSERT_TRUE(rotated) << rotated.error().message;
  // mtime granularity: make sure the change is visible even within one clock tick.
  auto later = std::filesystem::file_time_type::clock::now() + std::chrono::seconds(2);
  std::filesystem::last_write_time(tls_->certFile(), later);
  std::filesystem::last_write_time(tls_->keyFile(), later);

  auto r = curl({url("/healthz")}, rotated->caFile);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(statusOf(r), "200");
  EXPECT_NE(tls_->currentFingerprint(), before);
  // The old CA no longer verifies the served certificate.
  EXPECT_NE(curl({url("/healthz")}, caFile_).exitCode, 0);
}

TEST_F(HttpsServerTest, KeepsTheLastGoodCertificateWhenTheNewFilesAreBroken) {
  std::string before = tls_->currentFingerprint();
  { std::ofstream(tls_->keyFile(), std::ios::trunc) << "not a key"; }
  auto later = std::filesystem::file_time_type::clock::now() + std::chrono::seconds(2);
  std::filesystem::last_write_time(tls_->keyFile(), later);
  auto r = curl({url("/healthz")}, caFile_);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(statusOf(r), "200");
  EXPECT_EQ(tls_->currentFingerprint(), before);
}

// In memory (the self-managed certificate's Secret): setPem swaps the pair for the next
// handshake; a pair that does not match keeps the current one; none yet fails the handshake.
TEST(TlsMaterial, InMemoryPairIsSwappedWhileServing) {
  AdmissionRouter router;
  router.add("/validate", [](const AdmissionRequest&) { return AdmissionResponse::allow({}); });
  TlsMaterial tls("");
  EXPECT_FALSE(tls.fromFiles());
  const int port = ::kubegrant::testing::freeLoopbackPort();
  HttpsServer server(HttpsServerOptions{"127.0.0.1", port}, router, tls);
  ASSERT_TRUE(server.start()) << "starts without a pair";
  const auto dir =
      std::filesystem::temp_directory_path() / ("kg-tls-memory-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto curlWith = [&](const CertificateAndKey& ca) {
    const std::string caFile = (dir / "ca.crt").string();
    std::ofstream(caFile, std::ios::trunc) << ca.certPem;
    return runCommand({"curl", "-sS", "--max-time", "5", "--cacert", caFile,
                       "https://127.0.0.1:" + std::to_string(port) + "/healthz"});
  };
  auto ca1 = issueCa("one", std::chrono::hours(1));
  auto ca2 = issueCa("two", std::chrono::hours(1));
  ASSERT_TRUE(ca1 && ca2);
  EXPECT_NE(curlWith(*ca1).exitCode, 0) << "no pair yet: no handshake";

  auto leaf1 = issueServingCertificate(*ca1, {"localhost"}, {"127.0.0.1"}, std::chrono::hours(1));
  ASSERT_TRUE(leaf1);
  ASSERT_TRUE(tls.setPem(leaf1->certPem, leaf1->keyPem));
  auto r1 = curlWith(*ca1);
  EXPECT_EQ(r1.exitCode, 0) << r1.err;
  EXPECT_TRUE(r1.out.starts_with("ok")) << r1.out;

  auto leaf2 = issueServingCertificate(*ca2, {"localhost"}, {"127.0.0.1"}, std::chrono::hours(1));
  ASSERT_TRUE(leaf2);
  EXPECT_FALSE(tls.setPem(leaf2->certPem, leaf1->keyPem)) << "a mismatched pair is refused";
  EXPECT_EQ(curlWith(*ca1).exitCode, 0) << "and the current one kept";
  ASSERT_TRUE(tls.setPem(leaf2->certPem, leaf2->keyPem));
  EXPECT_EQ(curlWith(*ca2).exitCode, 0);
  EXPECT_NE(curlWith(*ca1).exitCode, 0) << "the old CA no longer verifies it";
  server.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(TlsMaterial, MissingFilesFailToLoadWithTheirName) {
  TlsMaterial tls("/nonexistent-kubegrant-dir");
  auto r = tls.load();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot read /nonexistent-kubegrant-dir/tls.crt");
}

TEST(Certificates, ServingCertificateVerifiesAgainstTheCaWithTheRequestedNames) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kg-certs-test-" + std::to_string(::getpid()));
  CertificateRequest req;
  req.dir = dir.string();
  req.dnsNames = {"localhost", "kubegrant-webhook.kubegrant-system.svc"};
  auto certs = generateCertificates(req);
  ASSERT_TRUE(certs) << certs.error().message;
  auto verify = runCommand({"openssl", "verify", "-CAfile", certs->caFile, "-verify_hostname",
                            "kubegrant-webhook.kubegrant-system.svc", certs->certFile});
  EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  auto ip = runCommand(
      {"openssl", "verify", "-CAfile", certs->caFile, "-verify_ip", "127.0.0.1", certs->certFile});
  EXPECT_EQ(ip.exitCode, 0) << ip.out << ip.err;
  auto wrong = runCommand({"openssl", "verify", "-CAfile", certs->caFile, "-verify_hostname",
                           "evil.example", certs->certFile});
  EXPECT_NE(wrong.exitCode, 0);
  EXPECT_EQ(std::filesystem::status(certs->keyFile).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace kubegrant::webhooks
