// Notifications as a receiver sees them (issue 14): the real kubegrant-operator binary runs with
// --notify-url pointing at an HTTP receiver in this test (loopback) and --notify-secret-file;
// alice and bob act through kubectl against the real API server. The receiver checks every
// signature as a real one would, and answers 500 when a test tells it to.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "operator/common/clock.h"
#include "operator/notify/signing.h"
#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"
#include "tests/unit/kube/scripted_server.h"

namespace kubegrant::e2e {
namespace {

using nlohmann::json;
using testing::kubectl;
using testing::readFile;
using testing::TestEnv;
using testing::uniqueName;
using testing::waitFor;
using namespace std::chrono_literals;

const std::string kKey = "e2e-notify-key-0123456789abcdef0123456789";
const std::string kApprove =
    R"([{"op":"add","path":"/status/approvals/-","value":{"decision":"Approve","comment":"ok"}}])";

// One POST as the receiver saw it.
struct Received {
  std::string id, event;
  json body;
  bool signatureValid = false;
  int answered = 200;
};

// A webhook receiver: verifies each POST's signature with the shared key and records it;
// answers 500 to the first delivery of the events in `failOnce`, and to everything while
// `down` is set.
class Receiver {
 public:
  Receiver()
      : server_([this](const kube::testing::HttpRequest& r, kube::testing::Connection& c) {
          return c.respond(receive(r), "{}", {{"Content-Type", "application/json"}});
        }) {}

  std::string url() const { return server_.url() + "/hooks/kubegrant"; }

  void failOnce(const std::string& event) {
    std::lock_guard<std::mutex> g(mu_);
    failOnce_.insert(event);
  }
  void setDown(bool down) {
    std::lock_guard<std::mutex> g(mu_);
    down_ = down;
  }
  std::vector<Received> all() const {
    std::lock_guard<std::mutex> g(mu_);
    return received_;
  }
  // Accepted (200) POSTs about request uid `uid`, in arrival order.
  std::vector<Received> accepted(const std::string& uid) const {
    std::vector<Received> out;
    for (auto& r : all()) {
      if (r.answered == 200 && r.body.contains("request") &&
          r.body["request"].value("uid", "") == uid)
        out.push_back(r);
    }
    return out;
  }
  std::vector<std::string> acceptedEvents(const std::string& uid) const {
    std::vector<std::string> out;
    for (const auto& r : accepted(uid)) out.push_back(r.event);
    return out;
  }

 private:
  int receive(const kube::testing::HttpRequest& r) {
    auto header = [&](std::string name) {
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      auto it = r.headers.find(name);
      return it == r.headers.end() ? std::string() : it->second;
    };
    Received got;
    got.id = header(notify::kIdHeader);
    got.event = header(notify::kEventHeader);
    got.body = json::parse(r.body, nullptr, false);
    got.signatureValid = static_cast<bool>(
        notify::verifySignature(kKey, header(notify::kTimestampHeader), r.body,
                                header(notify::kSignatureHeader), WallClock::now()));
    std::lock_guard<std::mutex> g(mu_);
    if (down_) {
      got.answered = 500;
    } else if (failOnce_.erase(got.event) != 0) {
      got.answered = 500;
    } else if (!got.signatureValid) {
      got.answered = 401;  // what a real receiver does with a forgery
    }
    received_.push_back(got);
    return got.answered;
  }

