#pragma once

// The serving certificate and key from a directory (tls.crt = leaf then chain, tls.key),
// reloaded without a restart: configure() checks the files' modification times at most once
// per `recheckInterval` and, when they changed and the new pair loads and matches, swaps it
// in for every later handshake. A broken or half-written pair keeps the last good one
// serving (and logs why), so a rotation can never take the webhook down.
//
// configure() is what the HTTPS listener calls for each new connection's SSL_CTX: it pins
// TLS 1.2+ with AEAD ECDHE ciphers and installs the current chain and key.

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "operator/common/result.h"

namespace kubegrant::webhooks {

class TlsMaterial {
 public:
  explicit TlsMaterial(std::string certDir,
                       std::chrono::milliseconds recheckInterval = std::chrono::seconds(1));
  ~TlsMaterial();
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  // Loads the pair now; fails when it is missing, unreadable or mismatched.
  [[nodiscard]] Result<void> load();
  // Reloads when the files changed since the last successful load. Returns true on a swap.
  bool reloadIfChanged();
  // Applies protocol/cipher policy and the current pair to `ctx`. Thread-safe.
  [[nodiscard]] Result<void> configure(SSL_CTX* ctx);
  // SHA-256 fingerprint (hex) of the leaf currently served, for logs and tests.
  std::string currentFingerprint() const;

  std::string certFile() const;
  std::string keyFile() const;

 private:
  struct Pair;
  Result<std::shared_ptr<const Pair>> readPair() const;

  std::string certDir_;
  std::chrono::milliseconds recheckInterval_;
  mutable std::mutex mu_;
  std::shared_ptr<const Pair> current_;
  std::filesystem::file_time_type certMtime_{};
  std::filesystem::file_time_type keyMtime_{};
  std::chrono::steady_clock::time_point lastCheck_{};
};

// Applies kubegrant's TLS policy (TLS 1.2 minimum, ECDHE + AEAD ciphers, no compression, no
// renegotiation) to a server context.
void applyTlsPolicy(SSL_CTX* ctx);

}  // namespace kubegrant::webhooks
