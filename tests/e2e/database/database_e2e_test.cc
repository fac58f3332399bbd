// Database access as users live it: the real kubegrant-operator binary (OperatorHarness) against
// the real control plane and the real PostgreSQL of tests/controlplane/up.sh. alice asks for a
// database profile, bob approves, alice reads the issued Secret with her own kubeconfig and
// connects with the real psql (sslmode verify-full, the Secret's ca.crt); mallory and carol
// cannot read the Secret; the PII columns are withheld or masked by the database itself; at
// expiry her open session is terminated, the role, the Secret and her RoleBindings are gone,
// and the password appears in no log, Event, status or audit line of the run.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/base64.h"
#include "operator/common/time.h"
#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::CommandResult;
using testing::kubectl;
using testing::readFile;
using testing::runCommand;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const std::string kApprove =
    R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])";

std::string psqlBin() {
  const char* bin = std::getenv("KUBEGRANT_PG_BIN");
  return bin && *bin ? std::string(bin) + "/psql" : "psql";
}

// The issued Secret's connection, as alice read it with her own kubeconfig.
struct Issued {
  std::string host, port, database, username, password, sslmode, caFile;
  std::string conninfo() const {
    return fmt::format(
        "host={} port={} dbname={} user={} password={} sslmode={} sslrootcert={} "
        "connect_timeout=5",
        host, port, database, username, password, sslmode, caFile);
  }
};

