#include "operator/seal/secret_keyring.h"

#include <fmt/format.h>

#include "operator/common/base64.h"
#include "operator/common/log.h"

namespace kubegrant::seal {

namespace {

constexpr std::string_view kLogger = "seal-keys";

bool dnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

}  // namespace

Result<SealKeysSecret> parseSealKeysSecret(std::string_view text) {
  auto slash = text.find('/');
  SealKeysSecret ref;
  if (slash != std::string_view::npos) {
    ref.namespace_ = std::string(text.substr(0, slash));
    ref.name = std::string(text.substr(slash + 1));
  }
  if (slash == std::string_view::npos || !dnsName(ref.namespace_) || !dnsName(ref.name)) {
    return fail(
        ErrorCode::Invalid,
        fmt::format("want NAMESPACE/NAME of a Secret (lowercase DNS names), got \"{}\"", text));
  }
  return ref;
}

Result<Keyring> keyringFromSecret(const kube::Object& secret, const SealKeysSecret& ref) {
  std::string where = fmt::format("Secret {}/{}", ref.namespace_, ref.name);
  const auto& data = secret.body.value("data", nlohmann::json::object());
  auto it = data.find(ref.key);
  if (it == data.end() || !it->is_string()) {
    return fail(ErrorCode::Invalid, fmt::format("{}: has no data entry \"{}\"", where, ref.key));
  }
  auto text = base64Decode(it->get<std::string>(), where + " data." + ref.key);
  if (!text) return std::unexpected(text.error());
  auto keys = Keyring::parse(*text);
  if (!keys) return fail(ErrorCode::Invalid, where + ": " + keys.error().message);
  return keys;
}

runtime::InformerOptions SecretKeyring::informerOptions(const SealKeysSecret& ref) {
  runtime::InformerOptions o;
  o.namespace_ = ref.namespace_;
  o.fieldSelector = "metadata.name=" + ref.name;
  return o;
}

SecretKeyring::SecretKeyring(runtime::Informer& informer, HmacSealer& sealer, SealKeysSecret ref)
    : sealer_(sealer), ref_(std::move(ref)) {
  lastError_ =
      fmt::format("Secret {}/{} not read yet (operator/deploy/seal-keys.sh new creates it)",
                  ref_.namespace_, ref_.name);
  informer.addEventHandler(
      {[this](const runtime::ObjectPtr& o) { load(*o); },
       [this](const runtime::ObjectPtr&, const runtime::ObjectPtr& o) { load(*o); },
       [this](const runtime::ObjectPtr&) {
         log::warn(kLogger, "seal keys Secret deleted; keeping the keys loaded before",
                   {{"secret", ref_.namespace_ + "/" + ref_.name}});
       }});
}

void SecretKeyring::load(const kube::Object& secret) {
  auto keys = keyringFromSecret(secret, ref_);
  std::lock_guard lock(mu_);
  if (!keys) {
    lastError_ = keys.error().message;
    log::error(kLogger, "seal keys not loaded; keeping the previous ones", {{"error", lastError_}});
    return;
  }
  log::info(kLogger, "seal keys loaded",
            {{"secret", ref_.namespace_ + "/" + ref_.name},
             {"keys", keys->keys().size()},
             {"sealingKey", keys->signing().id}});
  sealer_.setKeys(std::make_shared<const Keyring>(std::move(*keys)));
  lastError_.clear();
  cv_.notify_all();
}

Result<void> SecretKeyring::ready() const {
  std::lock_guard lock(mu_);
  if (sealer_.hasKeys()) return ok();
  return fail(ErrorCode::Unavailable, "seal keys: " + lastError_);
}

bool SecretKeyring::waitForKeys(std::chrono::milliseconds timeout, std::string* why) const {
  std::unique_lock lock(mu_);
  bool loaded = cv_.wait_for(lock, timeout, [this] { return sealer_.hasKeys(); });
  if (!loaded && why) *why = lastError_;
  return loaded;
}

}  // namespace kubegrant::seal
