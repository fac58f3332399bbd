#pragma once

// Lifecycle notifications of an AccessRequest (issue 14), derived from its status, so that
// none is lost when the operator dies between a status write and a delivery.
//
// At least once, across restarts and leader changes: what a request owes is a pure function of
// its status (created once it has a phase, approved once approvedAt is set, active once
// activatedAt is, breakglass once a break-glass request is active, denied/ended once it is
// terminal, expiring once `expiringLead` before expiresAt while Active), minus what the annotation
// kubegrant.io/notified records as delivered. Every reconcile plans the owed ones (plan.h, after
// the status write); the dispatcher delivers them and, once every receiver has one,
// NotificationLedger adds its event to the annotation. A leader that dies after the status write
// but before the delivery leaves the event owed; the next leader's first reconcile of the request
// (every request is reconciled at startup) plans it again. A leader that dies after the delivery
// but before the annotation sends it again, with the same id (<uid>.<event>), which receivers drop.
// The annotation is sealed with the operator's key over (uid, events): a requester who writes it to
// silence notifications only causes duplicates, never suppression. Events older than `maxAge` are
// not sent late (an upgrade does not replay every retained request's history).

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controllers/access_request/effects.h"
#include "operator/kube/client.h"
#include "operator/seal/seal.h"

namespace kubegrant::controllers::access_request {

inline constexpr std::string_view kNotifiedAnnotation = "kubegrant.io/notified";

struct NotifyOptions {
  // --notify-url is set: every request notifies (else only those whose policy has receivers).
  bool operatorWide = false;
  Duration expiringLead = std::chrono::minutes(10);  // --notify-expiring-lead
  Duration maxAge = std::chrono::hours(24);
};

// What plan() needs: the options, and the events already delivered (deliveredEvents()).
struct NotifyContext {
  NotifyOptions options;
  std::set<std::string> delivered;
};

// The events recorded in the request's kubegrant.io/notified annotation, when its seal
// verifies for the request's uid (any value, when `sealer` is null); else none.
std::set<std::string> deliveredEvents(const v1::AccessRequest& request, const seal::Sealer* sealer);

// The annotation value recording `events` for `uid`: "created,approved;<seal>" (no seal part
// when `sealer` is null).
[[nodiscard]] Result<std::string> notifiedValue(const std::string& uid,
                                                const std::set<std::string>& events,
                                                const seal::Sealer* sealer);

// The body of a lifecycle notification (event: created, approved, denied, active, expiring,
// ended, breakglass): a Slack/Mattermost `text` and the structured fields. Built from the request
// and its policy only, which hold no secret.
nlohmann::json lifecycleBody(std::string_view event, const v1::AccessRequest& request,
                             const v1::AccessPolicy* policy, TimePoint now);

// Appends a Notify effect for every event `request` (its status as written) owes and that is
// not delivered, and lowers `requeueAt` to when the expiring notification becomes due.
void planNotifications(const v1::AccessRequest& request, const v1::AccessPolicy* policy,
                       TimePoint now, const NotifyContext& context, std::vector<Effect>& out,
                       std::optional<TimePoint>& requeueAt);

// Records a delivered lifecycle notification on its request (the annotation above): read,
// add, write at that resourceVersion, retried on Conflict. A request that is gone or was
// recreated (another uid) is left alone.
class NotificationLedger {
 public:
  NotificationLedger(kube::Client& client, std::shared_ptr<const seal::Sealer> sealer,
                     std::string fieldManager = "kubegrant-operator");
  [[nodiscard]] Result<void> record(const notify::Notification& delivered);

 private:
  kube::Client& client_;
  std::shared_ptr<const seal::Sealer> sealer_;
  std::string fieldManager_;
};

}  // namespace kubegrant::controllers::access_request
