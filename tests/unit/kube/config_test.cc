#include "operator/kube/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace kubegrant::kube {
namespace {

namespace fs = std::filesystem;

const char kCa[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const char kCert[] = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const char kKey[] = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned val = 0;
  int bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(t[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("kg-kube-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, std::string_view content) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string kubeconfig(const std::string& clusterExtra, const std::string& userExtra,
                       const std::string& contextExtra = "") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: main\n"
         "clusters:\n- name: other\n  cluster:\n    server: https://other:1\n"
         "- name: test\n  cluster:\n    server: https://127.0.0.1:6443/\n" +
         clusterExtra +
         "contexts:\n- name: main\n  context:\n    cluster: test\n    user: admin\n" +
         contextExtra +
         "- name: second\n  context:\n    cluster: other\n    user: admin\n"
         "users:\n- name: admin\n  user:\n" +
         userExtra;
}

TEST(LoadKubeconfig, ReadsInlineCaAndClientCertificate) {
  TempDir dir;
  auto path =
      dir.write("config", kubeconfig("    certificate-authority-data: " + base64(kCa) + "\n",
                                     "    client-certificate-data: " + base64(kCert) +
                                         "\n    client-key-data: " + base64(kKey) + "\n",
                                     "    namespace: payments\n"));
  auto cfg = loadKubeconfig(path);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->caPem, kCa);
  EXPECT_EQ(cfg->clientCertPem, kCert);
  EXPECT_EQ(cfg->clientKeyPem, kKey);
  EXPECT_EQ(cfg->namespace_, "payments");
  EXPECT_EQ(cfg->contextName, "main");
  EXPECT_FALSE(cfg->insecureSkipTlsVerify);
}

TEST(LoadKubeconfig, ResolvesFileReferencesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.write("pki/ca.crt", kCa);
  dir.write("pki/admin.crt", kCert);
  auto keyPath = dir.write("abs/admin.key", kKey);
  dir.write("tok", "secret-token\n");
  auto path =
      dir.write("config", kubeconfig("    certificate-authority: pki/ca.crt\n",
                                     "    client-certificate: pki/admin.crt\n    client-key: " +
                                         keyPath.string() + "\n    tokenFile: tok\n"));
  auto cfg = loadKubeconfig(path);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->caPem, kCa);
  EXPECT_EQ(cfg->clientCertPem, kCert);
  EXPECT_EQ(cfg->clientKeyPem, kKey);
  EXPECT_EQ(cfg->tokenFile, (dir.path() / "tok").string());
  EXPECT_EQ(cfg->namespace_, "default");
}

TEST(LoadKubeconfig, UsesTheRequestedContext) {
  TempDir dir;
  auto path = dir.write("config", kubeconfig("", "    token: abc\n"));
  auto cfg = loadKubeconfig(path, {.context = "second"});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://other:1");
  EXPECT_EQ(cfg->token, "abc");
}

TEST(LoadKubeconfig, RefusesInsecureSkipTlsVerifyUnlessAllowed) {
  TempDir dir;
  auto path =
      dir.write("config", kubeconfig("    insecure-skip-tls-verify: true\n", "    token: a\n"));
  auto refused = loadKubeconfig(path);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::Invalid);
  EXPECT_NE(refused.error().message.find("insecure-skip-tls-verify"), std::string::npos);
  auto allowed = loadKubeconfig(path, {.allowInsecure = true});
  ASSERT_TRUE(allowed.has_value());
  EXPECT_TRUE(allowed->insecureSkipTlsVerify);
}

struct BadCase {
  const char* name;
  std::string yaml;
  const char* mentions;
};

