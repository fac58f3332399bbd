#pragma once

// The serving certificate and key from a directory (tls.crt = leaf then chain, tls.key),
// reloaded without a restart: configure() checks the files' modification times at most once
// per `recheckInterval` and, when they changed and the new pair loads and matches, swaps it
// in for every later handshake. A broken or half-written pair keeps the last good one
// serving (and logs why), so a rotation can never take the webhook down.
//
// Without a directory (certDir ""), the pair is held in memory and replaced by setPem(): the
// self-managed certificate (self_managed_certificate.h) swaps in what its Secret holds.
//
// configure() is what the HTTPS listener calls for each new connection's SSL_CTX: it pins
// TLS 1.2+ with AEAD ECDHE ciphers and installs the current chain and key. Connections
// already open keep the pair they started with; none is dropped by a swap.

#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "operator/common/result.h"

namespace kubegrant::webhooks {

class TlsMaterial {
 public:
  explicit TlsMaterial(std::string certDir,
                       std::chrono::milliseconds recheckInterval = std::chrono::seconds(1));
  ~TlsMaterial();
  TlsMaterial(const TlsMaterial&) = delete;
  TlsMaterial& operator=(const TlsMaterial&) = delete;

  // Whether the pair comes from certDir (else from setPem()).
  bool fromFiles() const { return !certDir_.empty(); }
  // Loads the pair now; fails when it is missing, unreadable or mismatched.
  [[nodiscard]] Result<void> load();
  // Installs this pair (leaf then chain; key) for every later handshake, when it parses and
  // matches; otherwise keeps the current one. Thread-safe.
  [[nodiscard]] Result<void> setPem(std::string_view certPem, std::string_view keyPem);
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
  static Result<std::shared_ptr<const Pair>> parsePair(std::string_view certPem,
                                                       std::string_view keyPem,
                                                       const std::string& certWhere,
                                                       const std::string& keyWhere);

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
