#include "operator/manager/flags.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "crds/v1alpha1/duration.h"
#include "operator/common/base64.h"

namespace kubegrant::manager {
namespace {

Result<bool> parseBool(const std::string& name, const std::string& v) {
  if (v == "true" || v == "1" || v.empty()) return true;
  if (v == "false" || v == "0") return false;
  return fail(ErrorCode::Invalid, fmt::format("--{}: want true or false, got \"{}\"", name, v));
}

Result<int> parseInt(const std::string& name, const std::string& v, int lo, int hi) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 9) {
    return fail(ErrorCode::Invalid, fmt::format("--{}: want a number, got \"{}\"", name, v));
  }
  int n = std::stoi(v);
  if (n < lo || n > hi) {
    return fail(ErrorCode::Invalid,
                fmt::format("--{}: {} is out of range [{}, {}]", name, n, lo, hi));
  }
  return n;
}

// "a,b,c" appended to `out`; an empty element is Invalid.
Result<void> appendList(const std::string& name, const std::string& what, const std::string& v,
                        std::vector<std::string>& out) {
  std::size_t start = 0;
  while (start <= v.size()) {
    auto comma = v.find(',', start);
    std::string item = v.substr(start, comma == std::string::npos ? comma : comma - start);
    if (item.empty()) {
      return fail(ErrorCode::Invalid, fmt::format("--{}: empty {} in \"{}\"", name, what, v));
    }
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ok();
}

Result<void> checkNamespacedName(const std::string& name, const std::string& v) {
  auto slash = v.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == v.size() ||
      v.find('/', slash + 1) != std::string::npos) {
    return fail(ErrorCode::Invalid, fmt::format("--{}: want NAMESPACE/NAME, got \"{}\"", name, v));
  }
  return ok();
}

Result<Duration> parsePositiveDuration(const std::string& name, const std::string& v,
                                       Duration min) {
  auto d = v1alpha1::parseDuration(v);
  if (!d) return fail(ErrorCode::Invalid, "--" + name + ": " + d.error().message);
  if (*d < min) {
    return fail(ErrorCode::Invalid,
                fmt::format("--{}: must be at least {}s", name,
                            std::chrono::duration_cast<std::chrono::seconds>(min).count()));
  }
  return *d;
}

using Setter = std::function<Result<void>(Flags&, const std::string&)>;

struct Spec {
  bool boolean = false;
  Setter set;
};