TEST(LoadKubeconfig, ReportsWhatIsWrong) {
  const BadCase cases[] = {
      {"missing CA file", kubeconfig("    certificate-authority: nope.crt\n", ""), "nope.crt"},
      {"certificate without key",
       kubeconfig("", "    client-certificate-data: " + base64(kCert) + "\n"), "without a key"},
      {"bad base64", kubeconfig("    certificate-authority-data: '***'\n", ""), "base64"},
      {"exec plugin", kubeconfig("", "    exec:\n      command: aws\n"), "exec"},
      {"unknown context", "current-context: nope\ncontexts: []\n", "nope"},
      {"not yaml", "a: [b", "YAML"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    auto cfg = loadKubeconfig(dir.write("config", c.yaml));
    ASSERT_FALSE(cfg.has_value());
    EXPECT_EQ(cfg.error().code, ErrorCode::Invalid);
    EXPECT_NE(cfg.error().message.find(c.mentions), std::string::npos) << cfg.error().message;
  }
}

TEST(LoadInClusterConfig, ReadsServiceAccountFiles) {
  TempDir dir;
  dir.write("ca.crt", kCa);
  dir.write("token", "t0k3n");
  dir.write("namespace", "kubegrant-system\n");
  auto cfg = loadInClusterConfig(
      {.env = {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       .saDir = dir.path()});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://10.0.0.1:443");
  EXPECT_EQ(cfg->caPem, kCa);
  EXPECT_EQ(cfg->tokenFile, (dir.path() / "token").string());
  EXPECT_EQ(cfg->namespace_, "kubegrant-system");

  auto v6 = loadInClusterConfig(
      {.env = {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
       .saDir = dir.path()});
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");
}

// No --kubeconfig and no $KUBECONFIG: the in-cluster path, from the folder the operator's
// --service-account-dir names (the e2e test lays one out like the kubelet does).
TEST(LoadDefaultConfig, WithoutAKubeconfigReadsTheServiceAccountFolderItIsGiven) {
  TempDir dir;
  dir.write("ca.crt", kCa);
  dir.write("token", "t0k3n");
  dir.write("namespace", "kg\n");
  const char* saved = std::getenv("KUBECONFIG");
  std::string keep = saved ? saved : "";
  ::unsetenv("KUBECONFIG");
  auto cfg = loadDefaultConfig(
      {}, {},
      {.env = {{"KUBERNETES_SERVICE_HOST", "127.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "6443"}},
       .saDir = dir.path()});
  if (saved) ::setenv("KUBECONFIG", keep.c_str(), 1);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->caPem, kCa);
  EXPECT_EQ(cfg->tokenFile, (dir.path() / "token").string()) << "re-read on rotation";
  EXPECT_EQ(cfg->namespace_, "kg");
}

TEST(LoadInClusterConfig, FailsOutsideACluster) {
  auto cfg = loadInClusterConfig({.env = {{"UNRELATED", "1"}}, .saDir = "/nonexistent"});
  ASSERT_FALSE(cfg.has_value());
  EXPECT_NE(cfg.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

// $KUBECONFIG=a:b merges as kubectl does: entries by name, the first file wins an entry
// whole, the first current-context wins, each entry's paths resolve against its own file.
TEST(LoadKubeconfigFiles, MergesEntryByEntryAndTheFirstFileWins) {
  TempDir dir;
  dir.write("one/ca.crt", kCa);
  auto one = dir.write("one/config",
                       "current-context: work\n"
                       "clusters:\n- name: prod\n  cluster:\n    server: https://prod-one:6443\n"
                       "    certificate-authority: ca.crt\n"
                       "contexts:\n- name: work\n  context:\n    cluster: prod\n    user: me\n"
                       "    namespace: payments\n");
  dir.write("two/me.tok", "tok\n");
  auto two = dir.write("two/config",
                       "current-context: lab\n"
                       "clusters:\n- name: prod\n  cluster:\n    server: https://prod-two:6443\n"
                       "- name: lab\n  cluster:\n    server: https://lab:6443\n"
                       "contexts:\n- name: work\n  context:\n    cluster: lab\n    user: me\n"
                       "- name: lab\n  context:\n    cluster: lab\n    user: me\n"
                       "users:\n- name: me\n  user:\n    tokenFile: me.tok\n");
  auto cfg = loadKubeconfigFiles({one, dir.path() / "missing", two});
  ASSERT_TRUE(cfg.has_value()) << cfg.error().describe();
  EXPECT_EQ(cfg->contextName, "work") << "the first file's current-context wins";
  EXPECT_EQ(cfg->server, "https://prod-one:6443") << "the first file's cluster prod wins";
  EXPECT_EQ(cfg->caPem, kCa) << "resolved against the first file's folder";
  EXPECT_EQ(cfg->namespace_, "payments") << "the first file's context work wins whole";
  EXPECT_EQ(cfg->tokenFile, (dir.path() / "two" / "me.tok").string())
      << "a user only the second file has, resolved against the second file's folder";

  auto lab = loadKubeconfigFiles({one, two}, {.context = "lab"});
  ASSERT_TRUE(lab.has_value()) << lab.error().describe();
  EXPECT_EQ(lab->server, "https://lab:6443");
  EXPECT_EQ(lab->namespace_, "default") << "a context without a namespace means default";

  auto swapped = loadKubeconfigFiles({two, one});
  ASSERT_TRUE(swapped.has_value()) << swapped.error().describe();
  EXPECT_EQ(swapped->contextName, "lab") << "now the second file's current-context comes first";
  EXPECT_EQ(swapped->server, "https://lab:6443");
}

TEST(LoadKubeconfigFiles, FailsWhenNoFileExistsOrTheContextIsUnknown) {
  TempDir dir;
  auto none = loadKubeconfigFiles({dir.path() / "a", dir.path() / "b"});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::Invalid);
  EXPECT_NE(none.error().message.find("none of the kubeconfig files exists"), std::string::npos)
      << none.error().message;

  auto path = dir.write("config", kubeconfig("", "    token: abc\n"));
  auto unknown = loadKubeconfigFiles({path}, {.context = "nope"});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("no context named nope"), std::string::npos)
      << unknown.error().message;
}

TEST(SplitKubeconfigPaths, DropsEmptyEntriesAndRepeats) {
  EXPECT_EQ(splitKubeconfigPaths("a:b::a:c:"), (std::vector<fs::path>{"a", "b", "c"}));
  EXPECT_EQ(splitKubeconfigPaths(""), std::vector<fs::path>{});
  EXPECT_EQ(splitKubeconfigPaths("/x/config"), std::vector<fs::path>{"/x/config"});
}

}  // namespace
}  // namespace kubegrant::kube
