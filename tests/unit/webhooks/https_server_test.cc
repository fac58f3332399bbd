// The HTTPS transport on loopback: what only the transport can get wrong (TLS policy,
// certificate hot reload, Content-Length caps, content types), driven with curl.

#include "webhooks/server/https_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
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
    server_ = std::make_unique<HttpsServer>(options(), router_, *tls_);
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
  }

  virtual HttpsServerOptions options() const { return {"127.0.0.1", port_}; }

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

// ---------------------------------------------------------------------------------------
// Misbehaving clients, driven over a raw socket (curl always sends whole requests).

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A TCP connection with an optional TLS session on it (no certificate check: the transport,
// not the trust chain, is under test here).
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    timeval tv{0, 100 * 1000};  // reads wake up every 100 ms to check their deadline
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  bool handshake() {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      int r = SSL_connect(ssl_);
      if (r == 1) return true;
      int e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && !(e == SSL_ERROR_SYSCALL && errno == EAGAIN)) return false;
    }
    return false;
  }

  bool send(std::string_view bytes) {
    if (!ssl_)
      return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) == int(bytes.size());
  }

  // Reads until the server closes the connection or `wait` passes. `closed` says which.
  struct Read {
    std::string data;
    bool closed = false;
    milliseconds after{0};
  };
  Read readUntilClosed(milliseconds wait, std::string_view stopAfter = {}) {
    Read out;
    auto start = Clock::now();
    char buf[4096];
    while (Clock::now() - start < wait) {
      if (!stopAfter.empty() && out.data.find(stopAfter) != std::string::npos) break;
      int n;
      if (ssl_) {
        n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0) {
          int e = SSL_get_error(ssl_, n);
          if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && errno == EAGAIN)) continue;
          out.closed = true;  // close_notify, EOF or reset
          break;
        }
      } else {
        n = static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) {
          out.closed = true;
          break;
        }
      }
      out.data.append(buf, static_cast<std::size_t>(n));
    }
    out.after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

std::string postReview(const std::string& extraHeaders = "") {
  std::string body = review();
  return "POST /validate HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\n" +
         extraHeaders + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Short deadlines so the tests are quick; the defaults are 10 s / 120 s.
class HttpsServerDeadlineTest : public HttpsServerTest {
 protected:
  HttpsServerOptions options() const override {
    HttpsServerOptions o{"127.0.0.1", port_};
    o.requestTimeout = milliseconds(400);
    o.idleTimeout = milliseconds(800);
    o.writeTimeout = milliseconds(400);
    o.maxHeaderBytes = 2048;
    return o;
  }
  static constexpr milliseconds kPatience{4000};  // far above every deadline above
};

TEST_F(HttpsServerDeadlineTest, AConnectionThatSendsNothingIsClosedAfterTheRequestTimeout) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  auto r = c.readUntilClosed(kPatience);
  EXPECT_TRUE(r.closed) << "still open after " << r.after.count() << " ms";
  EXPECT_GE(r.after.count(), 300);
  EXPECT_TRUE(r.data.empty());
}

TEST_F(HttpsServerDeadlineTest, HalfARequestIsClosedAfterTheRequestTimeout) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send("POST /validate HTTP/1.1\r\nHost: webhook\r\nContent-Type: appl"));
  auto r = c.readUntilClosed(kPatience);
  EXPECT_TRUE(r.closed) << "still open after " << r.after.count() << " ms";
  EXPECT_TRUE(r.data.empty()) << r.data;
}

TEST_F(HttpsServerDeadlineTest, AHeaderWithoutItsBodyIsClosedAfterTheRequestTimeout) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send(
      "POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"));
  auto r = c.readUntilClosed(kPatience);
  EXPECT_TRUE(r.closed) << "still open after " << r.after.count() << " ms";
}

TEST_F(HttpsServerDeadlineTest, ATrickledHeaderIsClosedAlthoughBytesKeepComing) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  auto start = Clock::now();
  bool closed = false;
  // One byte every 50 ms, never finishing the head: activity alone does not extend the
  // deadline of a request.
  for (int i = 0; i < 80 && !closed; ++i) {
    closed = !c.send("X") || c.readUntilClosed(milliseconds(50)).closed;
  }
  auto after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_TRUE(closed) << "still open after " << after.count() << " ms";
  EXPECT_LT(after.count(), 2000);
}

TEST_F(HttpsServerDeadlineTest, AnOversizedContentLengthIs413BeforeTheBodyIsSent) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  // 100 MB announced, not one byte of it sent: the answer comes from the header alone.
  ASSERT_TRUE(
      c.send("POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: "
             "100000000\r\n\r\n"));
  auto r = c.readUntilClosed(kPatience);
  EXPECT_TRUE(r.data.starts_with("HTTP/1.1 413 Payload Too Large\r\n")) << r.data;
  EXPECT_NE(r.data.find("Connection: close\r\n"), std::string::npos) << r.data;
  EXPECT_NE(r.data.find("request body exceeds 1024 bytes"), std::string::npos) << r.data;
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.after.count(), 300) << "answered only at the deadline";
}

TEST_F(HttpsServerDeadlineTest, AnOversizedHeaderIs431) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nX-Padding: " + std::string(4096, 'a') + "\r\n\r\n"));
  auto r = c.readUntilClosed(kPatience);
  EXPECT_TRUE(r.data.starts_with("HTTP/1.1 431 ")) << r.data;
  EXPECT_TRUE(r.closed);
}

TEST_F(HttpsServerDeadlineTest, KeepAliveServesSeveralRequestsThenClosesWhenIdle) {
  RawClient c(port_);
  ASSERT_TRUE(c.handshake());
  ASSERT_TRUE(c.send(postReview()));
  auto first = c.readUntilClosed(kPatience, R"("warnings":["seen"]}})");
  EXPECT_FALSE(first.closed);
  EXPECT_TRUE(first.data.starts_with("HTTP/1.1 200 OK\r\n")) << first.data;
  // Two pipelined requests in one write, each answered in order, with Expect honoured.
  ASSERT_TRUE(c.send(postReview("Expect: 100-continue\r\n") + "GET /healthz HTTP/1.1\r\n\r\n"));
  auto second = c.readUntilClosed(kPatience, "\r\n\r\nok\n");
  EXPECT_FALSE(second.closed);
  EXPECT_NE(second.data.find(R"("uid":"u-1")"), std::string::npos) << second.data;
  EXPECT_NE(second.data.find("\r\n\r\nok\n"), std::string::npos) << second.data;
  // Then idle: closed after idleTimeout (800 ms), not before requestTimeout would have.
  auto idle = c.readUntilClosed(kPatience);
  EXPECT_TRUE(idle.closed) << "still open after " << idle.after.count() << " ms";
  EXPECT_GE(idle.after.count(), 600);
}

TEST_F(HttpsServerDeadlineTest, StopClosesOpenConnectionsPromptly) {
  RawClient idle(port_);
  ASSERT_TRUE(idle.handshake());
  auto start = Clock::now();
  server_->stop();
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  EXPECT_TRUE(idle.readUntilClosed(kPatience).closed);
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