  mutable std::mutex mu_;
  std::set<std::string> failOnce_;
  bool down_ = false;
  std::vector<Received> received_;
  kube::testing::ScriptedServer server_;  // last: stopped before the state it uses goes
};

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = testing::requireEnv();
    ASSERT_TRUE(e) << "run tests/controlplane/up.sh DIR and source DIR/env";
    env_ = *e;
    keyFile_ = (std::filesystem::temp_directory_path() / uniqueName("kg-notify-key")).string();
    std::ofstream(keyFile_) << kKey << "\n";
    ASSERT_NO_FATAL_FAILURE(harness_.setUp(env_, "kubegrant-e2e-notify",
                                           {"--notify-url", receiver_.url(), "--notify-secret-file",
                                            keyFile_, "--notify-expiring-lead", "20s"}));
    ns_ = uniqueName("nt");
    policy_ = ns_ + "-policy";
    mustAdmin({"create", "namespace", ns_});
    mustAdmin({"apply", "-f", "-"}, fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessPolicy
metadata:
  name: {}
spec:
  requesters: {{groups: [payments-devs]}}
  namespaces: [{}]
  roles: [{{kind: ClusterRole, name: view}}]
  defaultDuration: 1m
  maxDuration: 1h
  approval:
    approvers: {{groups: [payments-leads]}}
    required: 1
)",
                                                policy_, ns_));
  }

  void TearDown() override {
    harness_.unregisterWebhooks();
    if (!ns_.empty()) {
      kubectl(env_, "admin",
              {"delete", "accessrequests", "--all", "-n", ns_, "--wait=true", "--timeout=20s"});
    }
    EXPECT_EQ(harness_.stopOperator(SIGTERM), 0) << "the operator must exit 0 on SIGTERM";
    if (!ns_.empty()) {
      kubectl(env_, "admin", {"delete", "accesspolicy", policy_, "--ignore-not-found"});
      kubectl(env_, "admin", {"delete", "namespace", ns_, "--wait=false"});
    }
    std::filesystem::remove(keyFile_);
    if (HasFailure()) {
      std::cerr << "---- received ----\n";
      for (const auto& r : receiver_.all())
        std::cerr << r.answered << " " << r.id << " " << r.body.dump() << "\n";
      std::cerr << "---- operator log ----\n"
                << readFile(harness_.logPath()).substr(0, 30000) << "\n";
    } else if (!harness_.dir().empty()) {
      std::filesystem::remove_all(harness_.dir());
    }
  }

  void mustAdmin(std::vector<std::string> args, std::string_view input = {}) {
    auto r = kubectl(env_, "admin", args, input);
    ASSERT_EQ(r.exitCode, 0) << fmt::format("kubectl {}: {}", fmt::join(args, " "), r.err);
  }

  // alice asks for view in the test namespace; returns the request's uid.
  std::string request(const std::string& name, const std::string& duration) {
    auto r = kubectl(env_, "alice", {"apply", "-f", "-"},
                     fmt::format(R"(apiVersion: kubegrant.io/v1alpha1
kind: AccessRequest
metadata: {{name: {}, namespace: {}}}
spec:
  policy: {}
  duration: {}
  reason: "e2e: orders stuck"
  ticket: INC-4211
  roles: [{{kind: ClusterRole, name: view}}]
)",
                                 name, ns_, policy_, duration));
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return getAccessRequest(env_, ns_, name)["metadata"].value("uid", "");
  }

  bool approveAs(const std::string& user, const std::string& name, std::string* err = nullptr) {
    auto r = kubectl(
        env_, user,
        {"patch", "areq", name, "-n", ns_, "--subresource=status", "--type=json", "-p", kApprove});
    if (err) *err = r.err;
    return r.exitCode == 0;
  }

  std::string phase(const std::string& name) { return accessRequestPhase(env_, ns_, name); }
  bool waitPhase(const std::string& name, const std::string& want,
                 std::chrono::milliseconds timeout = 20s) {
    return waitFor([&] { return phase(name) == want; }, timeout, 100ms);
  }
  bool waitEvents(const std::string& uid, const std::vector<std::string>& want,
                  std::chrono::milliseconds timeout = 20s) {
    return waitFor([&] { return receiver_.acceptedEvents(uid) == want; }, timeout, 100ms);
  }

  TestEnv env_;
  Receiver receiver_;
  std::string keyFile_, ns_, policy_;
  testing::OperatorHarness harness_{{KG_SOURCE_DIR, KG_OPERATOR_BIN, KG_CERTS_BIN}};
};

