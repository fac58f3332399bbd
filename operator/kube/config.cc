#include "operator/kube/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "operator/common/base64.h"

namespace kubegrant::kube {

namespace fs = std::filesystem;

namespace {

Result<std::string> readFile(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ErrorCode::Invalid, fmt::format("cannot read {} {}", what, path.string()));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string scalar(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap()) return {};
  YAML::Node v = node[key];
  if (!v || !v.IsScalar()) return {};
  return v.as<std::string>();
}

fs::path resolve(const fs::path& baseDir, const std::string& file) {
  fs::path p(file);
  if (p.is_relative()) p = baseDir / p;
  return p;
}

// Inline "-data" (base64) wins over a file reference, as in client-go.
Result<std::string> pemFrom(const YAML::Node& node, const char* dataKey, const char* fileKey,
                            const fs::path& baseDir) {
  std::string data = scalar(node, dataKey);
  if (!data.empty()) return base64Decode(data, dataKey);
  std::string file = scalar(node, fileKey);
  if (!file.empty()) return readFile(resolve(baseDir, file), fileKey);
  return std::string();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// One named entry (cluster, user or context) and the folder its relative paths resolve
// against: the folder of the file it came from.
struct Entry {
  YAML::Node node;  // the inner map ("cluster:", "user:", "context:")
  fs::path baseDir;
};

// kubeconfig files merged as kubectl merges them: the first file to define a name wins the
// whole entry; the first non-empty current-context wins.
struct MergedKubeconfig {
  std::string currentContext;
  std::map<std::string, Entry> clusters, users, contexts;
};

void mergeNamed(std::map<std::string, Entry>& into, const YAML::Node& root, const char* list,
                const char* inner, const fs::path& baseDir) {
  YAML::Node entries = root[list];
  if (!entries || !entries.IsSequence()) return;
  for (const auto& entry : entries) {
    std::string name = scalar(entry, "name");
    if (!name.empty()) into.try_emplace(name, Entry{entry[inner], baseDir});
  }
}

Result<void> mergeInto(MergedKubeconfig& merged, const std::string& yaml, const fs::path& baseDir) {
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root || root.IsNull()) return ok();  // an empty file contributes nothing
    if (!root.IsMap()) return fail(ErrorCode::Invalid, "kubeconfig is not a YAML map");
    if (merged.currentContext.empty()) merged.currentContext = scalar(root, "current-context");
    mergeNamed(merged.clusters, root, "clusters", "cluster", baseDir);
    mergeNamed(merged.users, root, "users", "user", baseDir);
    mergeNamed(merged.contexts, root, "contexts", "context", baseDir);
    return ok();
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::Invalid, fmt::format("kubeconfig is not valid YAML: {}", e.what()));
  }
}

const Entry* findEntry(const std::map<std::string, Entry>& entries, const std::string& name) {
  auto it = entries.find(name);
  return it == entries.end() ? nullptr : &it->second;
}

Result<ClusterConfig> resolveContext(const MergedKubeconfig& merged,
                                     const KubeconfigOptions& options) {
  try {
    ClusterConfig cfg;
    cfg.contextName = options.context.empty() ? merged.currentContext : options.context;
    if (cfg.contextName.empty()) {
      return fail(ErrorCode::Invalid, "kubeconfig has no current-context and none was given");
    }
    const Entry* contextEntry = findEntry(merged.contexts, cfg.contextName);
    if (contextEntry == nullptr || !contextEntry->node || !contextEntry->node.IsMap()) {
      return fail(ErrorCode::Invalid,
                  fmt::format("kubeconfig has no context named {}", cfg.contextName));
    }
    const YAML::Node& context = contextEntry->node;
    std::string clusterName = scalar(context, "cluster");
    std::string userName = scalar(context, "user");
    cfg.namespace_ = scalar(context, "namespace");
    if (cfg.namespace_.empty()) cfg.namespace_ = "default";

    const Entry* clusterEntry = findEntry(merged.clusters, clusterName);
    if (clusterEntry == nullptr || !clusterEntry->node || !clusterEntry->node.IsMap()) {
      return fail(ErrorCode::Invalid, fmt::format("kubeconfig context {} names unknown cluster {}",
                                                  cfg.contextName, clusterName));
    }
    const YAML::Node& cluster = clusterEntry->node;
    cfg.server = scalar(cluster, "server");
    while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
    if (cfg.server.empty()) {
      return fail(ErrorCode::Invalid, fmt::format("cluster {} has no server", clusterName));
    }
    cfg.tlsServerName = scalar(cluster, "tls-server-name");
    auto ca = pemFrom(cluster, "certificate-authority-data", "certificate-authority",
                      clusterEntry->baseDir);
    if (!ca) return std::unexpected(ca.error());
    cfg.caPem = *ca;
    if (scalar(cluster, "insecure-skip-tls-verify") == "true") {
      if (!options.allowInsecure) {
        return fail(ErrorCode::Invalid,
                    fmt::format("cluster {} sets insecure-skip-tls-verify; refused (the API server "
                                "would not be authenticated)",
                                clusterName));
      }
      cfg.insecureSkipTlsVerify = true;
    }

    if (!userName.empty()) {
      const Entry* userEntry = findEntry(merged.users, userName);
      if (userEntry == nullptr || !userEntry->node) {
        return fail(ErrorCode::Invalid, fmt::format("kubeconfig context {} names unknown user {}",
                                                    cfg.contextName, userName));
      }
      const YAML::Node& user = userEntry->node;
      const fs::path& baseDir = userEntry->baseDir;
      if (user.IsMap()) {
        if (user["exec"] || user["auth-provider"]) {
          return fail(ErrorCode::Invalid,
                      fmt::format("user {}: exec and auth-provider credentials are not supported; "
                                  "use a client certificate or a token",
                                  userName));
        }
        auto cert = pemFrom(user, "client-certificate-data", "client-certificate", baseDir);
        if (!cert) return std::unexpected(cert.error());
        auto key = pemFrom(user, "client-key-data", "client-key", baseDir);
        if (!key) return std::unexpected(key.error());
        cfg.clientCertPem = *cert;
        cfg.clientKeyPem = *key;
        if (cfg.clientCertPem.empty() != cfg.clientKeyPem.empty()) {
          return fail(ErrorCode::Invalid,
                      fmt::format("user {} has a client certificate without a key or a key "
                                  "without a certificate",
                                  userName));
        }
        cfg.token = scalar(user, "token");
        std::string tokenFile = scalar(user, "tokenFile");
        if (!tokenFile.empty()) cfg.tokenFile = resolve(baseDir, tokenFile).string();
      }
    }
    return cfg;
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::Invalid, fmt::format("kubeconfig is not valid YAML: {}", e.what()));
  }
}

