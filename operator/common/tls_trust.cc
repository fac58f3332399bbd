#include "operator/common/tls_trust.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <mutex>
#include <optional>

namespace kubegrant::tls {
namespace {

std::mutex mu;
std::optional<TrustLocations> recorded;  // set by takeOverDefaultTrust()
X509_STORE* shared = nullptr;            // systemTrust(), built once, never freed

std::string envOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

}  // namespace

TrustLocations defaultTrustLocations() {
  return {envOr(X509_get_default_cert_file_env(), X509_get_default_cert_file()),
          envOr(X509_get_default_cert_dir_env(), X509_get_default_cert_dir())};
}

TrustLocations takeOverDefaultTrust() {
  std::lock_guard lock(mu);
  if (!recorded) {
    recorded = defaultTrustLocations();
    // An empty file: the per-connection default load reads nothing (OpenSSL ignores and clears
    // the "no certificate found" it records). The directory lookup is lazy and stays.
    ::setenv(X509_get_default_cert_file_env(), "/dev/null", 1);
  }
  return *recorded;
}

x509_store_st* systemTrust() {
  std::lock_guard lock(mu);
  if (shared == nullptr) {
    const TrustLocations where = recorded ? *recorded : defaultTrustLocations();
    shared = X509_STORE_new();
    // Either may be missing (a minimal image has no bundle file): then nothing is trusted
    // from it, as OpenSSL's own default load behaves.
    if (!where.file.empty()) X509_STORE_load_file(shared, where.file.c_str());
    if (!where.dir.empty()) X509_STORE_load_path(shared, where.dir.c_str());
    ERR_clear_error();
  }
  return shared;
}

void useSystemTrust(ssl_ctx_st* ctx) { SSL_CTX_set1_cert_store(ctx, systemTrust()); }

}  // namespace kubegrant::tls