const std::map<std::string, Spec>& specs() {
  static const std::map<std::string, Spec> s = {
      {"kubeconfig",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.kubeconfig = v;
          return ok();
        }}},
      {"service-account-dir",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          if (v.empty()) {
            return fail(ErrorCode::Invalid, "--service-account-dir: want a folder, got \"\"");
          }
          f.serviceAccountDir = v;
          return ok();
        }}},
      {"leader-elect",
       {true,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto b = parseBool("leader-elect", v);
          if (!b) return std::unexpected(b.error());
          f.leaderElect = *b;
          return ok();
        }}},
      {"leader-election-namespace",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.leaderElectionNamespace = v;
          return ok();
        }}},
      {"leader-election-id",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.leaderElectionId = v;
          return ok();
        }}},
      {"webhook-port",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("webhook-port", v, 0, 65535);
          if (!n) return std::unexpected(n.error());
          f.webhookPort = *n;
          return ok();
        }}},
      {"webhook-address",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.webhookAddress = v;
          return ok();
        }}},
      {"webhook-cert-dir",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.webhookCertDir = v;
          return ok();
        }}},
      {"webhook-cert-secret",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          if (!v.empty()) {
            if (auto r = checkNamespacedName("webhook-cert-secret", v); !r) return r;
          }
          f.webhookCertSecret = v;
          return ok();
        }}},
      {"webhook-cert-hosts",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          return appendList("webhook-cert-hosts", "host", v, f.webhookCertHosts);
        }}},
      {"webhook-cert-lifetime",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto d = parsePositiveDuration("webhook-cert-lifetime", v, std::chrono::seconds(3));
          if (!d) return std::unexpected(d.error());
          f.webhookCertLifetime = *d;
          return ok();
        }}},
      {"webhook-ca-lifetime",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto d = parsePositiveDuration("webhook-ca-lifetime", v, std::chrono::seconds(9));
          if (!d) return std::unexpected(d.error());
          f.webhookCaLifetime = *d;
          return ok();
        }}},
      {"webhook-configuration-name",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.webhookConfigurationName = v;
          return ok();
        }}},
      {"metrics-addr",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.metricsAddr = v;
          return ok();
        }}},
      {"health-addr",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.healthAddr = v;
          return ok();
        }}},
      {"audit-log",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.auditLog = v;
          return ok();
        }}},
      {"notify-url",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          if (!v.empty() && !v.starts_with("http://") && !v.starts_with("https://")) {
            return fail(ErrorCode::Invalid, "--notify-url: must be an http:// or https:// URL");
          }
          f.notifyUrl = v;
          return ok();
        }}},
      {"notify-secret-file",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.notifySecretFile = v;
          return ok();
        }}},
      {"notify-expiring-lead",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto d = v1alpha1::parseDuration(v);
          if (!d) return fail(ErrorCode::Invalid, "--notify-expiring-lead: " + d.error().message);
          if (*d <= Duration::zero()) {
            return fail(ErrorCode::Invalid, "--notify-expiring-lead: must be greater than zero");
          }
          f.notifyExpiringLead = *d;
          return ok();
        }}},
      {"config",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          f.config = v;
          return ok();
        }}},
      {"sweep-interval",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto d = v1alpha1::parseDuration(v);
          if (!d) {
            return fail(ErrorCode::Invalid, "--sweep-interval: " + d.error().message);
          }
          if (*d < std::chrono::seconds(1)) {
            return fail(ErrorCode::Invalid, "--sweep-interval: must be at least 1s");
          }
          f.sweepInterval = *d;
          return ok();
        }}},
      {"workers",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("workers", v, 1, 64);
          if (!n) return std::unexpected(n.error());
          f.workers = *n;
          return ok();
        }}},
      {"kube-api-qps",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("kube-api-qps", v, 1, 100000);
          if (!n) return std::unexpected(n.error());
          f.kubeApiQps = *n;
          return ok();
        }}},
      {"kube-api-burst",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("kube-api-burst", v, 1, 100000);
          if (!n) return std::unexpected(n.error());
          f.kubeApiBurst = *n;
          return ok();
        }}},
      {"http-threads",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("http-threads", v, 2, 256);
          if (!n) return std::unexpected(n.error());
          f.httpThreads = *n;
          return ok();
        }}},
      {"log-level",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          static const std::map<std::string, log::Level> levels = {{"debug", log::Level::Debug},
                                                                   {"info", log::Level::Info},
                                                                   {"warn", log::Level::Warn},
                                                                   {"error", log::Level::Error}};
          auto it = levels.find(v);
          if (it == levels.end()) {
            return fail(ErrorCode::Invalid,
                        fmt::format("--log-level: want debug, info, warn or error, "
                                    "got \"{}\"",
                                    v));
          }
          f.logLevel = it->second;
          return ok();
        }}},
      {"operator-identity",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          if (v.empty() || v.find_first_of(" '\"\\") != std::string::npos) {
            return fail(ErrorCode::Invalid,
                        fmt::format("--operator-identity: want a username, got \"{}\"", v));
          }
          f.operatorIdentity = v;
          return ok();
        }}},
      {"admin-group",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          return appendList("admin-group", "group name", v, f.adminGroups);
        }}},
      {"secret-namespace",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          return appendList("secret-namespace", "namespace", v, f.secretNamespaces);
        }}},
      {"seal-keys-secret",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          if (auto r = checkNamespacedName("seal-keys-secret", v); !r) return r;
          f.sealKeysSecret = v;
          return ok();
        }}},
      {"apiserver-max-request-bytes",
       {false,
        [](Flags& f, const std::string& v) -> Result<void> {
          auto n = parseInt("apiserver-max-request-bytes", v, 1024 * 1024, 256 * 1024 * 1024);
          if (!n) return std::unexpected(n.error());
          f.apiServerMaxRequestBytes = static_cast<std::size_t>(*n);
          return ok();
        }}},
      {"help",
       {true,
        [](Flags& f, const std::string&) -> Result<void> {
          f.help = true;
          return ok();
        }}},
  };
  return s;
}

}  // namespace