fs::path folderOf(const fs::path& file) {
  return file.has_parent_path() ? file.parent_path() : fs::current_path();
}

Error prefixed(Error e, std::string_view where) {
  e.message = fmt::format("{}: {}", where, e.message);
  return e;
}

}  // namespace

Result<ClusterConfig> parseKubeconfig(const std::string& yaml, const fs::path& baseDir,
                                      const KubeconfigOptions& options) {
  MergedKubeconfig merged;
  if (auto m = mergeInto(merged, yaml, baseDir); !m) return std::unexpected(m.error());
  return resolveContext(merged, options);
}

Result<ClusterConfig> loadKubeconfig(const fs::path& path, const KubeconfigOptions& options) {
  auto text = readFile(path, "kubeconfig");
  if (!text) return std::unexpected(text.error());
  auto cfg = parseKubeconfig(*text, folderOf(path), options);
  if (!cfg) return std::unexpected(prefixed(cfg.error(), path.string()));
  return cfg;
}

std::vector<fs::path> splitKubeconfigPaths(std::string_view list) {
  std::vector<fs::path> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(':', start);
    if (end == std::string_view::npos) end = list.size();
    fs::path p(std::string(list.substr(start, end - start)));
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    start = end + 1;
  }
  return out;
}

Result<ClusterConfig> loadKubeconfigFiles(const std::vector<fs::path>& paths,
                                          const KubeconfigOptions& options) {
  MergedKubeconfig merged;
  std::vector<std::string> read;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;  // kubectl skips missing files in the list
    auto text = readFile(path, "kubeconfig");
    if (!text) return std::unexpected(text.error());
    if (auto m = mergeInto(merged, *text, folderOf(path)); !m) {
      return std::unexpected(prefixed(m.error(), path.string()));
    }
    read.push_back(path.string());
  }
  std::vector<std::string> all;
  for (const auto& p : paths) all.push_back(p.string());
  if (read.empty()) {
    return fail(ErrorCode::Invalid,
                fmt::format("none of the kubeconfig files exists: {}", fmt::join(all, ", ")));
  }
  auto cfg = resolveContext(merged, options);
  if (!cfg) return std::unexpected(prefixed(cfg.error(), fmt::format("{}", fmt::join(read, ":"))));
  return cfg;
}

Result<ClusterConfig> loadInClusterConfig(const InClusterSource& source) {
  auto getenv = [&](const char* name) -> std::string {
    if (!source.env.empty()) {
      auto it = source.env.find(name);
      return it == source.env.end() ? std::string() : it->second;
    }
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  std::string host = getenv("KUBERNETES_SERVICE_HOST");
  std::string port = getenv("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return fail(ErrorCode::Invalid,
                "not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  }
  ClusterConfig cfg;
  // An IPv6 service address needs brackets in a URL.
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  cfg.server = fmt::format("https://{}:{}", host, port);
  auto ca = readFile(source.saDir / "ca.crt", "service account CA");
  if (!ca) return std::unexpected(ca.error());
  cfg.caPem = *ca;
  fs::path tokenPath = source.saDir / "token";
  if (!fs::exists(tokenPath)) {
    return fail(ErrorCode::Invalid,
                fmt::format("service account token {} does not exist", tokenPath.string()));
  }
  cfg.tokenFile = tokenPath.string();
  auto ns = readFile(source.saDir / "namespace", "service account namespace");
  cfg.namespace_ = ns ? trim(*ns) : std::string();
  if (cfg.namespace_.empty()) cfg.namespace_ = "default";
  return cfg;
}

Result<ClusterConfig> loadDefaultConfig(const fs::path& explicitPath,
                                        const KubeconfigOptions& options,
                                        const InClusterSource& inCluster) {
  if (!explicitPath.empty()) return loadKubeconfig(explicitPath, options);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    return loadKubeconfigFiles(splitKubeconfigPaths(env), options);
  }
  std::string host;
  if (!inCluster.env.empty()) {
    auto it = inCluster.env.find("KUBERNETES_SERVICE_HOST");
    if (it != inCluster.env.end()) host = it->second;
  } else if (const char* h = std::getenv("KUBERNETES_SERVICE_HOST"); h != nullptr) {
    host = h;
  }
  if (!host.empty()) return loadInClusterConfig(inCluster);
  const char* home = std::getenv("HOME");
  if (home == nullptr) return fail(ErrorCode::Invalid, "no kubeconfig: KUBECONFIG and HOME unset");
  return loadKubeconfig(fs::path(home) / ".kube" / "config", options);
}

}  // namespace kubegrant::kube