TEST_F(NotifyTest, EveryLifecycleEventArrivesSignedInOrderOnceEachWithStableIds) {
  receiver_.failOnce("approved");  // the receiver has a bad moment: the operator retries
  const std::string uid = request("debug", "25s");
  ASSERT_FALSE(uid.empty());
  ASSERT_TRUE(waitEvents(uid, {"created"}))
      << ::testing::PrintToString(receiver_.acceptedEvents(uid));
  ASSERT_TRUE(approveAs("bob", "debug"));
  ASSERT_TRUE(waitPhase("debug", "Active"));
  // Active for 25 s with a 20 s lead: "expiring" comes about 5 s in, "ended" at expiry.
  ASSERT_TRUE(waitEvents(uid, {"created", "approved", "active", "expiring", "ended"}, 60s))
      << ::testing::PrintToString(receiver_.acceptedEvents(uid));

  // Every POST verified against the shared key, and its id is "<uid>.<event>".
  for (const auto& r : receiver_.all()) {
    EXPECT_TRUE(r.signatureValid) << r.id;
    EXPECT_EQ(r.id, fmt::format("{}.{}", r.body["request"].value("uid", "?"), r.event));
  }
  // The 500 was retried with the same id, and the receiver accepted it the second time.
  std::vector<int> approvedAnswers;
  for (const auto& r : receiver_.all()) {
    if (r.id == uid + ".approved") approvedAnswers.push_back(r.answered);
  }
  EXPECT_EQ(approvedAnswers, (std::vector<int>{500, 200}));

  const auto accepted = receiver_.accepted(uid);
  const json created = accepted[0].body;
  EXPECT_EQ(created["requester"], "alice");
  EXPECT_EQ(created["policy"], policy_);
  EXPECT_EQ(created["namespace"], ns_);
  EXPECT_EQ(created["ticket"], "INC-4211");
  EXPECT_EQ(created["approvers"]["groups"], json::array({"payments-leads"}));
  EXPECT_NE(created["text"].get<std::string>().find("alice requests ClusterRole view"),
            std::string::npos)
      << created["text"];
  EXPECT_EQ(accepted[1].body["approvers"]["approvedBy"], json::array({"bob"}));
  EXPECT_EQ(accepted[4].body["outcome"], "expired");
  EXPECT_EQ(accepted[4].body["phase"], "Expired");
  // Nothing of the key, the seals or the URL is in any body.
  for (const auto& r : accepted) {
    const std::string text = r.body.dump();
    EXPECT_EQ(text.find(kKey), std::string::npos);
    EXPECT_EQ(text.find("v1."), std::string::npos) << text;
    EXPECT_EQ(text.find("/hooks/kubegrant"), std::string::npos);
  }
  // Delivered events are recorded on the request (sealed), so a restart does not repeat them.
  ASSERT_TRUE(waitFor(
      [&] {
        auto a =
            getAccessRequest(env_, ns_, "debug")["metadata"].value("annotations", json::object());
        return a.value("kubegrant.io/notified", "")
            .starts_with("active,approved,created,ended,expiring;v1.");
      },
      10s))
      << getAccessRequest(env_, ns_, "debug")["metadata"].dump();
}

TEST_F(NotifyTest, AnActiveNotificationNotDeliveredBeforeTheOperatorDiedIsDeliveredAfterRestart) {
  const std::string uid = request("crash", "10m");
  ASSERT_TRUE(waitEvents(uid, {"created"}));
  // From now on the receiver fails: approved and active are owed when the operator is killed.
  receiver_.setDown(true);
  ASSERT_TRUE(approveAs("bob", "crash"));
  ASSERT_TRUE(waitPhase("crash", "Active"));
  // The operator tried (and is retrying) "approved"; "active" waits behind it (in order).
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& r : receiver_.all())
          if (r.id == uid + ".approved" && r.answered == 500) return true;
        return false;
      },
      20s));
  ASSERT_EQ(harness_.stopOperator(SIGKILL), -SIGKILL);
  receiver_.setDown(false);
  ASSERT_NO_FATAL_FAILURE(harness_.startOperator());
  ASSERT_TRUE(waitEvents(uid, {"created", "approved", "active"}, 30s))
      << ::testing::PrintToString(receiver_.acceptedEvents(uid));
  // "created" was delivered and recorded before the crash: it is not sent again.
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(receiver_.acceptedEvents(uid),
            (std::vector<std::string>{"created", "approved", "active"}));
}

