#pragma once

// Serving certificates for the admission webhook: generate a CA and a serving certificate
// (ECDSA P-256, X.509 v3 with SANs), or sign a serving certificate with an existing CA (the
// test CA). Files written: tls.crt (leaf, then CA), tls.key (0600) and ca.crt. The API server
// trusts the webhook through the caBundle (base64 of ca.crt) in the webhook configurations.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/clock.h"
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

// In memory, for the self-managed certificate (self_managed_certificate.h): PEM text of one
// certificate and its private key.
struct CertificateAndKey {
  std::string certPem;
  std::string keyPem;
};

// How far notBefore is set back to tolerate clock skew: a tenth of the lifetime, at most five
// minutes (a certificate living seconds, in a test, is not backdated by minutes).
std::chrono::seconds backdateFor(std::chrono::seconds lifetime);

// A self-signed CA (ECDSA P-256, CA:TRUE) valid from now - backdateFor(lifetime) to now +
// lifetime.
[[nodiscard]] Result<CertificateAndKey> issueCa(const std::string& commonName,
                                                std::chrono::seconds lifetime);
// A serving certificate (serverAuth, SANs: `dnsNames` and `ipAddresses`) signed by `ca`,
// valid like issueCa's. The common name is the last DNS name.
[[nodiscard]] Result<CertificateAndKey> issueServingCertificate(
    const CertificateAndKey& ca, const std::vector<std::string>& dnsNames,
    const std::vector<std::string>& ipAddresses, std::chrono::seconds lifetime);

// What the rotation needs to know about one certificate.
struct CertificateInfo {
  TimePoint notBefore;
  TimePoint notAfter;
  std::string sha256;  // hex fingerprint of the DER
  bool isCa = false;
  std::vector<std::string> dnsNames;     // subjectAltName DNS entries
  std::vector<std::string> ipAddresses;  // subjectAltName IP entries, as text
};

// The first certificate in `pem`; Invalid when there is none.
[[nodiscard]] Result<CertificateInfo> inspectCertificate(std::string_view pem);
// Whether the first certificate of `certPem` carries the public key of `keyPem`.
bool keyMatchesCertificate(std::string_view certPem, std::string_view keyPem);
// Whether the first certificate of `certPem` is signed by the first one of `caPem`.
bool signedBy(std::string_view certPem, std::string_view caPem);
// The certificates of a PEM bundle, each from BEGIN to END line (with a final newline), in
// order; text outside them is dropped.
std::vector<std::string> splitPemCertificates(std::string_view bundle);

}  // namespace kubegrant::webhooks
