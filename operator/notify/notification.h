#pragma once

// A notification: one JSON POST to every receiver it names (issue 14). What is in the body is
// decided by whoever builds it (controllers/access_request/notifications.h for lifecycle
// events, webhooks for security denials); this folder only delivers, signs and retries.

#include <optional>
#include <string>
#include <vector>

#include "crds/v1alpha1/types.h"

namespace kubegrant::notify {

// Where one notification goes: the operator-wide --notify-url (no urlSecretRef), or a policy's
// receiver whose URL is read from a Secret at delivery time (a webhook URL is a credential).
struct Receiver {
  std::string name;  // "default" for --notify-url; the policy's receiver name otherwise
  std::optional<v1alpha1::SecretKeyReference> urlSecretRef;
  bool operator==(const Receiver&) const = default;
};

inline constexpr const char* kDefaultReceiver = "default";

// The AccessRequest a lifecycle notification is about: once every receiver has it, the
// operator records the event as delivered on the request (see notifications.h).
struct Subject {
  std::string namespace_;
  std::string name;
  std::string uid;
  bool operator==(const Subject&) const = default;
};

struct Notification {
  // Stable across retries, restarts and replicas ("<request uid>.<event>", or
  // "<admission review uid>.security"): the X-Kubegrant-Id header, so receivers drop duplicates.
  std::string id;
  std::string event;  // created, approved, denied, active, breakglass, expiring, ended, security
  std::string body;   // the JSON document posted
  // Policy receivers; the operator-wide one (when configured) is added by the dispatcher.
  std::vector<Receiver> receivers;
  std::optional<Subject> subject;  // lifecycle notifications only
  bool operator==(const Notification&) const = default;
};

// Takes notifications for delivery. Never blocks and never fails the caller: a notification
// that cannot be queued is dropped, counted and logged, and send() returns false.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual bool send(Notification notification) = 0;
};

}  // namespace kubegrant::notify