class DatabaseE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    ns_ = uniqueName("db");
    // The target's admin and CA Secrets live in the test's namespace.
    ASSERT_NO_FATAL_FAILURE(
        harness_.setUp(env_, "kubegrant-e2e-database", {"--secret-namespace", ns_}));
    policy_ = ns_ + "-policy";
    target_ = ns_ + "-orders";
    mustAdmin({"create", "namespace", ns_});
    // The admin and CA Secrets (up.sh's admin role and test CA), then the target and policy.
    mustAdmin({"create", "secret", "generic", "pg-admin", "-n", ns_,
               "--from-literal=username=" + env_.pgAdminUser,
               "--from-literal=password=" + env_.pgAdminPassword});
    mustAdmin({"create", "secret", "generic", "pg-ca", "-n", ns_,
               "--from-file=ca.crt=" + std::string(std::getenv("KUBEGRANT_PG_CA_CERT"))});
    mustAdmin({"apply", "-f", "-"},
              fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: DatabaseTarget
metadata: {{name: {target}}}
spec:
  engine: postgres
  host: "{host}"
  port: {port}
  database: {db}
  sslMode: verify-full
  caSecretRef: {{namespace: {ns}, name: pg-ca}}
  adminSecretRef: {{namespace: {ns}, name: pg-admin}}
  connectionLimit: 2
  profiles:
    - name: readonly
      grants:
        - schema: public
          tables: ["*"]
          privileges: [SELECT]
          excludeColumns: {{customers: [email, phone, card_number]}}
    - name: support
      grants:
        - schema: public
          tables: [customers, orders]
          privileges: [SELECT]
          excludeColumns: {{customers: [card_number]}}
          maskColumns: {{customers: {{email: email, phone: partial}}}}
---
apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata: {{name: {policy}}}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{ns}]
  roles: [{{kind: ClusterRole, name: view}}]
  databases: [{{target: {target}, profiles: [readonly, support]}}]
  defaultDuration: 1m
  maxDuration: 1h
  approval:
    approvers: {{groups: [payments-leads]}}
    required: 1
)",
                          fmt::arg("target", target_), fmt::arg("host", env_.pgHost),
                          fmt::arg("port", env_.pgPort), fmt::arg("db", env_.pgDatabase),
                          fmt::arg("ns", ns_), fmt::arg("policy", policy_)));
  }

  void TearDown() override {
    harness_.unregisterWebhooks();
    if (!ns_.empty()) {
      kubectl(env_, "admin",
              {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=30s"});
    }
    int rc = harness_.stopOperator(SIGTERM);
    EXPECT_EQ(rc, 0) << "the operator must exit 0 on SIGTERM";
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "databasetarget", target_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    if (HasFailure()) {
      std::cerr << "---- operator log (" << harness_.logPath() << ") ----\n"
                << readFile(harness_.logPath()).substr(0, 30000) << "\n";
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  // alice asks for `profile` on the target (and view, so she has RoleBindings too).
  void request(const std::string& name, const std::string& profile, const std::string& duration) {
    auto r = kubectl(env_, "alice", {"apply", "-f", "-"},
                     fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: {}, namespace: {}}}
spec:
  policy: {}
  duration: {}
  reason: "e2e: orders stuck"
  roles: [{{kind: ClusterRole, name: view}}]
  databases: [{{target: {}, profile: {}}}]
)",
                                 name, ns_, policy_, duration, target_, profile));
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  // bob approves `name` (seen Pending first); it must become Active.
  void approveUntilActive(const std::string& name) {
    ASSERT_TRUE(waitPhase(name, "Pending")) << get(name).dump(2);
    auto approved = kubectl(
        env_, "bob",
        {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=json", "-p", kApprove});
    ASSERT_EQ(approved.exitCode, 0) << approved.err;
    ASSERT_TRUE(waitPhase(name, "Active")) << get(name).dump(2);
  }

  json get(const std::string& name) { return getAccessRequest(env_, ns_, name); }
  std::string phase(const std::string& name) { return accessRequestPhase(env_, ns_, name); }
  bool waitPhase(const std::string& name, const std::string& want,
                 std::chrono::milliseconds timeout = 20s) {
    return waitFor([&] { return phase(name) == want; }, timeout, 50ms);
  }

  std::string secretName(const std::string& request) { return request + "-" + target_; }

  // alice reads the Secret with her own kubeconfig (the Role issued for it).
  Issued aliceReadsSecret(const std::string& request) {
    Issued out;
    auto r =
        kubectl(env_, "alice", {"get", "secret", secretName(request), "-n", ns_, "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    if (r.exitCode != 0) return out;
    const auto data = json::parse(r.out)["data"];
    auto field = [&](const char* k) {
      if (!data.contains(k)) {
        ADD_FAILURE() << "Secret has no key " << k;
        return std::string();
      }
      auto v = base64Decode(data[k].get<std::string>(), k);
      EXPECT_TRUE(v);
      return v ? *v : std::string();
    };
    out.host = field("host");
    out.port = field("port");
    out.database = field("database");
    out.username = field("username");
    out.password = field("password");
    out.sslmode = field("sslmode");
    out.caFile = harness_.dir() + "/" + request + "-ca.crt";
    std::ofstream(out.caFile) << field("ca.crt");
    passwords_.push_back(out.password);
    return out;
  }

  CommandResult psql(const Issued& c, const std::string& sql) {
    return runCommand({psqlBin(), "-X", "-At", "-v", "ON_ERROR_STOP=1", c.conninfo(), "-c", sql});
  }
  // SQL as up.sh's admin role.
  std::string adminQuery(const std::string& sql) {
    auto r = runCommand(
        {psqlBin(), "-X", "-At", "-v", "ON_ERROR_STOP=1", env_.pgAdminConnString(), "-c", sql});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  }
  bool roleExists(const std::string& role) {
    return adminQuery(fmt::format("SELECT count(*) FROM pg_roles WHERE rolname = '{}'", role)) ==
           "1\n";
  }

  json managedRoleBindings() {
    auto r = kubectl(env_, "admin",
                     {"get", "rolebindings", "-n", ns_, "-l",
                      "app.kubernetes.io/managed-by=kubegrant", "-o", "json"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return json::parse(r.out)["items"];
  }

  // Every output of the run: the operator's log (its audit lines included), the Events, the
  // requests (status) and the psql outputs.
  void expectNoPasswordAnywhere(const std::vector<std::string>& extra) {
    std::vector<std::pair<std::string, std::string>> outputs = {
        {"operator log and audit lines", readFile(harness_.logPath())},
        {"events", kubectl(env_, "admin", {"get", "events", "-n", ns_, "-o", "json"}).out},
        {"requests", kubectl(env_, "admin", {"get", "areq", "-n", ns_, "-o", "json"}).out},
    };
    for (const auto& x : extra) outputs.emplace_back("psql output", x);
    for (const auto& pw : passwords_) {
      ASSERT_GE(pw.size(), 32u);
      for (const auto& [what, text] : outputs) {
        EXPECT_EQ(text.find(pw), std::string::npos) << "the password appears in the " << what;
      }
    }
  }

  TestEnv env_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
  std::string ns_, policy_, target_;
  std::vector<std::string> passwords_;
};

TEST_F(DatabaseE2eTest, ApprovedProfilesWithholdAndMaskPiiAndExpiryEndsEverything) {
  // Both profiles at once: withheld columns (readonly) and masked ones (support).
  ASSERT_NO_FATAL_FAILURE(request("ro", "readonly", "45s"));
  ASSERT_NO_FATAL_FAILURE(request("mask", "support", "45s"));
  for (const char* name : {"ro", "mask"}) {
    ASSERT_TRUE(waitPhase(name, "Pending")) << get(name).dump(2);
    auto approved = kubectl(
        env_, "bob",
        {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=json", "-p", kApprove});
    ASSERT_EQ(approved.exitCode, 0) << approved.err;
  }
  ASSERT_TRUE(waitPhase("ro", "Active")) << get("ro").dump(2);
  ASSERT_TRUE(waitPhase("mask", "Active")) << get("mask").dump(2);

  // Only alice may read the Secrets.
  for (const char* user : {"mallory", "carol"}) {
    auto r = kubectl(env_, user, {"get", "secret", secretName("ro"), "-n", ns_});
    EXPECT_NE(r.exitCode, 0) << user << " read the Secret";
    EXPECT_NE(r.err.find("Forbidden"), std::string::npos) << user << ": " << r.err;
  }
  const Issued ro = aliceReadsSecret("ro");
  const Issued mask = aliceReadsSecret("mask");
  ASSERT_FALSE(ro.password.empty());
  ASSERT_EQ(ro.sslmode, "verify-full");
  std::vector<std::string> psqlOutputs;
  auto run = [&](const Issued& c, const std::string& sql) {
    auto r = psql(c, sql);
    psqlOutputs.push_back(r.out + r.err);
    return r;
  };

  // readonly: id and name readable, the PII column withheld, no writes.
  auto names = run(ro, "SELECT id, name FROM customers ORDER BY id");
  ASSERT_EQ(names.exitCode, 0) << names.err;
  EXPECT_NE(names.out.find("Ada Lovelace"), std::string::npos) << names.out;
  auto email = run(ro, "SELECT email FROM customers");
  EXPECT_NE(email.exitCode, 0) << email.out;
  EXPECT_NE(email.err.find("permission denied"), std::string::npos) << email.err;
  auto insert = run(ro, "INSERT INTO customers (name, email) VALUES ('x', 'x@example.com')");
  EXPECT_NE(insert.exitCode, 0);
  EXPECT_NE(insert.err.find("permission denied"), std::string::npos) << insert.err;

  // support: email served masked by the database's views; the base table is out of reach.
  auto masked = run(mask, "SELECT id, name, email FROM customers ORDER BY id");
  ASSERT_EQ(masked.exitCode, 0) << masked.err;
  EXPECT_NE(masked.out.find("a***@example.com"), std::string::npos) << masked.out;
  EXPECT_EQ(masked.out.find("ada@example.com"), std::string::npos) << masked.out;
  auto base = run(mask, "SELECT email FROM public.customers");
  EXPECT_NE(base.exitCode, 0) << base.out;
  EXPECT_NE(base.err.find("permission denied"), std::string::npos) << base.err;
  auto maskInsert = run(mask,
                        "INSERT INTO public.orders (customer_id, status, total) "
                        "VALUES (1, 'x', 1)");
  EXPECT_NE(maskInsert.exitCode, 0);

  // A session opened during the window stays open until expiry.
  ChildProcess session;
  session.start(psqlBin(), {"-X", "-At", ro.conninfo(), "-c", "SELECT pg_sleep(600)"},
                harness_.dir() + "/session.log");
  ASSERT_TRUE(waitFor(
      [&] {
        return adminQuery(fmt::format("SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
                                      ro.username)) == "1\n";
      },
      10s))
      << "the long session did not start: " << readFile(harness_.dir() + "/session.log");
  EXPECT_GE(managedRoleBindings().size(), 2u);

  // Expiry: the session is terminated, the role, the Secret and the RoleBindings are gone.
  const auto expiresAt = get("ro")["status"].value("expiresAt", "");
  ASSERT_TRUE(waitPhase("ro", "Expired", 90s)) << get("ro").dump(2);
  const auto sessionEnd = session.wait(10s);
  ASSERT_TRUE(sessionEnd.has_value()) << "the session survived expiry";
  EXPECT_NE(*sessionEnd, 0);
  const std::string sessionLog = readFile(harness_.dir() + "/session.log");
  EXPECT_NE(sessionLog.find("terminat"), std::string::npos) << sessionLog;
  psqlOutputs.push_back(sessionLog);
  std::cerr << "ro expiresAt " << expiresAt << ", Expired observed at "
            << formatRfc3339(std::chrono::system_clock::now()) << "\n";
  EXPECT_FALSE(roleExists(ro.username));
  auto again = run(ro, "SELECT 1");
  EXPECT_NE(again.exitCode, 0) << "a new login after expiry succeeded";
  EXPECT_NE(
      kubectl(env_, "admin", {"get", "secret", secretName("ro"), "-n", ns_}).err.find("NotFound"),
      std::string::npos);

  ASSERT_TRUE(waitPhase("mask", "Expired", 30s)) << get("mask").dump(2);
  EXPECT_FALSE(roleExists(mask.username));
  EXPECT_TRUE(managedRoleBindings().empty()) << managedRoleBindings().dump(2);
  auto secrets = kubectl(env_, "admin", {"get", "secrets", "-n", ns_, "-o", "name"});
  EXPECT_EQ(secrets.out.find(target_), std::string::npos) << secrets.out;
  // alice has no access left.
  auto pods = kubectl(env_, "alice", {"get", "pods", "-n", ns_});
  EXPECT_NE(pods.err.find("Forbidden"), std::string::npos) << pods.err;

  ASSERT_NO_FATAL_FAILURE(expectNoPasswordAnywhere(psqlOutputs));
}

// A DatabaseTarget change acts on active requests (issue 10, live targets). The platform
// team changes profile readonly from withholding email to masking it: alice's open Secret
// credentials (same password, no new request) now read a***@example.com. Then the profile is
// removed from the target: the request is Revoked with the reason in status and an Event, and
// its database user and Secret are gone.
TEST_F(DatabaseE2eTest, ATargetChangeReappliesTheProfileAndARemovedProfileRevokes) {
  ASSERT_NO_FATAL_FAILURE(request("live", "readonly", "5m"));
  ASSERT_NO_FATAL_FAILURE(approveUntilActive("live"));
  const Issued issued = aliceReadsSecret("live");
  std::vector<std::string> outputs;
  auto run = [&](const std::string& sql) {
    auto r = psql(issued, sql);
    outputs.push_back(r.out + r.err);
    return r;
  };
  auto withheld = run("SELECT email FROM customers WHERE id = 1");
  EXPECT_NE(withheld.exitCode, 0) << withheld.out;
  EXPECT_NE(withheld.err.find("permission denied"), std::string::npos) << withheld.err;

  // Profile readonly (index 0): email masked instead of withheld (masking names its tables).
  mustAdmin({"patch", "databasetarget", target_, "--type=json", "-p",
             R"([{"op":"replace","path":"/spec/profiles/0/grants/0","value":{
                  "schema":"public","tables":["customers","orders"],"privileges":["SELECT"],
                  "excludeColumns":{"customers":["phone","card_number"]},
                  "maskColumns":{"customers":{"email":"email"}}}}])"});
  EXPECT_TRUE(waitFor(
      [&] {
        auto r = run("SELECT email FROM customers WHERE id = 1");
        return r.exitCode == 0 && r.out == "a***@example.com\n";
      },
      20s, 200ms))
      << "the changed profile was not re-applied: " << outputs.back() << "\n"
      << get("live").dump(2);
  // Same credentials: the Secret alice holds was not re-issued.
  const Issued again = aliceReadsSecret("live");
  EXPECT_EQ(again.password, issued.password);
  auto base = run("SELECT email FROM public.customers");
  EXPECT_NE(base.exitCode, 0) << base.out;
  auto phone = run("SELECT phone FROM customers");
  EXPECT_NE(phone.exitCode, 0) << "phone is still withheld: " << phone.out;
  auto reapplied =
      kubectl(env_, "admin",
              {"get", "events", "-n", ns_, "--field-selector",
               "involvedObject.name=live,reason=DatabaseProfileReapplied", "-o", "json"});
  ASSERT_EQ(reapplied.exitCode, 0) << reapplied.err;
  EXPECT_FALSE(json::parse(reapplied.out)["items"].empty()) << "no DatabaseProfileReapplied Event";
  EXPECT_EQ(phase("live"), "Active");

  // Profile readonly removed from the target: access revoked, the database user dropped.
  mustAdmin({"patch", "databasetarget", target_, "--type=json", "-p",
             R"([{"op":"remove","path":"/spec/profiles/0"}])"});
  ASSERT_TRUE(waitPhase("live", "Revoked", 30s)) << get("live").dump(2);
  const auto st = get("live")["status"];
  EXPECT_NE(st.value("message", "").find("no longer has profile readonly"), std::string::npos)
      << st.dump(2);
  EXPECT_FALSE(roleExists(issued.username));
  EXPECT_NE(
      kubectl(env_, "admin", {"get", "secret", secretName("live"), "-n", ns_}).err.find("NotFound"),
      std::string::npos);
  EXPECT_TRUE(managedRoleBindings().empty()) << managedRoleBindings().dump(2);
  auto login = run("SELECT 1");
  EXPECT_NE(login.exitCode, 0) << "a login after revocation succeeded";
  auto changed = kubectl(env_, "admin",
                         {"get", "events", "-n", ns_, "--field-selector",
                          "involvedObject.name=live,reason=DatabaseTargetChanged", "-o", "json"});
  ASSERT_EQ(changed.exitCode, 0) << changed.err;
  const auto items = json::parse(changed.out)["items"];
  ASSERT_FALSE(items.empty()) << "no DatabaseTargetChanged Event";
  EXPECT_EQ(items[0]["type"], "Warning");
  ASSERT_NO_FATAL_FAILURE(expectNoPasswordAnywhere(outputs));
}

// PostgreSQL stopped just before expiry and started about 60 s later: alice's RoleBindings and
// the Secret go on time anyway; meanwhile the request shows DatabaseRevocationPending (True,
// with the error, no secret) and a Warning Event, and stays Active; the role is dropped soon
// after the database is back (the retry backoff is capped at 30 s), and only then is the
// request Expired.
TEST_F(DatabaseE2eTest, DatabaseDownAtExpiryRevokesKubernetesOnTimeAndTheRoleWhenBack) {
  const char* pgCtl = std::getenv("KUBEGRANT_PG_CTL");
  ASSERT_TRUE(pgCtl && *pgCtl) << "KUBEGRANT_PG_CTL (DIR/pg-ctl from up.sh) is not set";
  ASSERT_NO_FATAL_FAILURE(request("down", "readonly", "25s"));
  ASSERT_NO_FATAL_FAILURE(approveUntilActive("down"));
  const Issued issued = aliceReadsSecret("down");
  ASSERT_TRUE(roleExists(issued.username));
  const auto expiresAt = parseRfc3339(get("down")["status"].value("expiresAt", ""));
  ASSERT_TRUE(expiresAt);

  // Down 3 s before expiry.
  std::this_thread::sleep_until(*expiresAt - 3s);
  struct Restart {
    const char* ctl;
    bool down = false;
    ~Restart() {
      if (down) runCommand({ctl, "start"});
    }
  } restart{pgCtl};
  auto stopped = runCommand({pgCtl, "stop"});
  ASSERT_EQ(stopped.exitCode, 0) << stopped.err;
  restart.down = true;
  const auto downAt = std::chrono::system_clock::now();

  // The Kubernetes parts go on time.
  EXPECT_TRUE(waitFor(
      [&] {
        return managedRoleBindings().empty() &&
               kubectl(env_, "admin", {"get", "secret", secretName("down"), "-n", ns_}).exitCode !=
                   0;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(*expiresAt + 5s -
                                                            std::chrono::system_clock::now()),
      100ms))
      << "RoleBindings or Secret not gone within 5 s of expiry: " << managedRoleBindings().dump(2);
  auto condition = [&]() -> json {
    auto j = get("down");
    for (const auto& c : j["status"].value("conditions", json::array())) {
      if (c.value("type", "") == "DatabaseRevocationPending") return c;
    }
    return json();
  };
  ASSERT_TRUE(waitFor([&] { return condition().value("status", "") == "True"; }, 15s))
      << get("down").dump(2);
  EXPECT_FALSE(condition().value("message", "").empty());
  EXPECT_EQ(condition().dump().find(issued.password), std::string::npos);
  auto events =
      kubectl(env_, "admin",
              {"get", "events", "-n", ns_, "--field-selector",
               "involvedObject.name=down,reason=DatabaseRevocationPending", "-o", "json"});
  ASSERT_EQ(events.exitCode, 0) << events.err;
  const auto items = json::parse(events.out)["items"];
  ASSERT_FALSE(items.empty()) << "no DatabaseRevocationPending Event";
  EXPECT_EQ(items[0]["type"], "Warning");
  EXPECT_EQ(phase("down"), "Active") << "not Expired before the role is gone";

  // Back after about 60 s.
  std::this_thread::sleep_until(downAt + 60s);
  EXPECT_EQ(phase("down"), "Active") << "Expired while the role could not be verified gone";
  auto started = runCommand({pgCtl, "start"});
  ASSERT_EQ(started.exitCode, 0) << started.err;
  restart.down = false;
  const auto upAt = std::chrono::system_clock::now();
  EXPECT_TRUE(waitFor([&] { return !roleExists(issued.username); }, 35s, 250ms))
      << "the role was not dropped within 35 s of the database's return";
  const auto dropped = std::chrono::system_clock::now();
  ASSERT_TRUE(waitPhase("down", "Expired", 10s)) << get("down").dump(2);
  std::cerr << "database back -> role dropped: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(dropped - upAt).count()
            << " ms\n";
  if (auto c = condition(); c.is_object()) {
    EXPECT_EQ(c.value("status", ""), "False");
  }
  ASSERT_NO_FATAL_FAILURE(expectNoPasswordAnywhere({}));
}

// The operator killed (SIGKILL) as soon as the request's role shows in pg_roles, i.e. between
// CREATE ROLE and (usually) the status write that makes the request Active: after a restart the
// request reaches a consistent end (Active with its whole bundle, then Expired with nothing
// left) and no kg_ role is left behind.
TEST_F(DatabaseE2eTest, OperatorKilledAfterCreateRoleLeavesNoOrphanRole) {
  const std::string kgRoles =
      "SELECT coalesce(string_agg(rolname, ',' ORDER BY rolname), '') FROM pg_roles "
      "WHERE rolname LIKE 'kg\\_%'";
  const std::string before = adminQuery(kgRoles);
  ASSERT_NO_FATAL_FAILURE(request("crash", "readonly", "30s"));
  ASSERT_TRUE(waitPhase("crash", "Pending")) << get("crash").dump(2);
  auto approved = kubectl(
      env_, "bob",
      {"patch", "areq", "crash", "-n", ns_, "--subresource=status", "--type=json", "-p", kApprove});
  ASSERT_EQ(approved.exitCode, 0) << approved.err;
  ASSERT_TRUE(waitFor([&] { return adminQuery(kgRoles) != before; }, 20s, 10ms))
      << "no role was created";
  EXPECT_EQ(harness_.stopOperator(SIGKILL), -SIGKILL);
  const std::string phaseAtKill = phase("crash");
  std::cerr << "operator killed with the role in pg_roles; request phase then: '" << phaseAtKill
            << "'\n";
  ASSERT_NO_FATAL_FAILURE(harness_.startOperator());

  // Consistent: Active with the whole bundle (alice can read the Secret and log in with it).
  ASSERT_TRUE(waitPhase("crash", "Active", 30s)) << get("crash").dump(2);
  const Issued issued = aliceReadsSecret("crash");
  auto login = psql(issued, "SELECT id, name FROM customers");
  EXPECT_EQ(login.exitCode, 0) << login.err;
  // Then Expired with nothing left: exactly the kg_ roles there were before.
  ASSERT_TRUE(waitPhase("crash", "Expired", 60s)) << get("crash").dump(2);
  EXPECT_TRUE(waitFor([&] { return adminQuery(kgRoles) == before; }, 10s))
      << "orphan roles: " << adminQuery(kgRoles) << " (before: " << before << ")";
  EXPECT_TRUE(managedRoleBindings().empty());
  ASSERT_NO_FATAL_FAILURE(expectNoPasswordAnywhere({login.out + login.err}));
}

}  // namespace
}  // namespace kubegrant::e2e
