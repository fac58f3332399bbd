// TLS properties of the REST client against `openssl s_server` on loopback, with a throwaway
// PKI generated per test run: only the configured CA is trusted, the host name is checked,
// and the client certificate is presented when the server asks for it.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "operator/kube/rest/rest_client.h"
#include "tests/support/free_port.h"
#include "tests/support/spawn.h"
#include "tests/support/test_env.h"

namespace kubegrant::kube {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::kubegrant::testing::Spawn;

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const std::vector<std::string>& argv) {
  auto r = kubegrant::testing::runCommand(argv);
  ASSERT_EQ(r.exitCode, 0) << argv[0] << " " << argv[1] << ": " << r.err;
}

bool accepting(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// A throwaway PKI: a CA, a rogue CA, server certificates for the right and a wrong name,
// and a client certificate. EC keys keep generation fast.
class Pki {
 public:
  Pki() : dir_(fs::temp_directory_path() / kubegrant::testing::uniqueName("kg-tls")) {
    fs::create_directories(dir_ / "www/api/v1/namespaces/ns/configmaps");
    std::ofstream(dir_ / "www/api/v1/namespaces/ns/configmaps/a")
        << R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns"}})";
  }
  ~Pki() { fs::remove_all(dir_); }

  void generate() {
    ASSERT_NO_FATAL_FAILURE(selfSigned("ca"));
    ASSERT_NO_FATAL_FAILURE(selfSigned("rogue"));
    ASSERT_NO_FATAL_FAILURE(issue("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"));
    ASSERT_NO_FATAL_FAILURE(issue("wrongname", "ca", "subjectAltName=DNS:other.example"));
    ASSERT_NO_FATAL_FAILURE(issue("rogueserver", "rogue", "subjectAltName=IP:127.0.0.1"));
    ASSERT_NO_FATAL_FAILURE(issue("client", "ca", "extendedKeyUsage=clientAuth"));
  }
  fs::path path(const std::string& name) const { return dir_ / name; }
  std::string pem(const std::string& name) const { return readFile(dir_ / name); }

 private:
  void selfSigned(const std::string& name) {
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", (dir_ / (name + ".key")).string(), "-out",
         (dir_ / (name + ".crt")).string(), "-days", "1", "-subj", "/CN=" + name});
  }
  void issue(const std::string& name, const std::string& ca, const std::string& ext) {
    std::ofstream(dir_ / (name + ".ext")) << ext << "\n";
    run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", (dir_ / (name + ".key")).string(), "-out",
         (dir_ / (name + ".csr")).string(), "-subj", "/CN=" + name});
    run({"openssl", "x509", "-req", "-in", (dir_ / (name + ".csr")).string(), "-CA",
         (dir_ / (ca + ".crt")).string(), "-CAkey", (dir_ / (ca + ".key")).string(),
         "-CAcreateserial", "-days", "1", "-extfile", (dir_ / (name + ".ext")).string(), "-out",
         (dir_ / (name + ".crt")).string()});
  }
  fs::path dir_;
};

// `openssl s_server -WWW` serving Pki's www folder; killed on destruction.
class TlsServer {
 public:
  TlsServer(const Pki& pki, const std::string& cert, bool requireClientCert)
      : port_(::kubegrant::testing::freeLoopbackPort()) {
    std::vector<std::string> args = {"openssl", "s_server",
                                     "-quiet",  "-WWW",
                                     "-accept", "127.0.0.1:" + std::to_string(port_),
                                     "-cert",   pki.path(cert + ".crt").string(),
                                     "-key",    pki.path(cert + ".key").string()};
    if (requireClientCert) {
      for (std::string a : {"-Verify", "1", "-CAfile"}) args.push_back(a);
      args.push_back(pki.path("ca.crt").string());
    }
    pid_ = Spawn(std::move(args))
               .chdir(pki.path("www").string())
               .open(0, "/dev/null", O_RDONLY)
               .open(1, "/dev/null", O_WRONLY)
               .dup(1, 2)
               .start();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!accepting(port_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  ~TlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_);
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

class RestTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(pki_.generate()); }

  Result<Object> getVia(const std::string& server, const std::string& caName, bool withClientCert) {
    ClusterConfig cfg;
    cfg.server = server;
    cfg.caPem = pki_.pem(caName + ".crt");
    if (withClientCert) {
      cfg.clientCertPem = pki_.pem("client.crt");
      cfg.clientKeyPem = pki_.pem("client.key");
    }
    auto client = rest::makeRestClient(cfg, {.timeout = 5000ms});
    if (!client) return std::unexpected(client.error());
    return (*client)->get(resources::configMaps(), {"ns", "a"});
  }

  Pki pki_;
};

TEST_F(RestTlsTest, TrustsAServerSignedByTheConfiguredCa) {
  TlsServer server(pki_, "server", false);
  auto got = getVia(server.url(), "ca", false);
  ASSERT_TRUE(got.has_value()) << got.error().describe();
  EXPECT_EQ(got->name(), "a");
  auto byName = getVia(server.url("localhost"), "ca", false);
  EXPECT_TRUE(byName.has_value()) << byName.error().describe();
}

TEST_F(RestTlsTest, RejectsAServerSignedByAnotherCa) {
  TlsServer server(pki_, "rogueserver", false);
  auto got = getVia(server.url(), "ca", false);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable) << got.error().describe();
  // The system trust store is not consulted either: only the configured CA counts.
  auto viaRogue = getVia(server.url(), "rogue", false);
  EXPECT_TRUE(viaRogue.has_value()) << viaRogue.error().describe();
}

TEST_F(RestTlsTest, RejectsACertificateIssuedForAnotherHostName) {
  TlsServer server(pki_, "wrongname", false);
  auto got = getVia(server.url(), "ca", false);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable) << got.error().describe();
}

TEST_F(RestTlsTest, PresentsTheClientCertificateWhenTheServerRequiresOne) {
  TlsServer server(pki_, "server", true);
  auto with = getVia(server.url(), "ca", true);
  ASSERT_TRUE(with.has_value()) << with.error().describe();
  auto without = getVia(server.url(), "ca", false);
  ASSERT_FALSE(without.has_value());
  EXPECT_EQ(without.error().code, ErrorCode::Unavailable) << without.error().describe();
}

TEST_F(RestTlsTest, RefusesAKeyThatIsNotPem) {
  ClusterConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.clientCertPem = pki_.pem("client.crt");
  cfg.clientKeyPem = "garbage";
  auto client = rest::makeRestClient(cfg);
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().code, ErrorCode::Invalid);
  EXPECT_NE(client.error().message.find("client key"), std::string::npos);
}

}  // namespace
}  // namespace kubegrant::kube
