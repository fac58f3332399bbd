#include "webhooks/server/self_managed_certificate.h"

#include <fmt/format.h>

#include <algorithm>

#include "operator/common/base64.h"
#include "operator/common/log.h"
#include "operator/common/time.h"

namespace kubegrant::webhooks {

namespace {

constexpr std::string_view kLogger = "webhook.certificate";

double unixSeconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string secretName(const CertificateSecretRef& ref) { return ref.namespace_ + "/" + ref.name; }

std::string dataEntry(const nlohmann::json& data, const char* key) {
  auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return {};
  auto decoded = base64Decode(it->get<std::string>(), key);
  return decoded ? *decoded : std::string();
}

}  // namespace

runtime::InformerOptions certificateSecretInformerOptions(const CertificateSecretRef& ref) {
  runtime::InformerOptions o;
  o.namespace_ = ref.namespace_;
  o.fieldSelector = "metadata.name=" + ref.name;
  return o;
}

CertificateSecretData certificateSecretData(const kube::Object& secret) {
  const auto& data = secret.body.value("data", nlohmann::json::object());
  return {dataEntry(data, "ca.crt"), dataEntry(data, "ca.key"), dataEntry(data, "tls.crt"),
          dataEntry(data, "tls.key")};
}

// --- every replica -------------------------------------------------------------------------

SecretCertificateSource::SecretCertificateSource(runtime::Informer& informer,
                                                 std::shared_ptr<TlsMaterial> tls,
                                                 CertificateSecretRef ref,
                                                 metrics::Registry* metrics)
    : tls_(std::move(tls)), ref_(std::move(ref)) {
  lastError_ = fmt::format("Secret {} not read yet (the leader creates it)", secretName(ref_));
  if (metrics != nullptr) {
    servingExpiry_ = &metrics
                          ->gauge("kubegrant_webhook_certificate_expiry_timestamp_seconds",
                                  "notAfter (Unix seconds) of the webhook serving certificate "
                                  "this replica serves (serving) and of the CA bundle's "
                                  "longest-lived CA (ca, on the leader).",
                                  {"certificate"})
                          .with({"serving"});
    reloads_ = &metrics
                    ->counter("kubegrant_webhook_certificate_reloads_total",
                              "Serving certificates this replica swapped in from the Secret.")
                    .with();
  }
  informer.addEventHandler(
      {[this](const runtime::ObjectPtr& o) { load(*o); },
       [this](const runtime::ObjectPtr&, const runtime::ObjectPtr& o) { load(*o); },
       [this](const runtime::ObjectPtr&) {
         log::warn(kLogger,
                   "webhook certificate Secret deleted; serving the certificate loaded "
                   "before until the leader writes a new one",
                   {{"secret", secretName(ref_)}});
       }});
}

void SecretCertificateSource::load(const kube::Object& secret) {
  const CertificateSecretData data = certificateSecretData(secret);
  auto info = inspectCertificate(data.tlsCrt);
  std::lock_guard lock(mu_);
  if (info && info->sha256 == served_) return;
  Result<void> set = ok();
  if (info) {
    set = tls_->setPem(data.tlsCrt, data.tlsKey);
  } else {
    set = fail(ErrorCode::Invalid, "tls.crt holds no certificate");
  }
  if (!set) {
    lastError_ = fmt::format("Secret {}: {}", secretName(ref_), set.error().message);
    log::error(kLogger, "webhook serving certificate not loaded; keeping the current one",
               {{"error", lastError_}});
    return;
  }
  served_ = info->sha256;
  lastError_.clear();
  if (servingExpiry_ != nullptr) servingExpiry_->set(unixSeconds(info->notAfter));
  if (reloads_ != nullptr) reloads_->inc();
  log::info(kLogger, "serving the webhook certificate from the Secret",
            {{"secret", secretName(ref_)},
             {"sha256", info->sha256},
             {"notAfter", formatRfc3339(info->notAfter)}});
}

Result<void> SecretCertificateSource::ready() const {
  std::lock_guard lock(mu_);
  if (!served_.empty()) return ok();
  return fail(ErrorCode::Unavailable, "webhook certificate: " + lastError_);
}

// --- the leader ----------------------------------------------------------------------------

CertificateRotator::CertificateRotator(kube::Client& client, Clock& clock,
                                       runtime::Informer& secretInformer,
                                       CertificateRotatorOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  if (options_.metrics != nullptr) {
    rotations_ = &options_.metrics->counter(
        "kubegrant_webhook_certificate_rotations_total",
        "Writes of the self-managed webhook certificate Secret by step: create (new CA and "
        "serving certificate), ca (new CA added), serving (new serving certificate), "
        "drop-expired-ca.",
        {"step"});
    caExpiry_ =
        &options_.metrics
             ->gauge("kubegrant_webhook_certificate_expiry_timestamp_seconds", "", {"certificate"})
             .with({"ca"});
  }
  auto wake = [this] {
    std::lock_guard lock(mu_);
    wake_ = true;
    cv_.notify_all();
  };
  secretInformer.addEventHandler(
      {[wake](const runtime::ObjectPtr&) { wake(); },
       [wake](const runtime::ObjectPtr&, const runtime::ObjectPtr&) { wake(); },
       [wake](const runtime::ObjectPtr&) { wake(); }});
}

CertificateRotator::~CertificateRotator() { stop(); }

Result<void> CertificateRotator::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
  return ok();
}