Result<std::string> serviceAccountUsername(std::string_view token) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) {
    return fail(ErrorCode::Invalid, "the ServiceAccount token is not a JWT");
  }
  auto payload = base64Decode(token.substr(dot1 + 1, dot2 - dot1 - 1), "the token's payload");
  if (!payload) return std::unexpected(payload.error());
  auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("sub") || !claims["sub"].is_string() ||
      !claims["sub"].get<std::string>().starts_with("system:serviceaccount:")) {
    return fail(ErrorCode::Invalid,
                "the ServiceAccount token has no sub claim naming a ServiceAccount");
  }
  return claims["sub"].get<std::string>();
}

Result<std::string> resolveOperatorIdentity(const Flags& flags, const std::string& tokenPath) {
  if (!flags.operatorIdentity.empty()) return flags.operatorIdentity;
  std::ifstream in(tokenPath);
  std::string token;
  if (in) std::getline(in, token);
  if (token.empty()) {
    return fail(ErrorCode::Invalid,
                "--operator-identity: required outside a cluster (no ServiceAccount token at " +
                    tokenPath +
                    "); give the username your kubeconfig authenticates as, the same value "
                    "render-webhooks.sh and render-rbac.sh were given");
  }
  auto user = serviceAccountUsername(token);
  if (!user) return fail(ErrorCode::Invalid, "--operator-identity: " + user.error().message);
  return user;
}

Result<std::string> resolveOperatorIdentity(const Flags& flags) {
  return resolveOperatorIdentity(flags, flags.serviceAccountDir + "/token");
}

int defaultHttpThreads() {
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

Result<void> applyConfigFile(const std::string& path, Flags& flags) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return fail(ErrorCode::Invalid, fmt::format("--config {}: {}", path, e.what()));
  }
  if (!root || root.IsNull()) return ok();
  if (!root.IsMap()) {
    return fail(ErrorCode::Invalid, fmt::format("--config {}: want a map of flag names", path));
  }
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    auto it = specs().find(key);
    if (it == specs().end() || key == "config" || key == "help") {
      return fail(ErrorCode::Invalid, fmt::format("--config {}: unknown key \"{}\"", path, key));
    }
    std::string value;
    try {
      value = kv.second.as<std::string>();
    } catch (const std::exception&) {
      return fail(ErrorCode::Invalid,
                  fmt::format("--config {}: \"{}\" must be a scalar", path, key));
    }
    if (auto r = it->second.set(flags, value); !r) return r;
  }
  return ok();
}

