#include "webhooks/server/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "operator/common/log.h"
#include "webhooks/server/certs.h"

namespace kubegrant::webhooks {

struct TlsMaterial::Pair {
  X509* leaf = nullptr;
  std::vector<X509*> chain;
  EVP_PKEY* key = nullptr;
  std::string fingerprint;
  ~Pair() {
    X509_free(leaf);
    for (X509* c : chain) X509_free(c);
    EVP_PKEY_free(key);
  }
};

namespace {

std::string opensslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string readAll(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream ss;
  if (ok) ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void applyTlsPolicy(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  // TLS 1.2: forward-secret AEAD suites only. TLS 1.3 suites are all modern (OpenSSL default).
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
}

TlsMaterial::TlsMaterial(std::string certDir, std::chrono::milliseconds recheckInterval)
    : certDir_(std::move(certDir)), recheckInterval_(recheckInterval) {}

TlsMaterial::~TlsMaterial() = default;

std::string TlsMaterial::certFile() const {
  return (std::filesystem::path(certDir_) / "tls.crt").string();
}
std::string TlsMaterial::keyFile() const {
  return (std::filesystem::path(certDir_) / "tls.key").string();
}

Result<std::shared_ptr<const TlsMaterial::Pair>> TlsMaterial::readPair() const {
  bool okCert = false;
  bool okKey = false;
  std::string certPem = readAll(certFile(), okCert);
  std::string keyPem = readAll(keyFile(), okKey);
  if (!okCert) return fail(ErrorCode::NotFound, "cannot read " + certFile());
  if (!okKey) return fail(ErrorCode::NotFound, "cannot read " + keyFile());

  return parsePair(certPem, keyPem, certFile(), keyFile());
}

Result<std::shared_ptr<const TlsMaterial::Pair>> TlsMaterial::parsePair(
    std::string_view certPem, std::string_view keyPem, const std::string& certWhere,
    const std::string& keyWhere) {
  auto pair = std::make_shared<Pair>();
  BIO* cb = BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size()));
  pair->leaf = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  if (pair->leaf != nullptr) {
    while (X509* extra = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr)) {
      pair->chain.push_back(extra);
    }
  }
  BIO_free(cb);
  ERR_clear_error();  // the loop above ends on an expected "no start line"
  if (pair->leaf == nullptr) {
    return fail(ErrorCode::Invalid, "no PEM certificate in " + certWhere);
  }
  BIO* kb = BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size()));
  pair->key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  if (pair->key == nullptr) {
    return fail(ErrorCode::Invalid, "no PEM private key in " + keyWhere + ": " + opensslError());
  }
  if (X509_check_private_key(pair->leaf, pair->key) != 1) {
    ERR_clear_error();
    return fail(ErrorCode::Invalid, certWhere + " does not match " + keyWhere);
  }
  if (auto info = inspectCertificate(certPem)) pair->fingerprint = info->sha256;
  return std::shared_ptr<const Pair>(std::move(pair));
}

Result<void> TlsMaterial::setPem(std::string_view certPem, std::string_view keyPem) {
  auto pair = parsePair(certPem, keyPem, "the certificate", "the key");
  if (!pair) return fail(pair.error());
  std::lock_guard lock(mu_);
  current_ = *pair;
  return ok();
}

Result<void> TlsMaterial::load() {
  std::error_code ec1, ec2;
  auto certMtime = std::filesystem::last_write_time(certFile(), ec1);
  auto keyMtime = std::filesystem::last_write_time(keyFile(), ec2);
  auto pair = readPair();
  if (!pair) return fail(pair.error());
  std::lock_guard lock(mu_);
  current_ = *pair;
  certMtime_ = certMtime;
  keyMtime_ = keyMtime;
  lastCheck_ = std::chrono::steady_clock::now();
  return ok();
}

bool TlsMaterial::reloadIfChanged() {
  if (!fromFiles()) return false;
  {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (current_ && now - lastCheck_ < recheckInterval_) return false;
    lastCheck_ = now;
    std::error_code ec1, ec2;
    auto certMtime = std::filesystem::last_write_time(certFile(), ec1);
    auto keyMtime = std::filesystem::last_write_time(keyFile(), ec2);
    if (ec1 || ec2) return false;  // mid-rotation (file replaced): keep serving the old pair
    if (current_ && certMtime == certMtime_ && keyMtime == keyMtime_) return false;
  }
  // Read outside the lock; handshakes keep using the old pair meanwhile.
  std::error_code ec1, ec2;
  auto certMtime = std::filesystem::last_write_time(certFile(), ec1);
  auto keyMtime = std::filesystem::last_write_time(keyFile(), ec2);
  auto pair = readPair();
  if (!pair) {
    log::warn("webhook.tls", "keeping the current serving certificate",
              {{"reason", pair.error().message}});
    return false;
  }
  std::lock_guard lock(mu_);
  current_ = *pair;
  certMtime_ = certMtime;
  keyMtime_ = keyMtime;
  log::info("webhook.tls", "loaded serving certificate",
            {{"sha256", current_->fingerprint}, {"dir", certDir_}});
  return true;
}

Result<void> TlsMaterial::configure(SSL_CTX* ctx) {
  reloadIfChanged();
  std::shared_ptr<const Pair> pair;
  {
    std::lock_guard lock(mu_);
    pair = current_;
  }
  if (!pair) return fail(ErrorCode::Unavailable, "no serving certificate loaded");
  applyTlsPolicy(ctx);
  if (SSL_CTX_use_certificate(ctx, pair->leaf) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, pair->key) != 1) {
    return fail(ErrorCode::Internal, "cannot install serving certificate: " + opensslError());
  }
  SSL_CTX_clear_chain_certs(ctx);
  for (X509* c : pair->chain) {
    if (SSL_CTX_add1_chain_cert(ctx, c) != 1) {
      return fail(ErrorCode::Internal, "cannot install certificate chain: " + opensslError());
    }
  }
  return ok();
}

std::string TlsMaterial::currentFingerprint() const {
  std::lock_guard lock(mu_);
  return current_ ? current_->fingerprint : std::string();
}

}  // namespace kubegrant::webhooks
