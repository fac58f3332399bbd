#pragma once

// The seal keyring, kept current from the Secret every replica reads. An informer watches
// that one Secret (informerOptions(): its namespace and a field selector on its name; the
// operator's manager shares it), so a rotation reaches every replica within a watch event,
// with no restart. A Secret that does not parse keeps the previous keys (and is
// logged, naming the line, never a key); a deleted Secret keeps them too: losing the keys
// would make every sealed decision unverifiable, which is worse than an old key.

#include <chrono>
#include <memory>
#include <string>

#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/kube/object.h"
#include "operator/runtime/informer.h"
#include "operator/seal/seal.h"

namespace kubegrant::seal {

// Where the keys are: Secret NAMESPACE/NAME, data entry `keys` (format: Keyring::parse).
struct SealKeysSecret {
  std::string namespace_ = "kubegrant-system";
  std::string name = "kubegrant-seal-keys";
  std::string key = "keys";
};

// "NAMESPACE/NAME" (as --seal-keys-secret takes it) -> SealKeysSecret; Invalid otherwise.
[[nodiscard]] Result<SealKeysSecret> parseSealKeysSecret(std::string_view text);

// The keyring in a Secret object (its data is base64, as the API server returns it).
[[nodiscard]] Result<Keyring> keyringFromSecret(const kube::Object& secret,
                                                const SealKeysSecret& ref);

class SecretKeyring {
 public:
  // What the informer on the Secret must be created with.
  static runtime::InformerOptions informerOptions(const SealKeysSecret& ref);

  // Adds its handler to `informer` (secrets, created with informerOptions(ref), not started
  // yet). The informer and the sealer must outlive this object.
  SecretKeyring(runtime::Informer& informer, HmacSealer& sealer, SealKeysSecret ref = {});
  // Blocks until keys are loaded or `timeout` passed; false with the reason in `why`.
  bool waitForKeys(std::chrono::milliseconds timeout, std::string* why = nullptr) const;
  // Ok once keys are loaded; Unavailable naming the Secret and what is wrong with it before.
  Result<void> ready() const;

 private:
  void load(const kube::Object& secret);

  HmacSealer& sealer_;
  SealKeysSecret ref_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string lastError_;
};

}  // namespace kubegrant::seal
