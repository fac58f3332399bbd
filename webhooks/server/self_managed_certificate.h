#pragma once

// The self-managed webhook serving certificate (the chart's default,
// webhook.certificate.mode: self-managed): the operator makes its own CA and serving
// certificate, keeps them in one Secret, renews them before they expire and puts the CA into
// both webhook configurations' caBundle. No cert-manager, no Helm-generated certificate that
// never renews.
//
//  - Every replica: SecretCertificateSource watches that one Secret (an informer with a field
//    selector on its name) and swaps the pair its HTTPS server presents for every new
//    connection (TlsMaterial::setPem): no restart, no dropped connection. /readyz waits for
//    the first pair.
//  - The leader only: CertificateRotator reads the Secret, patches caBundle of the two webhook
//    configurations to ca.crt (a JSON patch guarded by a `test` of resourceVersion: only
//    those two objects, only their caBundle), then applies one step of planRotation()
//    (certificate_plan.h), writing the Secret with create (AlreadyExists: another replica
//    won; read again) or update at the resourceVersion read (Conflict: read again). Replicas
//    agree on one certificate because only the leader writes it. A new CA is trusted in
//    caBundle (old and new CA both, until the old one expires) before any serving
//    certificate it signed is written. Each rotation is logged, counted
//    (kubegrant_webhook_certificate_rotations_total{step}) and recorded as an Event on the
//    Secret.
//
// Metrics: kubegrant_webhook_certificate_expiry_timestamp_seconds{certificate="serving"} is the
// notAfter of the certificate this replica serves (Unix seconds), and {certificate="ca"} that
// of the CA in caBundle that expires last.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "operator/common/clock.h"
#include "operator/common/metrics.h"
#include "operator/common/result.h"
#include "operator/kube/client.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/informer.h"
#include "operator/runtime/runnable.h"
#include "webhooks/server/certificate_plan.h"
#include "webhooks/server/tls.h"

namespace kubegrant::webhooks {

struct CertificateSecretRef {
  std::string namespace_;
  std::string name;
};

// The informer every replica needs on the Secret (its namespace, metadata.name=NAME).
runtime::InformerOptions certificateSecretInformerOptions(const CertificateSecretRef& ref);

// The data entries of a Secret object as the API server returns it (base64).
CertificateSecretData certificateSecretData(const kube::Object& secret);

class SecretCertificateSource {
 public:
  // Adds its handler to `informer` (created with certificateSecretInformerOptions(ref), not
  // started yet). The informer, `tls` and `metrics` (may be null) must outlive this object.
  SecretCertificateSource(runtime::Informer& informer, std::shared_ptr<TlsMaterial> tls,
                          CertificateSecretRef ref, metrics::Registry* metrics);
  // Ok once a pair is served; Unavailable naming the Secret before.
  Result<void> ready() const;

 private:
  void load(const kube::Object& secret);

  std::shared_ptr<TlsMaterial> tls_;
  CertificateSecretRef ref_;
  metrics::Gauge* servingExpiry_ = nullptr;
  metrics::Counter* reloads_ = nullptr;
  mutable std::mutex mu_;
  std::string served_;  // sha256 of the leaf served
  std::string lastError_;
};

struct CertificateRotatorOptions {
  CertificateSecretRef secret;
  CertificateSettings settings;
  // Both webhook configurations (mutating and validating) have this name; "" = caBundle is
  // managed elsewhere.
  std::string webhookConfigurationName;
  // How long after caBundle changed a serving certificate from a new CA may be written: the
  // API server reads webhook configurations through a watch.
  std::chrono::milliseconds caPropagation{std::chrono::seconds(2)};
  // Looks again at least this often (caBundle reset by `helm upgrade`, Secret edited).
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  metrics::Registry* metrics = nullptr;
  runtime::EventRecorder* events = nullptr;
};

class CertificateRotator final : public runtime::Runnable {
 public:
  // `secretInformer` (the one SecretCertificateSource uses) wakes the rotator when the Secret
  // changes. The client, clock, informer, metrics and recorder must outlive this object.
  CertificateRotator(kube::Client& client, Clock& clock, runtime::Informer& secretInformer,
                     CertificateRotatorOptions options);
  ~CertificateRotator() override;

  Result<void> start() override;
  void stop() override;

  // One pass (read, caBundle, one step); when to run the next. For tests and the loop.
  TimePoint reconcileOnce();

 private:
  Result<bool> syncCaBundle(const std::string& caBundlePem);
  Result<bool> patchCaBundle(bool mutating, const std::string& caBundle);
  Result<kube::Object> write(const std::optional<kube::Object>& existing,
                             const CertificateSecretData& d);
  void run(std::stop_token stop);

  kube::Client& client_;
  Clock& clock_;
  CertificateRotatorOptions options_;
  metrics::Family<metrics::Counter>* rotations_ = nullptr;
  metrics::Gauge* caExpiry_ = nullptr;
  TimePoint caBundleChangedAt_{};
  std::chrono::milliseconds backoff_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  std::jthread thread_;
};

}  // namespace kubegrant::webhooks
