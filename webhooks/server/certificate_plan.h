#pragma once

// What the self-managed webhook certificate needs next (self_managed_certificate.h applies
// it). Pure: the Secret's contents in, one step out, no I/O.
//
// The Secret (type kubernetes.io/tls) holds
//   ca.crt   the CA bundle the webhook configurations' caBundle carries: the CA that signs
//            first, then older CAs that have not expired (an overlap while the CA rotates)
//   ca.key   the key of the first CA
//   tls.crt  the serving certificate, tls.key its key
//
// Steps, one at a time (the caller patches caBundle to ca.crt between two steps, so the API
// server trusts a new CA before any serving certificate it signed is served):
//   CreateAll       no usable CA: a new CA and a serving certificate
//   RotateCa        the CA reached 2/3 of its lifetime: a new CA goes first in ca.crt, the old
//                   one stays until it expires, the serving certificate is left alone
//   IssueLeaf       the serving certificate is missing, does not match its key, is not signed
//                   by the first CA, names other hosts, outlives the lifetime asked for, or
//                   reached 2/3 of its lifetime: a new one from the first CA
//   DropExpiredCas  an old CA in ca.crt expired: removed from the bundle
//   None            nothing to do until recheckAt

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "webhooks/server/certs.h"

namespace kubegrant::webhooks {

struct CertificateSettings {
  std::vector<std::string> dnsNames;
  std::vector<std::string> ipAddresses;
  std::chrono::seconds lifetime = std::chrono::hours(24 * 90);      // serving certificate
  std::chrono::seconds caLifetime = std::chrono::hours(24 * 3650);  // >= 3x lifetime
};

// "a,b,10.0.0.1" -> DNS names and IP addresses (an entry that parses as IPv4/IPv6 is an IP).
void splitHosts(const std::vector<std::string>& hosts, CertificateSettings& into);

// The Secret's data entries, decoded.
struct CertificateSecretData {
  std::string caCrt;
  std::string caKey;
  std::string tlsCrt;
  std::string tlsKey;
};

// The facts planRotation() decides on.
struct ObservedCertificates {
  std::vector<CertificateInfo> cas;  // ca.crt in order; cas[0] signs
  bool caKeyMatches = false;         // ca.key is the key of cas[0]
  std::optional<CertificateInfo> leaf;
  bool leafKeyMatches = false;
  bool leafSignedByFirstCa = false;
};

ObservedCertificates observe(const CertificateSecretData& data);

enum class RotationStep { None, CreateAll, RotateCa, IssueLeaf, DropExpiredCas };
const char* toString(RotationStep step);

struct RotationPlan {
  RotationStep step = RotationStep::None;
  std::string reason;   // for logs and Events
  TimePoint recheckAt;  // with None: when to look again
};

// Renewal time: 2/3 of the way from notBefore to notAfter.
TimePoint renewAt(const CertificateInfo& cert);

RotationPlan planRotation(const ObservedCertificates& observed, const CertificateSettings& settings,
                          TimePoint now);

// The bundle after a step: `first` (if not empty), then the certificates of `bundle` that are
// not expired at `now` and differ from `first`.
std::string caBundleWith(const std::string& first, const std::string& bundle, TimePoint now);

}  // namespace kubegrant::webhooks
