#pragma once

// Shared helpers of the runtime integration tests (real API server from tests/controlplane).

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "tests/support/test_env.h"

namespace kubegrant::runtime::it {

inline std::unique_ptr<kube::Client> clientFor(const testing::TestEnv& env,
                                               std::string_view user = "admin") {
  auto cfg = kube::loadKubeconfig(env.kubeconfig(user));
  EXPECT_TRUE(cfg.has_value()) << cfg.error().describe();
  if (!cfg) return nullptr;
  kube::rest::RestOptions ro;
  ro.qps = 0;  // no client-side throttling in tests
  auto client = kube::rest::makeRestClient(*cfg, ro);
  EXPECT_TRUE(client.has_value()) << client.error().describe();
  if (!client) return nullptr;
  return std::move(*client);
}

// Creates a uniquely named namespace; returns its name ("" on failure, with a test failure).
inline std::string createNamespace(kube::Client& client, std::string_view prefix) {
  std::string ns = testing::uniqueName(prefix);
  kube::Object o;
  o.setApiVersionKind(kube::resources::namespaces());
  o.setName(ns);
  auto r = client.create(kube::resources::namespaces(), o);
  EXPECT_TRUE(r.has_value()) << r.error().describe();
  return r ? ns : "";
}

// Not waited for: the controller-manager's namespace controller empties and removes it in the
// background.
inline void deleteNamespace(kube::Client& client, const std::string& ns) {
  if (!ns.empty()) (void)client.remove(kube::resources::namespaces(), {"", ns});
}

inline kube::Object configMap(const std::string& ns, const std::string& name,
                              const std::string& value = "v") {
  kube::Object o;
  o.setApiVersionKind(kube::resources::configMaps());
  o.setNamespace(ns);
  o.setName(name);
  o.body["data"] = {{"key", value}};
  return o;
}

inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace kubegrant::runtime::it
