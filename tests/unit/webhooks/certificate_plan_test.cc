// The self-managed certificate's decisions (certificate_plan.h): when to renew what, and the CA
// bundle during a CA rotation. Pure; real certificates where the decision reads them.

#include "webhooks/server/certificate_plan.h"

#include <gtest/gtest.h>

namespace kubegrant::webhooks {
namespace {

using namespace std::chrono_literals;

const TimePoint kT0 = WallClock::from_time_t(1'800'000'000);

CertificateSettings settings() {
  CertificateSettings s;
  s.dnsNames = {"kubegrant-webhook.kg.svc"};
  s.ipAddresses = {"127.0.0.1"};
  s.lifetime = 90s;
  s.caLifetime = 900s;
  return s;
}

CertificateInfo cert(TimePoint notBefore, std::chrono::seconds lifetime, bool isCa) {
  CertificateInfo c;
  c.notBefore = notBefore;
  c.notAfter = notBefore + lifetime;
  c.isCa = isCa;
  if (!isCa) {
    c.dnsNames = {"kubegrant-webhook.kg.svc"};
    c.ipAddresses = {"127.0.0.1"};
  }
  return c;
}

// A healthy Secret: CA and serving certificate both issued at kT0.
ObservedCertificates healthy() {
  ObservedCertificates o;
  o.cas = {cert(kT0, 900s, true)};
  o.caKeyMatches = true;
  o.leaf = cert(kT0, 90s, false);
  o.leafKeyMatches = true;
  o.leafSignedByFirstCa = true;
  return o;
}

TEST(CertificatePlan, RenewsAtTwoThirdsOfTheLifetime) {
  EXPECT_EQ(renewAt(cert(kT0, 90s, false)), kT0 + 60s);
  EXPECT_EQ(renewAt(cert(kT0 - 30s, 330s, true)), kT0 + 190s);
}

TEST(CertificatePlan, NothingToDoUntilTheServingCertificateIsDue) {
  auto plan = planRotation(healthy(), settings(), kT0 + 10s);
  EXPECT_EQ(plan.step, RotationStep::None) << plan.reason;
  EXPECT_EQ(plan.recheckAt, kT0 + 60s);
  EXPECT_EQ(planRotation(healthy(), settings(), kT0 + 59s).step, RotationStep::None);
  auto due = planRotation(healthy(), settings(), kT0 + 60s);
  EXPECT_EQ(due.step, RotationStep::IssueLeaf);
  EXPECT_NE(due.reason.find("2/3"), std::string::npos) << due.reason;
}

TEST(CertificatePlan, AnEmptyOrBrokenSecretGetsANewCaAndCertificate) {
  EXPECT_EQ(planRotation({}, settings(), kT0).step, RotationStep::CreateAll);
  auto noKey = healthy();
  noKey.caKeyMatches = false;
  EXPECT_EQ(planRotation(noKey, settings(), kT0).step, RotationStep::CreateAll);
  auto notCa = healthy();
  notCa.cas[0].isCa = false;
  EXPECT_EQ(planRotation(notCa, settings(), kT0).step, RotationStep::CreateAll);
  EXPECT_EQ(planRotation(healthy(), settings(), kT0 + 900s).step, RotationStep::CreateAll);
}

TEST(CertificatePlan, TheCaRotatesFirstAndTheServingCertificateFollowsIt) {
  // At 2/3 of the CA's life (600s) the CA rotates, even though the leaf is also due.
  auto o = healthy();
  o.leaf = cert(kT0 + 590s, 90s, false);
  EXPECT_EQ(planRotation(o, settings(), kT0 + 600s).step, RotationStep::RotateCa);
  // The new CA goes first: the leaf, signed by the old one, is re-issued from the new one.
  o.cas.insert(o.cas.begin(), cert(kT0 + 600s, 900s, true));
  o.leafSignedByFirstCa = false;
  auto plan = planRotation(o, settings(), kT0 + 601s);
  EXPECT_EQ(plan.step, RotationStep::IssueLeaf);
  EXPECT_NE(plan.reason.find("current CA"), std::string::npos) << plan.reason;
  // With the new leaf, the old CA stays until it expires, then is dropped.
  o.leaf = cert(kT0 + 601s, 90s, false);
  o.leafSignedByFirstCa = true;
  auto waiting = planRotation(o, settings(), kT0 + 650s);
  EXPECT_EQ(waiting.step, RotationStep::None);
  EXPECT_EQ(waiting.recheckAt, kT0 + 661s) << "the new leaf's renewal comes first";
  o.leaf = cert(kT0 + 890s, 90s, false);
  EXPECT_EQ(planRotation(o, settings(), kT0 + 895s).recheckAt, kT0 + 900s) << "old CA's expiry";
  EXPECT_EQ(planRotation(o, settings(), kT0 + 900s).step, RotationStep::DropExpiredCas);
}

TEST(CertificatePlan, AServingCertificateForOtherHostsOrTooLongIsReissued) {
  auto other = healthy();
  other.leaf->dnsNames = {"old-name.kg.svc"};
  EXPECT_EQ(planRotation(other, settings(), kT0 + 1s).step, RotationStep::IssueLeaf);
  auto s = settings();
  s.lifetime = 30s;  // the flag was lowered: a 90s certificate is not kept for 60s
  s.caLifetime = 900s;
  EXPECT_EQ(planRotation(healthy(), s, kT0 + 1s).step, RotationStep::IssueLeaf);
  auto badKey = healthy();
  badKey.leafKeyMatches = false;
  EXPECT_EQ(planRotation(badKey, settings(), kT0 + 1s).step, RotationStep::IssueLeaf);
  auto none = healthy();
  none.leaf.reset();
  EXPECT_EQ(planRotation(none, settings(), kT0 + 1s).step, RotationStep::IssueLeaf);
}

TEST(CertificatePlan, HostsSplitIntoDnsNamesAndIpAddresses) {
  CertificateSettings s;
  splitHosts({"svc", "svc.ns.svc", "127.0.0.1", "::1", ""}, s);
  EXPECT_EQ(s.dnsNames, (std::vector<std::string>{"svc", "svc.ns.svc"}));
  EXPECT_EQ(s.ipAddresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

// --- with real certificates ---------------------------------------------------------------

TEST(CertificateBundle, ANewCaGoesFirstAndExpiredOrRepeatedOnesAreDropped) {
  auto oldCa = issueCa("old", 3600s);
  auto newCa = issueCa("new", 3600s);
  ASSERT_TRUE(oldCa && newCa);
  const TimePoint now = WallClock::now();
  std::string bundle = caBundleWith(newCa->certPem, oldCa->certPem, now);
  auto certs = splitPemCertificates("junk\n" + bundle + "trailer");
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[0], newCa->certPem);
  EXPECT_EQ(certs[1], oldCa->certPem);
  // The same CA again is not repeated; an expired one is dropped.
  EXPECT_EQ(splitPemCertificates(caBundleWith(newCa->certPem, bundle, now)).size(), 2u);
  EXPECT_EQ(caBundleWith(newCa->certPem, bundle, now + 2h), newCa->certPem);
  EXPECT_EQ(caBundleWith({}, bundle, now + 2h), "");
}

TEST(CertificateBundle, ObserveReadsWhatTheSecretHolds) {
  auto ca = issueCa("ca", 900s);
  ASSERT_TRUE(ca);
  auto leaf = issueServingCertificate(*ca, {"kubegrant-webhook.kg.svc"}, {"127.0.0.1"}, 90s);
  ASSERT_TRUE(leaf) << leaf.error().message;
  auto other = issueCa("other", 900s);
  ASSERT_TRUE(other);

  auto o = observe({ca->certPem + other->certPem, ca->keyPem, leaf->certPem, leaf->keyPem});
  ASSERT_EQ(o.cas.size(), 2u);
  EXPECT_TRUE(o.cas[0].isCa);
  EXPECT_TRUE(o.caKeyMatches);
  ASSERT_TRUE(o.leaf);
  EXPECT_FALSE(o.leaf->isCa);
  EXPECT_EQ(o.leaf->dnsNames, (std::vector<std::string>{"kubegrant-webhook.kg.svc"}));
  EXPECT_EQ(o.leaf->ipAddresses, (std::vector<std::string>{"127.0.0.1"}));
  EXPECT_EQ(o.leaf->notAfter - o.leaf->notBefore, 99s) << "lifetime plus a 9s backdate";
  EXPECT_TRUE(o.leafKeyMatches);
  EXPECT_TRUE(o.leafSignedByFirstCa);
  EXPECT_EQ(planRotation(o, settings(), WallClock::now()).step, RotationStep::None);

  // The other CA first: the leaf is not its; the wrong keys do not match.
  auto swapped = observe({other->certPem + ca->certPem, ca->keyPem, leaf->certPem, ca->keyPem});
  EXPECT_FALSE(swapped.caKeyMatches);
  EXPECT_FALSE(swapped.leafKeyMatches);
  EXPECT_FALSE(swapped.leafSignedByFirstCa);
  EXPECT_FALSE(observe({}).leaf);
}

TEST(CertificateBundle, BackdateIsATenthOfTheLifetimeAtMostFiveMinutes) {
  EXPECT_EQ(backdateFor(8s), 0s);
  EXPECT_EQ(backdateFor(90s), 9s);
  EXPECT_EQ(backdateFor(std::chrono::hours(24 * 90)), 300s);
}

}  // namespace
}  // namespace kubegrant::webhooks
