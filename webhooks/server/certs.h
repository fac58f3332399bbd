#pragma once

// Serving certificates for the admission webhook: generate a CA and a serving certificate
// (ECDSA P-256, X.509 v3 with SANs), or sign a serving certificate with an existing CA (the
// test CA). Files written: tls.crt (leaf, then CA), tls.key (0600) and ca.crt. The API server
// trusts the webhook through the caBundle (base64 of ca.crt) in the webhook configurations.

#include <string>
#include <vector>

#include "operator/common/result.h"

namespace kubegrant::webhooks {

struct CertificateRequest {
  std::string dir;                                    // where tls.crt, tls.key, ca.crt go
  std::vector<std::string> dnsNames = {"localhost"};  // plus e.g. svc.ns.svc
  std::vector<std::string> ipAddresses = {"127.0.0.1"};
  int validDays = 365;
  // When both are set, the serving certificate is signed by this CA (PEM files) and ca.crt is
  // a copy of it; otherwise a new self-signed CA is generated and its key discarded.
  std::string caCertFile;
  std::string caKeyFile;
};

struct GeneratedCertificates {
  std::string certFile;  // dir/tls.crt
  std::string keyFile;   // dir/tls.key
  std::string caFile;    // dir/ca.crt
  std::string caBundle;  // base64 of the CA PEM, for clientConfig.caBundle
};

[[nodiscard]] Result<GeneratedCertificates> generateCertificates(const CertificateRequest& req);

}  // namespace kubegrant::webhooks
