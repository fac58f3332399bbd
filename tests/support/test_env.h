#pragma once

// The environment of integration and e2e tests: the real control plane and PostgreSQL that
// tests/controlplane/up.sh started, read from the variables it writes to DIR/env.
// Missing variables fail the test (never skip): `make test` always provides them.

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kubegrant::testing {

struct TestEnv {
  std::string dir;        // KUBEGRANT_TEST_DIR
  std::string apiServer;  // KUBEGRANT_API_SERVER, https://127.0.0.1:PORT
  std::string caCert;     // KUBEGRANT_CA_CERT, the test CA (API server, clients, webhooks)
  std::string caKey;      // KUBEGRANT_CA_KEY
  std::string pgHost, pgPort, pgDatabase, pgAdminUser, pgAdminPassword;
  std::string helm;  // KUBEGRANT_HELM, the Helm CLI tests/controlplane/build.sh built

  // DIR/kubeconfig/<user>.yaml for admin, operator, alice, bob, carol, mallory.
  std::string kubeconfig(std::string_view user) const;
  // libpq connection string for the admin role (password included: test use only).
  std::string pgAdminConnString() const;
};

// Loads once. On a missing variable, records a fatal failure naming it and returns nullopt;
// callers do `auto env = requireEnv(); if (!env) return;` or use KG_REQUIRE_ENV.
std::optional<TestEnv> requireEnv();

// KUBEGRANT_HELM alone, for the chart tests that need no control plane: the path, or a fatal
// failure naming the variable and nullopt.
std::optional<std::string> requireHelm();
// KUBEGRANT_PROMTOOL (Prometheus's promtool, built by tests/controlplane/build.sh), the same way.
std::optional<std::string> requirePromtool();

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell), feeding `input` on stdin, capturing stdout and stderr.
CommandResult runCommand(const std::vector<std::string>& argv, std::string_view input = {});

// kubectl --kubeconfig DIR/kubeconfig/<user>.yaml ARGS...
CommandResult kubectl(const TestEnv& env, std::string_view user, std::vector<std::string> args,
                      std::string_view input = {});

// AccessRequest ns/name as the admin reads it with kubectl: the object, or null when it cannot
// be read; and its status.phase ("" while it has none).
nlohmann::json getAccessRequest(const TestEnv& env, const std::string& ns, const std::string& name);
std::string accessRequestPhase(const TestEnv& env, const std::string& ns, const std::string& name);

// The audit events ("requested", "approved", "revoked", ...) of AccessRequest ns/name, in
// order, from the operator's stdout (one JSON line each, kind kubegrant.audit) at `logPath`.
std::vector<std::string> auditEvents(const std::string& logPath, const std::string& ns,
                                     const std::string& name);

// Every "kubegrant_..." string literal in the operator's, controllers' and webhooks' .cc files
// under `sourceDir`: the metrics the operator registers, for tests of what dashboards and
// alerts query.
std::set<std::string> registeredMetrics(const std::string& sourceDir);

// A DNS-1123 name unique within this test process run: "<prefix>-<pid>-<counter>".
std::string uniqueName(std::string_view prefix);

}  // namespace kubegrant::testing

#define KG_REQUIRE_ENV(var)                            \
  auto var##_opt = ::kubegrant::testing::requireEnv(); \
  if (!var##_opt) return;                              \
  const ::kubegrant::testing::TestEnv& var = *var##_opt