void CertificateRotator::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }
  thread_.join();
}

void CertificateRotator::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const TimePoint next = reconcileOnce();
    std::unique_lock lock(mu_);
    while (!wake_ && !stop.stop_requested() && clock_.now() < next) {
      if (clock_.waitUntil(cv_, lock, next) == std::cv_status::timeout) break;
    }
    wake_ = false;
  }
}

Result<bool> CertificateRotator::patchCaBundle(bool mutating, const std::string& caBundle) {
  const kube::ObjectKey key{"", options_.webhookConfigurationName};
  auto config = mutating ? client_.get(kube::resources::mutatingWebhookConfigurations(), key)
                         : client_.get(kube::resources::validatingWebhookConfigurations(), key);
  if (!config) {
    if (config.error().code == ErrorCode::NotFound) return false;  // not installed (yet)
    return std::unexpected(config.error());
  }
  // Only the caBundle of each webhook, only at the resourceVersion read: a configuration
  // changed meanwhile fails the test and is read again.
  nlohmann::json ops = nlohmann::json::array();
  ops.push_back({{"op", "test"},
                 {"path", "/metadata/resourceVersion"},
                 {"value", config->resourceVersion()}});
  const auto& hooks = config->body.value("webhooks", nlohmann::json::array());
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    const auto cc = hooks[i].value("clientConfig", nlohmann::json::object());
    if (cc.value("caBundle", "") == caBundle) continue;
    ops.push_back({{"op", "add"},
                   {"path", fmt::format("/webhooks/{}/clientConfig/caBundle", i)},
                   {"value", caBundle}});
  }
  if (ops.size() == 1) return false;
  auto patched = mutating ? client_.patch(kube::resources::mutatingWebhookConfigurations(), key,
                                          kube::PatchType::Json, ops)
                          : client_.patch(kube::resources::validatingWebhookConfigurations(), key,
                                          kube::PatchType::Json, ops);
  if (!patched) return std::unexpected(patched.error());
  log::info(kLogger, "caBundle updated",
            {{"configuration", fmt::format("{}/{}", mutating ? "mutating" : "validating",
                                           options_.webhookConfigurationName)},
             {"webhooks", ops.size() - 1}});
  return true;
}

Result<bool> CertificateRotator::syncCaBundle(const std::string& caBundlePem) {
  if (options_.webhookConfigurationName.empty()) return false;
  const std::string caBundle = base64Encode(caBundlePem);
  bool changed = false;
  for (bool mutating : {true, false}) {
    auto r = patchCaBundle(mutating, caBundle);
    if (!r) return std::unexpected(r.error());
    changed = changed || *r;
  }
  return changed;
}

Result<kube::Object> CertificateRotator::write(const std::optional<kube::Object>& existing,
                                               const CertificateSecretData& d) {
  nlohmann::json data = {{"ca.crt", base64Encode(d.caCrt)},
                         {"ca.key", base64Encode(d.caKey)},
                         {"tls.crt", base64Encode(d.tlsCrt)},
                         {"tls.key", base64Encode(d.tlsKey)}};
  if (existing) {
    kube::Object updated = *existing;  // at the resourceVersion read: Conflict if it moved
    updated.body["data"] = std::move(data);
    return client_.update(kube::resources::secrets(), updated);
  }
  kube::Object secret;
  secret.setApiVersionKind(kube::resources::secrets());
  secret.setNamespace(options_.secret.namespace_);
  secret.setName(options_.secret.name);
  secret.setLabel("app.kubernetes.io/managed-by", "kubegrant");
  secret.setLabel("app.kubernetes.io/component", "webhook-certificate");
  secret.body["type"] = "kubernetes.io/tls";
  secret.body["data"] = std::move(data);
  return client_.create(kube::resources::secrets(), secret);
}