Result<Flags> parseFlags(const std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h") {
      parsed.emplace_back("help", "");
      continue;
    }
    if (!a.starts_with("--")) {
      return fail(ErrorCode::Invalid, fmt::format("unexpected argument \"{}\" (see --help)", a));
    }
    std::string name = a.substr(2), value;
    bool hasValue = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      hasValue = true;
    }
    auto it = specs().find(name);
    if (it == specs().end()) {
      return fail(ErrorCode::Invalid, fmt::format("unknown flag --{} (see --help)", name));
    }
    if (!hasValue && !it->second.boolean) {
      if (i + 1 >= args.size()) {
        return fail(ErrorCode::Invalid, fmt::format("flag --{} needs a value", name));
      }
      value = args[++i];
    }
    parsed.emplace_back(name, value);
  }
  Flags flags;
  for (const auto& [name, value] : parsed) {
    if (name == "config") {
      flags.config = value;
      if (auto r = applyConfigFile(value, flags); !r) return std::unexpected(r.error());
    }
  }
  for (const auto& [name, value] : parsed) {
    if (name == "config") continue;
    if (auto r = specs().at(name).set(flags, value); !r) return std::unexpected(r.error());
  }
  if (!flags.webhookCertSecret.empty()) {
    if (flags.webhookCertHosts.empty()) {
      return fail(ErrorCode::Invalid,
                  "--webhook-cert-secret needs --webhook-cert-hosts (the names the API server "
                  "calls the webhook by, e.g. SERVICE.NAMESPACE.svc)");
    }
    if (flags.webhookCaLifetime < 3 * flags.webhookCertLifetime) {
      return fail(ErrorCode::Invalid,
                  "--webhook-ca-lifetime must be at least 3x --webhook-cert-lifetime (the CA "
                  "renews at 2/3 of its lifetime and must outlive every certificate it signed)");
    }
  }
  return flags;
}

