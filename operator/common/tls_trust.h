#pragma once

// Which certificate authorities a TLS client trusts, decided once per process instead of once
// per connection.
//
// cpprestsdk's HTTPS client builds a fresh OpenSSL context for every connection it opens and
// loads OpenSSL's default trust into it (`set_default_verify_paths`): on Debian that parses the
// whole CA bundle, ~140 certificates, for each connection (every watch, every notification
// POST), only for the kube client to replace it with the cluster's CA a moment later. Measured
// on the idle operator: 6 MiB of the 11 MiB anonymous RSS was what those parses left behind
// (bench/README.md, issue 15).
//
// takeOverDefaultTrust() records where the default trust is ($SSL_CERT_FILE / $SSL_CERT_DIR or
// OpenSSL's compiled-in paths) and then points OpenSSL's default file at an empty one, so that
// per-connection load finds nothing to parse. Every client then installs the trust it means:
// the kube client its cluster CA, the notification poster (and the kube client of a cluster
// whose kubeconfig has no CA) the system store, loaded once from the recorded paths and shared.

#include <string>

struct ssl_ctx_st;     // SSL_CTX
struct x509_store_st;  // X509_STORE

namespace kubegrant::tls {

struct TrustLocations {
  std::string file;  // a PEM bundle, loaded whole
  std::string dir;   // a hashed directory, searched per lookup
};

// Where OpenSSL's default trust is right now: $SSL_CERT_FILE / $SSL_CERT_DIR, else the
// compiled-in X509_get_default_cert_file() / X509_get_default_cert_dir().
TrustLocations defaultTrustLocations();

// Call first thing in main(), before any thread or TLS object exists (it sets SSL_CERT_FILE
// in the environment). Idempotent. Returns the recorded system locations.
TrustLocations takeOverDefaultTrust();

// The system trust: the locations recorded by takeOverDefaultTrust() (or the current defaults
// when it was not called), loaded on first use and shared. Never null.
x509_store_st* systemTrust();

// Makes `ctx` verify against systemTrust() (shared, reference-counted: nothing is parsed).
void useSystemTrust(ssl_ctx_st* ctx);

}  // namespace kubegrant::tls
