#pragma once

// Seals: an HMAC-SHA256 over a canonical form of what was decided, with the id of the key
// that made it. The admission webhook seals what it stamps (the requester, each approval)
// and the operator seals its own status transitions, so whatever reaches the operator while
// the webhook is not in the path (not registered yet, deleted during an upgrade, a broken
// matchConditions) is told apart from what kubegrant itself wrote: a client has no key.
//
// Wire form of a seal: "v1.<key id>.<base64url of the 32-byte MAC, unpadded>".
//
// Keys come from one Secret that every replica reads (see Keyring::parse for its format).
// Rotation: add a new key at the top (it seals from then on), keep the old ones (they still
// verify) until nothing sealed with them is kept any more, then drop them.
//
// This is the only code that includes OpenSSL for seals; callers see Sealer.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/result.h"

namespace kubegrant::seal {

// The bytes a seal covers: a purpose (what is sealed: "requester", "approval", "status"),
// then named fields in a fixed order, each length-prefixed so no two different field lists
// encode alike ("a"+"bc" vs "ab"+"c"). A list is a set: sorted, duplicates dropped, so the
// order in which the API server reported groups does not matter.
//   kubegrant.io/seal/v1\n<purpose>\n<name>=<len>:<value>\n...   (list: <name>=[<len>:<v>,...])
class CanonicalForm {
 public:
  explicit CanonicalForm(std::string_view purpose);
  CanonicalForm& add(std::string_view name, std::string_view value);
  CanonicalForm& addSet(std::string_view name, std::vector<std::string> values);
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

struct Key {
  std::string id;      // [A-Za-z0-9_-]{1,63}
  std::string secret;  // at least kMinKeyBytes raw bytes
};

inline constexpr std::size_t kMinKeyBytes = 32;

// The keys, newest first: keys().front() seals, every key verifies.
class Keyring {
 public:
  // Parses the Secret's `keys` entry: one key a line, "<id> <base64 of >= 32 random bytes>",
  // newest first; blank lines and lines starting with '#' are ignored. Invalid (naming the
  // line, never the secret) when a line is malformed, an id repeats, a key is too short, or
  // there is no key at all. A new key: `echo "$(date -u +%Y%m%d) $(openssl rand -base64 32)"`.
  [[nodiscard]] static Result<Keyring> parse(std::string_view text);
  explicit Keyring(std::vector<Key> keys) : keys_(std::move(keys)) {}

  const Key& signing() const { return keys_.front(); }
  const Key* find(std::string_view id) const;
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

// HMAC-SHA256 of `data` under `key` (32 raw bytes). The one HMAC in kubegrant: seals use it,
// and so does the signature of notifications (operator/notify/signing.h).
std::string hmacSha256(std::string_view key, std::string_view data);

// Constant-time comparison of two byte strings (false when the lengths differ).
bool constantTimeEquals(std::string_view a, std::string_view b);

// What the webhook and the operator seal and verify with.
class Sealer {
 public:
  virtual ~Sealer() = default;
  // Unavailable when no keys are loaded yet.
  [[nodiscard]] virtual Result<std::string> seal(const CanonicalForm& form) const = 0;
  // Forbidden with a short reason ("is missing", "was not made by kubegrant: it does not
  // verify", "was made with key \"x\", which is no longer in the keyring") when the seal
  // does not verify; Unavailable when no keys are loaded yet. Callers prefix the field.
  [[nodiscard]] virtual Result<void> verify(const CanonicalForm& form,
                                            std::string_view seal) const = 0;
};

// HMAC-SHA256 with the current keyring, replaceable at any time (a Secret watch swaps it).
class HmacSealer final : public Sealer {
 public:
  explicit HmacSealer(std::shared_ptr<const Keyring> keys = nullptr);
  void setKeys(std::shared_ptr<const Keyring> keys);
  bool hasKeys() const;

  Result<std::string> seal(const CanonicalForm& form) const override;
  Result<void> verify(const CanonicalForm& form, std::string_view seal) const override;

 private:
  std::atomic<std::shared_ptr<const Keyring>> keys_;
};

}  // namespace kubegrant::seal