std::string helpText() {
  return R"(kubegrant-operator: just-in-time, time-bound, approved, audited access to Kubernetes.

Runs the AccessRequest controller (approval -> RoleBindings -> verified revocation at
expiresAt), the orphan sweep, and the kubegrant admission webhook server in one process.

Usage: kubegrant-operator [flags]

Connection:
  --kubeconfig PATH            kubeconfig to use. Default: $KUBECONFIG, else the in-cluster
                               service account, else ~/.kube/config.
  --service-account-dir DIR    In a cluster (no kubeconfig, KUBERNETES_SERVICE_HOST/PORT
                               set): the folder with the ServiceAccount's token, ca.crt and
                               namespace (default
                               /var/run/secrets/kubernetes.io/serviceaccount). The token is
                               re-read when it changes (the kubelet rotates it).
  --leader-elect               Run the controller only while holding the Lease
                               <leader-election-namespace>/<leader-election-id>; losing it
                               exits with status 1. The webhook serves on every replica.
  --leader-election-namespace  Namespace of the Lease (default kubegrant-system).
  --leader-election-id         Name of the Lease (default kubegrant-operator).

Serving:
  --webhook-port N             HTTPS port of the admission webhook (default 9443; 0 = off).
  --webhook-address ADDR       Address the webhook binds (default 0.0.0.0).
  --webhook-cert-dir DIR       Directory with tls.crt and tls.key, reloaded when they change
                               (default /tmp/k8s-webhook-server/serving-certs). Not used
                               with --webhook-cert-secret.
  --webhook-cert-secret NS/NAME
                               Self-managed serving certificate: the leader keeps a CA and a
                               serving certificate in this Secret (creates it, renews each at
                               2/3 of its lifetime, a new CA overlapping the old one in
                               caBundle) and every replica serves what it holds, swapped
                               without a restart. Default: none (--webhook-cert-dir).
  --webhook-cert-hosts LIST    DNS names and IP addresses of the serving certificate, comma-
                               separated (e.g. kubegrant-webhook.kubegrant-system.svc).
                               Required with --webhook-cert-secret.
  --webhook-cert-lifetime DUR  Lifetime of the serving certificate (Go duration, default
                               2160h = 90 days; at least 3s).
  --webhook-ca-lifetime DUR    Lifetime of the CA (default 87600h = 10 years; at least 3x
                               --webhook-cert-lifetime).
  --webhook-configuration-name NAME
                               With --webhook-cert-secret: the Mutating- and
                               ValidatingWebhookConfiguration (both have this name) whose
                               caBundle the leader keeps equal to the Secret's ca.crt.
                               Default: none (caBundle managed elsewhere).
  --metrics-addr ADDR          Prometheus /metrics on host:port or :port (default :8080;
                               0 = off).
  --health-addr ADDR           /healthz and /readyz (default :8081; 0 = off). /readyz is 200
                               once the caches are synced and the webhook accepts
                               connections, 503 with the reason otherwise.

Behaviour:
  --audit-log PATH             One JSON line per lifecycle event (requested, approved, denied,
                               granted, expired, revoked, failed) and per webhook refusal.
                               Default (or "-"): stdout. A path is opened for appending and
                               locked (one process per file). Hash-chained: each line has seq
                               and prev (SHA-256 of the line before); the chain continues
                               after a restart and a rotation by rename (PATH.1). Check it with
                               `kubectl grant audit verify FILE...`.
  --sweep-interval DURATION    How often the safety-net sweep removes RoleBindings with
                               kubegrant's labels that belong to no live Active request and
                               overdue grants (Go duration, default 60s).
  --workers N                  Concurrent reconciles (default 4).
  --kube-api-qps N             Client-side rate limit towards the API server, requests per
                               second (default 200); --kube-api-burst N its burst (400).
  --http-threads N             Threads of the HTTP I/O pool shared by the webhook server and
                               the API client (default: one per core, at least 2; range
                               2-256). Nothing blocks on these threads, so more do not
                               help: on 2 cores, 2 threads serve about twice the reviews
                               per CPU second of cpprestsdk's default 40 (bench/README.md).
  --notify-url URL             Receives every notification as a JSON POST (Slack/Mattermost
                               `text` plus structured fields): request created (with who
                               must approve), approved, denied, active, expiring soon, ended
                               (expired, revoked, failed), and security denials of the
                               webhook. Policies add their own receivers (spec.notify).
                               Retried with backoff; never blocks a reconcile; at least once
                               (README "Notifications"). Default: none.
  --notify-secret-file PATH    File holding the HMAC-SHA256 key (at least 32 bytes) that signs
                               every notification: X-Kubegrant-Signature: v1=hex(HMAC(key,
                               X-Kubegrant-Timestamp + "." + body)). Default: unsigned.
  --notify-expiring-lead DUR   How long before expiresAt the "expiring" notification is sent
                               (Go duration, default 10m).
  --config PATH                YAML file with any of these flags as keys (without "--");
                               flags given on the command line win.
  --log-level LEVEL            debug, info (default), warn or error. Logs are JSON lines on
                               stderr; debug adds each pass's plan and every API request
                               (method, path, status, milliseconds; never a body).
  -h, --help                   This text.

Security:
  --operator-identity USER     The operator's one identity: the username its kubeconfig
                               authenticates as. The webhook trusts it and nothing else (no
                               group is trusted); render-webhooks.sh and render-rbac.sh must
                               get the same value. Default: in a cluster, the ServiceAccount
                               of the mounted token (system:serviceaccount:NS:NAME);
                               elsewhere required.
  --admin-group GROUP          Members may delete any AccessRequest (also an ended one, the
                               audit record, before its retainFor) and change any request's
                               labels, annotations, ownerReferences and finalizers. Repeat
                               or comma-separate for several. Default: none.
  --secret-namespace NS        Namespace whose Secrets AccessPolicies (spec.notify[].urlSecretRef)
                               and DatabaseTargets (adminSecretRef, caSecretRef) may name;
                               a reference elsewhere is refused by the webhook and, should a
                               reference slip past it, never read by the controller. The
                               operator may read any Secret, so without this a policy or
                               target author could make it use another team's Secret. Repeat
                               or comma-separate for several; "*" = any namespace. Default:
                               the --leader-election-namespace.
  --seal-keys-secret NS/NAME   Secret whose data.keys holds the HMAC keys that seal the
                               requester, each approval and the operator's status (default
                               kubegrant-system/kubegrant-seal-keys; format and rotation:
                               README "Key handling"; operator/deploy/seal-keys.sh new).
  --apiserver-max-request-bytes N
                               The API server's --max-request-bytes (default 3145728). The
                               webhook accepts reviews up to 4x that (old and new object),
                               so no object can become too big to update.

Signals: SIGTERM or SIGINT stop the controller (in-flight reconciles finish), the webhook
and the servers, then exit 0.
)";
}

}  // namespace kubegrant::manager