TimePoint CertificateRotator::reconcileOnce() {
  const TimePoint now = clock_.now();
  auto retryLater = [&](std::string_view what, const Error& e) {
    backoff_ = std::clamp<std::chrono::milliseconds>(backoff_ * 2, std::chrono::milliseconds(500),
                                                     std::chrono::seconds(30));
    log::warn(kLogger, what,
              {{"secret", secretName(options_.secret)},
               {"error", e.message},
               {"retryInMs", backoff_.count()}});
    return now + backoff_;
  };

  std::optional<kube::Object> existing;
  auto got =
      client_.get(kube::resources::secrets(), {options_.secret.namespace_, options_.secret.name});
  if (got) {
    existing = std::move(*got);
  } else if (got.error().code != ErrorCode::NotFound) {
    return retryLater("cannot read the webhook certificate Secret", got.error());
  }
  const CertificateSecretData data =
      existing ? certificateSecretData(*existing) : CertificateSecretData{};
  // caBundle first: a serving certificate from a new CA is written only once it is trusted.
  if (!data.caCrt.empty()) {
    auto changed = syncCaBundle(data.caCrt);
    if (!changed) return retryLater("cannot update caBundle", changed.error());
    if (*changed) caBundleChangedAt_ = now;
  }
  const ObservedCertificates observed = observe(data);
  if (caExpiry_ != nullptr && !observed.cas.empty()) {
    TimePoint last = observed.cas.front().notAfter;
    for (const auto& ca : observed.cas) last = std::max(last, ca.notAfter);
    caExpiry_->set(unixSeconds(last));
  }
  const RotationPlan plan = planRotation(observed, options_.settings, now);
  if (plan.step == RotationStep::None) {
    backoff_ = {};
    return std::min(plan.recheckAt, now + options_.resync);
  }
  if (plan.step == RotationStep::IssueLeaf && now < caBundleChangedAt_ + options_.caPropagation) {
    return caBundleChangedAt_ + options_.caPropagation;
  }

  const auto& s = options_.settings;
  CertificateSecretData next = data;
  auto issueLeaf = [&](const CertificateAndKey& ca) -> Result<void> {
    auto leaf = issueServingCertificate(ca, s.dnsNames, s.ipAddresses, s.lifetime);
    if (!leaf) return std::unexpected(leaf.error());
    next.tlsCrt = leaf->certPem;
    next.tlsKey = leaf->keyPem;
    return ok();
  };
  Result<void> built = ok();
  switch (plan.step) {
    case RotationStep::CreateAll:
    case RotationStep::RotateCa: {
      auto ca = issueCa(options_.secret.name + "-ca", s.caLifetime);
      if (!ca) {
        built = std::unexpected(ca.error());
        break;
      }
      next.caCrt = caBundleWith(ca->certPem, data.caCrt, now);
      next.caKey = ca->keyPem;
      if (plan.step == RotationStep::CreateAll) built = issueLeaf(*ca);
      break;
    }
    case RotationStep::IssueLeaf: {
      const auto cas = splitPemCertificates(data.caCrt);
      built = issueLeaf(CertificateAndKey{cas.front(), data.caKey});
      break;
    }
    case RotationStep::DropExpiredCas:
      next.caCrt = caBundleWith(splitPemCertificates(data.caCrt).front(), data.caCrt, now);
      break;
    case RotationStep::None:
      break;
  }
  if (!built) return retryLater("cannot issue the webhook certificate", built.error());
  auto written = write(existing, next);
  if (!written) {
    const Error& e = written.error();
    if (e.code == ErrorCode::Conflict || e.code == ErrorCode::AlreadyExists) {
      // Someone else wrote it first (another leader's last write, or an edit): read again.
      log::info(kLogger, "webhook certificate Secret changed meanwhile; reading it again",
                {{"secret", secretName(options_.secret)}});
      return now;
    }
    return retryLater("cannot write the webhook certificate Secret", e);
  }
  backoff_ = {};
  if (rotations_ != nullptr) rotations_->with({toString(plan.step)}).inc();
  auto leaf = inspectCertificate(next.tlsCrt);
  const std::string message = fmt::format(
      "webhook certificate {}: {}; serving certificate sha256 {} valid until {}",
      toString(plan.step), plan.reason, leaf ? leaf->sha256.substr(0, 16) : std::string("-"),
      leaf ? formatRfc3339(leaf->notAfter) : std::string("-"));
  log::info(kLogger, "webhook certificate rotated",
            {{"secret", secretName(options_.secret)},
             {"step", toString(plan.step)},
             {"reason", plan.reason},
             {"sha256", leaf ? leaf->sha256 : std::string()},
             {"notAfter", leaf ? formatRfc3339(leaf->notAfter) : std::string()}});
  if (options_.events != nullptr) {
    options_.events->event(*written, runtime::EventType::Normal, "CertificateRotated", message);
  }
  return now;  // next pass at once: caBundle follows the Secret
}

}  // namespace kubegrant::webhooks
