#pragma once

// The pure part of kubectl-grant: what a command sends and what it shows, as functions of
// typed objects and the time. No I/O (commands.h does that), so all of it is unit-tested.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crds/v1alpha1/types.h"
#include "operator/common/clock.h"
#include "operator/common/result.h"
#include "operator/kubectl_grant/format.h"

namespace kubegrant::kubectl_grant {

using v1alpha1::AccessPolicy;
using v1alpha1::AccessRequest;
using v1alpha1::UserInfo;

// ---- request ---------------------------------------------------------------------------

// What `kubectl grant request` was given.
struct RequestFlags {
  std::string policy;
  std::vector<std::string> roles;         // NAME | KIND/NAME, optionally @ns[,ns...]
  std::vector<std::string> clusterRoles;  // NAME: a ClusterRole bound cluster-wide
  std::vector<std::string> databases;     // TARGET/PROFILE
  std::string duration;                   // "" = the policy's default
  std::string reason;
  std::string ticket;
  std::string startAt;  // RFC 3339, "" = now
  std::string name;     // "" = generated from the policy name
};

// "--role view@payments,staging" -> ClusterRole view in payments and staging. A role without
// a kind takes the kind the policy allows under that name (ClusterRole when the policy is not
// known or does not name it, so the webhook's message explains); a name the policy allows as
// both kinds needs one (Role/NAME or ClusterRole/NAME). Invalid naming the flag otherwise.
[[nodiscard]] Result<v1alpha1::RequestedRole> parseRoleFlag(std::string_view text,
                                                            const AccessPolicy* policy);
// "--db orders-db/readonly".
// --cluster-role NAME: ClusterRole NAME with scope Cluster (bound by a ClusterRoleBinding).
[[nodiscard]] Result<v1alpha1::RequestedRole> parseClusterRoleFlag(std::string_view text);
[[nodiscard]] Result<v1alpha1::RequestedDatabase> parseDatabaseFlag(std::string_view text);

// The AccessRequest to create in `ns` (spec.requester left out: the webhook stamps it).
[[nodiscard]] Result<AccessRequest> buildRequest(const RequestFlags& flags, std::string_view ns,
                                                 const AccessPolicy* policy);

// ---- list ------------------------------------------------------------------------------

// One line of `kubectl grant list`.
struct ListRow {
  std::string namespace_, name, requester, policy, roles, databases, phase, approvals, expiresIn;
};

// "view@payments Role/pod-debugger@payments" (ClusterRole is the default kind and not shown).
std::string rolesText(const AccessRequest& request);
// "orders-db/readonly".
std::string databasesText(const AccessRequest& request);
// "1/2": approvals that count under the policy / required; "1/?" when the policy is unknown
// (then every Approve entry is counted).
std::string approvalsText(const AccessRequest& request, const AccessPolicy* policy);
// Time left while Active ("1h59m"), "-" otherwise.
std::string expiresInText(const AccessRequest& request, TimePoint now);
// The phase, "Pending" before the operator has written one.
std::string phaseText(const AccessRequest& request);

ListRow toRow(const AccessRequest& request, const AccessPolicy* policy, TimePoint now);
std::string renderList(const std::vector<ListRow>& rows, bool withNamespace, const Style& style);

// --mine: the caller asked for it.
bool isMine(const AccessRequest& request, const UserInfo& caller);
// --to-approve: Pending, and the caller may decide on it now: an approver of its policy, not
// its requester, not decided on it before (v1alpha1::mayApprove).
bool awaitsDecisionBy(const AccessRequest& request, const AccessPolicy& policy,
                      const UserInfo& caller);

// ---- request --wait --------------------------------------------------------------------

// The one-line live status: name, phase, approvals, time waited, the operator's message.
std::string waitLine(const AccessRequest& request, const AccessPolicy* policy,
                     std::chrono::nanoseconds waited, const Style& style);

// What the plugin read from an issued database Secret: never the password.
struct DatabaseSecret {
  std::string host, port, database, username, sslmode;
  bool hasCa = false;
};

// Ready-to-run psql lines for the Secret `ns/name` of a granted database. With the Secret's
// non-secret keys, a connection string whose password comes from the Secret at run time
// (PGPASSWORD, never on the command line or in the plugin's output); without them, one built
// from its `uri` key. `kubectlFlags` (e.g. " --context prod") are repeated in the commands.
std::vector<std::string> psqlCommands(std::string_view ns, std::string_view secretName,
                                      const std::optional<DatabaseSecret>& secret,
                                      std::string_view kubectlFlags);

// How to use an Active request: until when, each role in each namespace with a kubectl
// command to try, each database's Secret and psql command. `secrets` by Secret name.
std::string accessInstructions(const AccessRequest& request, TimePoint now,
                               const std::map<std::string, DatabaseSecret>& secrets,
                               std::string_view kubectlFlags, const Style& style);

// ---- describe --------------------------------------------------------------------------

// A core/v1 Event about the request.
struct EventInfo {
  TimePoint time{};
  std::string type, reason, message;
  int count = 1;
};
// From an Event's JSON (lastTimestamp, else eventTime, else firstTimestamp); nullopt when it
// carries no time.
std::optional<EventInfo> eventFromJson(const nlohmann::json& event);

struct TimelineEntry {
  TimePoint time{};
  std::string what;  // "requested by alice", "Approve by bob: ok", "event Granted: ..."
  int stage = 0;     // lifecycle order, breaks ties at the same second (timestamps are coarse)
};
// Everything that happened, oldest first: creation, each decision, the phase milestones from
// status (approved, active, ended) and the Events. API timestamps have whole seconds, so entries
// at the same second are ordered by lifecycle stage: requested, its Event, the decisions,
// approved, its Event, active, its Event, ended, then any other Event.
std::vector<TimelineEntry> timeline(const AccessRequest& request,
                                    const std::vector<EventInfo>& events);

// The whole story. `eventsNote` replaces the Events when they could not be read.
std::string renderDescribe(const AccessRequest& request, const AccessPolicy* policy,
                           const std::vector<EventInfo>& events,
                           const std::optional<std::string>& eventsNote, TimePoint now,
                           const Style& style);

// ---- whoami ----------------------------------------------------------------------------

// `policies` nullptr: they could not be read (only the identity is shown).
std::string renderWhoami(const UserInfo& user, const std::vector<AccessPolicy>* policies,
                         const Style& style);
nlohmann::json whoamiJson(const UserInfo& user, const std::vector<AccessPolicy>& policies);

}  // namespace kubegrant::kubectl_grant
