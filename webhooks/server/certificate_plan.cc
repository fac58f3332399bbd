#include "webhooks/server/certificate_plan.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

namespace kubegrant::webhooks {

namespace {

bool isIpAddress(const std::string& s) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::set<std::string> asSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

void splitHosts(const std::vector<std::string>& hosts, CertificateSettings& into) {
  for (const auto& h : hosts) {
    if (h.empty()) continue;
    (isIpAddress(h) ? into.ipAddresses : into.dnsNames).push_back(h);
  }
}

ObservedCertificates observe(const CertificateSecretData& data) {
  ObservedCertificates out;
  const auto cas = splitPemCertificates(data.caCrt);
  for (const auto& pem : cas) {
    if (auto info = inspectCertificate(pem)) out.cas.push_back(std::move(*info));
  }
  out.caKeyMatches = !cas.empty() && keyMatchesCertificate(cas.front(), data.caKey);
  if (auto leaf = inspectCertificate(data.tlsCrt)) {
    out.leaf = std::move(*leaf);
    out.leafKeyMatches = keyMatchesCertificate(data.tlsCrt, data.tlsKey);
    out.leafSignedByFirstCa = !cas.empty() && signedBy(data.tlsCrt, cas.front());
  }
  return out;
}

const char* toString(RotationStep step) {
  switch (step) {
    case RotationStep::None:
      return "none";
    case RotationStep::CreateAll:
      return "create";
    case RotationStep::RotateCa:
      return "ca";
    case RotationStep::IssueLeaf:
      return "serving";
    case RotationStep::DropExpiredCas:
      return "drop-expired-ca";
  }
  return "unknown";
}

TimePoint renewAt(const CertificateInfo& cert) {
  return cert.notBefore + (cert.notAfter - cert.notBefore) * 2 / 3;
}

RotationPlan planRotation(const ObservedCertificates& o, const CertificateSettings& settings,
                          TimePoint now) {
  auto plan = [](RotationStep step, std::string reason) {
    return RotationPlan{step, std::move(reason), {}};
  };
  if (o.cas.empty()) return plan(RotationStep::CreateAll, "no CA certificate");
  const CertificateInfo& ca = o.cas.front();
  if (!ca.isCa) return plan(RotationStep::CreateAll, "the first certificate of ca.crt is no CA");
  if (!o.caKeyMatches) return plan(RotationStep::CreateAll, "ca.key does not match ca.crt");
  if (ca.notAfter <= now) return plan(RotationStep::CreateAll, "the CA expired");
  if (now >= renewAt(ca)) return plan(RotationStep::RotateCa, "the CA reached 2/3 of its lifetime");

  if (!o.leaf) return plan(RotationStep::IssueLeaf, "no serving certificate");
  const CertificateInfo& leaf = *o.leaf;
  if (!o.leafKeyMatches) return plan(RotationStep::IssueLeaf, "tls.key does not match tls.crt");
  if (!o.leafSignedByFirstCa) {
    return plan(RotationStep::IssueLeaf, "the serving certificate is not signed by the current CA");
  }
  if (asSet(leaf.dnsNames) != asSet(settings.dnsNames) ||
      asSet(leaf.ipAddresses) != asSet(settings.ipAddresses)) {
    return plan(RotationStep::IssueLeaf, "the serving certificate names other hosts");
  }
  if (leaf.notAfter <= now) return plan(RotationStep::IssueLeaf, "the serving certificate expired");
  if (leaf.notAfter - now > settings.lifetime + std::chrono::seconds(1)) {
    return plan(RotationStep::IssueLeaf, "the serving certificate outlives the lifetime asked for");
  }
  if (now >= renewAt(leaf)) {
    return plan(RotationStep::IssueLeaf, "the serving certificate reached 2/3 of its lifetime");
  }
  TimePoint next = std::min(renewAt(ca), renewAt(leaf));
  for (std::size_t i = 1; i < o.cas.size(); ++i) {
    if (o.cas[i].notAfter <= now) {
      return plan(RotationStep::DropExpiredCas, "an earlier CA in ca.crt expired");
    }
    next = std::min(next, o.cas[i].notAfter);
  }
  return RotationPlan{RotationStep::None, {}, next};
}

std::string caBundleWith(const std::string& first, const std::string& bundle, TimePoint now) {
  std::string out;
  std::string firstSha;
  if (!first.empty()) {
    const auto certs = splitPemCertificates(first);
    out = certs.empty() ? first : certs.front();
    if (auto info = inspectCertificate(first)) firstSha = info->sha256;
  }
  for (const auto& pem : splitPemCertificates(bundle)) {
    auto info = inspectCertificate(pem);
    if (!info || info->notAfter <= now || info->sha256 == firstSha) continue;
    out += pem;
  }
  return out;
}

}  // namespace kubegrant::webhooks
