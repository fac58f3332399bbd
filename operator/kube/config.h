#pragma once

// Where the API server is and how to authenticate: from a kubeconfig file (yaml-cpp) or
// from the in-cluster service account. Certificates and keys are loaded into memory as PEM
// so the transport never depends on the files' later state; a token file path is kept so
// a rotated service account token is picked up.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/result.h"

namespace kubegrant::kube {

struct ClusterConfig {
  std::string server;         // https://host:port (no trailing slash)
  std::string caPem;          // trusted CA bundle; empty = system trust store
  std::string clientCertPem;  // client certificate (chain)
  std::string clientKeyPem;   // its private key
  std::string token;          // bearer token (static)
  std::string tokenFile;      // bearer token file, re-read when it changes (wins over token)
  std::string tlsServerName;  // SNI / verification name override; "" = host of `server`
  bool insecureSkipTlsVerify = false;  // only honoured when the loader was allowed to
  std::string namespace_;              // the context's namespace ("default" when unset)
  std::string contextName;             // which kubeconfig context was used ("" in-cluster)
};

struct KubeconfigOptions {
  std::string context;         // "" = current-context
  bool allowInsecure = false;  // accept insecure-skip-tls-verify: true (refused otherwise)
};

// Loads `path`. Relative file references are resolved against the kubeconfig's folder.
// Fails with Invalid naming the missing/contradictory field.
[[nodiscard]] Result<ClusterConfig> loadKubeconfig(const std::filesystem::path& path,
                                                   const KubeconfigOptions& options = {});
// Same, from YAML text; relative paths resolve against `baseDir`.
[[nodiscard]] Result<ClusterConfig> parseKubeconfig(const std::string& yaml,
                                                    const std::filesystem::path& baseDir,
                                                    const KubeconfigOptions& options = {});

// Several kubeconfig files merged the way kubectl merges a $KUBECONFIG list: files are read
// in order and a missing one is skipped; the first file that names a cluster, user or context
// wins that entry whole; the first non-empty current-context wins. Relative file references
// resolve against the folder of the file their entry came from. Fails (Invalid) when none of
// the files exists, or as loadKubeconfig does.
[[nodiscard]] Result<ClusterConfig> loadKubeconfigFiles(
    const std::vector<std::filesystem::path>& paths, const KubeconfigOptions& options = {});
// A $KUBECONFIG value as a list of files: split on ':', empty entries and repeats dropped.
std::vector<std::filesystem::path> splitKubeconfigPaths(std::string_view list);

// In-cluster inputs, injectable for tests.
struct InClusterSource {
  std::map<std::string, std::string> env;  // empty = read the process environment
  std::filesystem::path saDir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// KUBERNETES_SERVICE_HOST/PORT + saDir/{token,ca.crt,namespace}. The token is referenced
// by path (tokenFile) so rotations are seen.
[[nodiscard]] Result<ClusterConfig> loadInClusterConfig(const InClusterSource& source = {});

// kubectl's loading rules: an explicit path when non-empty (it must exist), else $KUBECONFIG
// (every file, merged as loadKubeconfigFiles does), else in-cluster (from `inCluster`) when
// KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. KubeconfigOptions::context picks a
// context other than the current one.
[[nodiscard]] Result<ClusterConfig> loadDefaultConfig(
    const std::filesystem::path& explicitPath = {}, const KubeconfigOptions& options = {},
    const InClusterSource& inCluster = {});

}  // namespace kubegrant::kube
