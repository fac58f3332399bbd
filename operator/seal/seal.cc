#include "operator/seal/seal.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <set>

#include "operator/common/base64.h"

namespace kubegrant::seal {

namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::size_t kMacBytes = 32;

void appendField(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

bool validKeyId(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string hmac(const Key& key, std::string_view data) { return hmacSha256(key.secret, data); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::unexpected<Error> noKeys() {
  return fail(ErrorCode::Unavailable, "no seal keys are loaded yet");
}

}  // namespace

std::string hmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, kMacBytes> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

CanonicalForm::CanonicalForm(std::string_view purpose) {
  text_ = "kubegrant.io/seal/v1\n";
  text_ += purpose;
  text_ += '\n';
}

CanonicalForm& CanonicalForm::add(std::string_view name, std::string_view value) {
  text_ += name;
  text_ += '=';
  appendField(text_, value);
  text_ += '\n';
  return *this;
}

CanonicalForm& CanonicalForm::addSet(std::string_view name, std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  text_ += name;
  text_ += "=[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text_ += ',';
    appendField(text_, values[i]);
  }
  text_ += "]\n";
  return *this;
}

Result<Keyring> Keyring::parse(std::string_view text) {
  std::vector<Key> keys;
  std::set<std::string, std::less<>> ids;
  int lineNo = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineNo;
    if (line.empty() || line.front() == '#') continue;
    auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) {
      return fail(ErrorCode::Invalid,
                  fmt::format("seal keys line {}: want \"<id> <base64 key>\"", lineNo));
    }
    std::string_view id = line.substr(0, sp);
    std::string_view encoded = trim(line.substr(sp + 1));
    if (!validKeyId(id)) {
      return fail(ErrorCode::Invalid,
                  fmt::format("seal keys line {}: key id must be 1-63 of [A-Za-z0-9_-]", lineNo));
    }
    if (!ids.insert(std::string(id)).second) {
      return fail(ErrorCode::Invalid,
                  fmt::format("seal keys line {}: key id \"{}\" appears twice", lineNo, id));
    }
    auto secret = base64Decode(encoded, fmt::format("seal keys line {}: the key", lineNo));
    if (!secret) return std::unexpected(secret.error());
    if (secret->size() < kMinKeyBytes) {
      return fail(ErrorCode::Invalid,
                  fmt::format("seal keys line {}: key \"{}\" has {} bytes; at least {} random "
                              "bytes are required (openssl rand -base64 32)",
                              lineNo, id, secret->size(), kMinKeyBytes));
    }
    keys.push_back({std::string(id), std::move(*secret)});
  }
  if (keys.empty()) {
    return fail(ErrorCode::Invalid, "seal keys: no key; want one \"<id> <base64 key>\" a line");
  }
  return Keyring(std::move(keys));
}

const Key* Keyring::find(std::string_view id) const {
  for (const auto& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

HmacSealer::HmacSealer(std::shared_ptr<const Keyring> keys) : keys_(std::move(keys)) {}

void HmacSealer::setKeys(std::shared_ptr<const Keyring> keys) { keys_.store(std::move(keys)); }

bool HmacSealer::hasKeys() const { return keys_.load() != nullptr; }

Result<std::string> HmacSealer::seal(const CanonicalForm& form) const {
  auto keys = keys_.load();
  if (!keys) return noKeys();
  const Key& key = keys->signing();
  auto mac = hmac(key, form.text());
  return fmt::format("{}.{}.{}", kVersion, key.id, base64UrlEncode(mac));
}

Result<void> HmacSealer::verify(const CanonicalForm& form, std::string_view seal) const {
  auto keys = keys_.load();
  if (!keys) return noKeys();
  if (seal.empty()) return fail(ErrorCode::Forbidden, "is missing");
  auto dot1 = seal.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : seal.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || seal.substr(0, dot1) != kVersion) {
    return fail(ErrorCode::Forbidden, "is not a kubegrant seal (want v1.<key id>.<mac>)");
  }
  std::string_view id = seal.substr(dot1 + 1, dot2 - dot1 - 1);
  const Key* key = keys->find(id);
  if (key == nullptr) {
    return fail(ErrorCode::Forbidden,
                fmt::format("was made with key \"{}\", which is not in the seal keyring "
                            "(never was, or was dropped)",
                            validKeyId(id) ? id : "?"));
  }
  auto given = base64Decode(seal.substr(dot2 + 1), "seal");
  auto mac = hmac(*key, form.text());
  if (!given || !constantTimeEquals(*given, mac)) {
    return fail(ErrorCode::Forbidden,
                "does not verify: it was not made by kubegrant for these values (tampered or "
                "forged)");
  }
  return ok();
}

}  // namespace kubegrant::seal