TEST_F(NotifyTest, AReceiverDownForThirtySecondsGetsEverythingAfterwardsInOrder) {
  // The receiver answers 500 to everything for 30 s, while the whole life of a request
  // happens: created, approved, active, and revoked early (ended).
  receiver_.setDown(true);
  const auto downSince = std::chrono::steady_clock::now();
  const std::string uid = request("outage", "10m");
  ASSERT_FALSE(uid.empty());
  ASSERT_TRUE(approveAs("bob", "outage"));
  ASSERT_TRUE(waitPhase("outage", "Active"));
  auto r = kubectl(
      env_, "alice",
      {"patch", "areq", "outage", "-n", ns_, "--type=merge", "-p", R"({"spec":{"revoke":true}})"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitPhase("outage", "Revoked"));
  std::this_thread::sleep_for(30s - (std::chrono::steady_clock::now() - downSince));
  // It was tried, more than once, and nothing was accepted meanwhile.
  int refused = 0;
  for (const auto& x : receiver_.all())
    if (x.id == uid + ".created" && x.answered == 500) ++refused;
  EXPECT_GE(refused, 3) << "the operator must keep retrying during the outage";
  EXPECT_TRUE(receiver_.acceptedEvents(uid).empty());

  receiver_.setDown(false);
  // The retry backoff is capped (1 s doubling, full jitter over its upper half), so the next
  // attempt comes within about 33 s of the receiver's return; the rest follow in order.
  ASSERT_TRUE(waitEvents(uid, {"created", "approved", "active", "ended"}, 75s))
      << ::testing::PrintToString(receiver_.acceptedEvents(uid));
  const auto accepted = receiver_.accepted(uid);
  for (const auto& a : accepted) EXPECT_TRUE(a.signatureValid) << a.id;
  EXPECT_EQ(accepted[1].body["approvers"]["approvedBy"], json::array({"bob"}));
  EXPECT_EQ(accepted[3].body["outcome"], "revoked");
  EXPECT_EQ(accepted[3].body["phase"], "Revoked");
  // Once each: nothing is accepted twice after the receiver is back.
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(receiver_.acceptedEvents(uid),
            (std::vector<std::string>{"created", "approved", "active", "ended"}));
}

TEST_F(NotifyTest, ASelfApprovalAttemptThroughKubectlIsASignedSecurityNotification) {
  const std::string uid = request("self", "10m");
  ASSERT_TRUE(waitEvents(uid, {"created"}));
  std::string err;
  ASSERT_FALSE(approveAs("alice", "self", &err));
  EXPECT_NE(err.find("self-approval is not allowed"), std::string::npos) << err;
  Received security;
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& r : receiver_.all()) {
          if (r.event == "security" && r.body["request"].value("name", "") == "self" &&
              r.body["request"].value("namespace", "") == ns_) {
            security = r;
            return true;
          }
        }
        return false;
      },
      20s));
  EXPECT_TRUE(security.signatureValid);
  EXPECT_EQ(security.answered, 200);
  EXPECT_EQ(security.body["rule"], "self-approval");
  EXPECT_EQ(security.body["user"]["username"], "alice");
  EXPECT_EQ(security.body["policy"], policy_);
  EXPECT_TRUE(security.id.ends_with(".security")) << security.id;
  EXPECT_NE(security.body["text"].get<std::string>().find("alice was refused (self-approval)"),
            std::string::npos)
      << security.body["text"];
  // The audit line names the user and the rule.
  bool audited = false;
  std::istringstream in(readFile(harness_.logPath()));
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("event", "") != "refused") continue;
    audited = audited || (j.value("rule", "") == "self-approval" &&
                          j["user"].value("username", "") == "alice");
  }
  EXPECT_TRUE(audited);
}

}  // namespace
}  // namespace kubegrant::e2e
