#include "controllers/access_request/notifications.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "operator/common/log.h"
#include "operator/common/time.h"

namespace kubegrant::controllers::access_request {
namespace {

v1::Phase phaseOf(const v1::AccessRequest& r) {
  return r.status && r.status->phase ? *r.status->phase : v1::Phase::Pending;
}

seal::CanonicalForm notifiedForm(const std::string& uid, const std::set<std::string>& events) {
  seal::CanonicalForm form("notified");
  form.add("uid", uid).addSet("events", {events.begin(), events.end()});
  return form;
}

std::vector<std::string> splitComma(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    auto part = s.substr(0, comma);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

nlohmann::json timeOf(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return formatRfc3339(*t);
}

// Who approved (or denied) so far, in decision order.
std::vector<std::string> deciders(const v1::AccessRequest& r, v1::Decision decision) {
  std::vector<std::string> out;
  if (!r.status) return out;
  for (const auto& a : r.status->approvals) {
    if (a.decision == decision && a.approver &&
        std::find(out.begin(), out.end(), *a.approver) == out.end()) {
      out.push_back(*a.approver);
    }
  }
  return out;
}

std::string subjectsText(const v1::Subjects& s) {
  std::vector<std::string> parts;
  if (!s.users.empty()) parts.push_back(fmt::format("users {}", fmt::join(s.users, ", ")));
  if (!s.groups.empty()) parts.push_back(fmt::format("groups {}", fmt::join(s.groups, ", ")));
  return parts.empty() ? "nobody" : fmt::format("{}", fmt::join(parts, " or "));
}

std::string whatText(const v1::AccessRequest& r) {
  std::vector<std::string> parts;
  for (const auto& role : r.spec.roles) {
    if (role.scope == v1::RoleScope::Cluster) {
      parts.push_back(fmt::format("{} {} cluster-wide", v1::toString(role.kind), role.name));
    } else {
      const auto& ns = role.namespaces.empty() ? std::vector<std::string>{r.metadata.namespace_}
                                               : role.namespaces;
      parts.push_back(
          fmt::format("{} {} in {}", v1::toString(role.kind), role.name, fmt::join(ns, ", ")));
    }
  }
  for (const auto& d : r.spec.databases)
    parts.push_back(fmt::format("database {}/{}", d.target, d.profile));
  return parts.empty() ? "nothing" : fmt::format("{}", fmt::join(parts, "; "));
}

std::string outcomeOf(v1::Phase phase) {
  switch (phase) {
    case v1::Phase::Expired:
      return "expired";
    case v1::Phase::Revoked:
      return "revoked";
    case v1::Phase::Failed:
      return "failed";
    case v1::Phase::Denied:
      return "denied";
    default:
      return "";
  }
}

std::string textFor(std::string_view event, const v1::AccessRequest& r,
                    const v1::AccessPolicy* policy, TimePoint now) {
  const std::string who = r.spec.requester ? r.spec.requester->username : "?";
  const std::string name = r.metadata.namespace_ + "/" + r.metadata.name;
  const bool breakGlass = r.status && r.status->breakGlass.value_or(false);
  const std::string prefix = breakGlass ? "[kubegrant BREAK-GLASS] " : "[kubegrant] ";
  std::string why;
  if (r.spec.reason) why += fmt::format(" Reason: {}.", *r.spec.reason);
  if (r.spec.ticket) why += fmt::format(" Ticket: {}.", *r.spec.ticket);
  if (event == "created") {
    std::string approval =
        policy == nullptr ? ""
        : policy->spec.approval.required == 0
            ? " No approval is needed."
            : fmt::format(" Needs {} approval(s) from {}.", policy->spec.approval.required,
                          subjectsText(policy->spec.approval.approvers));
    return fmt::format("{}{} requests {} for {} under policy {} ({}).{}{}", prefix, who,
                       whatText(r), r.spec.duration.value_or("the default duration"), r.spec.policy,
                       name, why, approval);
  }
  if (event == "approved") {
    auto by = deciders(r, v1::Decision::Approve);
    return fmt::format("{}Access of {} ({}) approved {}.", prefix, who, name,
                       breakGlass   ? "automatically (break-glass)"
                       : by.empty() ? "automatically (no approval needed)"
                                    : fmt::format("by {}", fmt::join(by, ", ")));
  }
  if (event == "denied") {
    return fmt::format("{}Access of {} ({}) denied by {}.", prefix, who, name,
                       fmt::join(deciders(r, v1::Decision::Deny), ", "));
  }
  const std::string expires =
      r.status && r.status->expiresAt ? formatRfc3339(*r.status->expiresAt) : "?";
  if (event == "breakglass") {
    return fmt::format(
        "{}{} used break-glass under policy {}: {} ({}) is active without approval "
        "until {}.{}",
        prefix, who, r.spec.policy, whatText(r), name, expires, why);
  }
  if (event == "active") {
    return fmt::format("{}{} now has {} ({}) until {}.{}", prefix, who, whatText(r), name, expires,
                       why);
  }
  if (event == "expiring") {
    const long left =
        r.status && r.status->expiresAt
            ? std::max<long>(0, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                      *r.status->expiresAt - now)
                                                      .count()))
            : 0;
    const std::string in =
        left >= 60 ? fmt::format("{} min", left / 60) : fmt::format("{} s", left);
    return fmt::format("{}Access of {} ({}) expires in {}, at {}.", prefix, who, name, in, expires);
  }
  const std::string message = r.status && r.status->message ? *r.status->message : "";
  return fmt::format("{}Access of {} ({}) ended: {}.{}", prefix, who, name, outcomeOf(phaseOf(r)),
                     message.empty() ? "" : " " + message);
}

}  // namespace

std::set<std::string> deliveredEvents(const v1::AccessRequest& request,
                                      const seal::Sealer* sealer) {
  auto it = request.metadata.annotations.find(std::string(kNotifiedAnnotation));
  if (it == request.metadata.annotations.end()) return {};
  std::string_view value = it->second;
  auto semi = value.find(';');
  auto list = splitComma(value.substr(0, semi));
  std::set<std::string> events(list.begin(), list.end());
  if (sealer == nullptr) return events;
  if (semi == std::string_view::npos) return {};
  if (!sealer->verify(notifiedForm(request.metadata.uid, events), value.substr(semi + 1))) {
    return {};
  }
  return events;
}

Result<std::string> notifiedValue(const std::string& uid, const std::set<std::string>& events,
                                  const seal::Sealer* sealer) {
  std::string value = fmt::format("{}", fmt::join(events, ","));
  if (sealer == nullptr) return value;
  auto s = sealer->seal(notifiedForm(uid, events));
  if (!s) return std::unexpected(s.error());
  return value + ";" + *s;
}

nlohmann::json lifecycleBody(std::string_view event, const v1::AccessRequest& r,
                             const v1::AccessPolicy* policy, TimePoint now) {
  using nlohmann::json;
  json roles = json::array();
  for (const auto& role : r.spec.roles) {
    json e = {{"kind", v1::toString(role.kind)},
              {"name", role.name},
              {"scope", v1::toString(role.scope)}};
    e["namespaces"] = role.scope == v1::RoleScope::Cluster ? std::vector<std::string>{}
                      : role.namespaces.empty() ? std::vector<std::string>{r.metadata.namespace_}
                                                : role.namespaces;
    roles.push_back(std::move(e));
  }
  json databases = json::array();
  for (const auto& d : r.spec.databases)
    databases.push_back({{"target", d.target}, {"profile", d.profile}});
  json approvers;
  if (event == "created") {
    // Who must approve: the policy's approvers and how many are needed.
    approvers = {
        {"required", policy ? policy->spec.approval.required : 0},
        {"users", policy ? policy->spec.approval.approvers.users : std::vector<std::string>{}},
        {"groups", policy ? policy->spec.approval.approvers.groups : std::vector<std::string>{}}};
  } else {
    approvers = {{"approvedBy", deciders(r, v1::Decision::Approve)},
                 {"deniedBy", deciders(r, v1::Decision::Deny)}};
  }
  const auto* st = r.status ? &*r.status : nullptr;
  json times = {{"created", timeOf(r.metadata.creationTimestamp)}};
  if (st) {
    times["approved"] = timeOf(st->approvedAt);
    times["activated"] = timeOf(st->activatedAt);
    times["expires"] = timeOf(st->expiresAt);
    times["ended"] = timeOf(st->endedAt);
  }
  json body = {
      {"text", textFor(event, r, policy, now)},
      {"event", event},
      {"request",
       {{"namespace", r.metadata.namespace_}, {"name", r.metadata.name}, {"uid", r.metadata.uid}}},
      {"namespace", r.metadata.namespace_},
      {"requester", r.spec.requester ? r.spec.requester->username : ""},
      {"policy", r.spec.policy},
      {"roles", std::move(roles)},
      {"databases", std::move(databases)},
      {"approvers", std::move(approvers)},
      {"reason", r.spec.reason.value_or("")},
      {"ticket", r.spec.ticket.value_or("")},
      {"duration", r.spec.duration.value_or("")},
      {"times", std::move(times)},
      {"phase", v1::toString(phaseOf(r))},
      {"breakGlass", st && st->breakGlass.value_or(false)},
      {"sentAt", formatRfc3339(now)},
  };
  if (event == "ended" || event == "denied") {
    body["outcome"] = outcomeOf(phaseOf(r));
    body["message"] = st && st->message ? *st->message : "";
  }
  return body;
}

void planNotifications(const v1::AccessRequest& r, const v1::AccessPolicy* policy, TimePoint now,
                       const NotifyContext& context, std::vector<Effect>& out,
                       std::optional<TimePoint>& requeueAt) {
  if (!r.status || !r.status->phase) return;
  std::vector<notify::Receiver> receivers;
  if (policy != nullptr) {
    for (const auto& n : policy->spec.notify) receivers.push_back({n.name, n.urlSecretRef});
  }
  if (!context.options.operatorWide && receivers.empty()) return;
  const auto& st = *r.status;
  const v1::Phase phase = *st.phase;
  auto owe = [&](const char* event, std::optional<TimePoint> at) {
    if (context.delivered.count(event) != 0) return;
    if (at && *at < now - context.options.maxAge) return;  // too old to tell now
    notify::Notification n;
    n.id = fmt::format("{}.{}", r.metadata.uid, event);
    n.event = event;
    n.body = lifecycleBody(event, r, policy, now).dump();
    n.receivers = receivers;
    n.subject = notify::Subject{r.metadata.namespace_, r.metadata.name, r.metadata.uid};
    out.push_back(Notify{std::move(n)});
  };
  owe("created", r.metadata.creationTimestamp);
  if (st.approvedAt) owe("approved", st.approvedAt);
  if (st.activatedAt) owe("active", st.activatedAt);
  // Break-glass activation is always its own notification, whatever receivers filter on.
  if (st.activatedAt && st.breakGlass.value_or(false)) owe("breakglass", st.activatedAt);
  if (phase == v1::Phase::Denied) owe("denied", st.endedAt);
  if (phase == v1::Phase::Expired || phase == v1::Phase::Revoked || phase == v1::Phase::Failed) {
    owe("ended", st.endedAt);
  }
  if (phase == v1::Phase::Active && st.expiresAt && context.delivered.count("expiring") == 0) {
    const TimePoint due = *st.expiresAt - context.options.expiringLead;
    if (now >= due && now < *st.expiresAt) {
      owe("expiring", due);
    } else if (now < due && (!requeueAt || due < *requeueAt)) {
      requeueAt = due;
    }
  }
}

NotificationLedger::NotificationLedger(kube::Client& client,
                                       std::shared_ptr<const seal::Sealer> sealer,
                                       std::string fieldManager)
    : client_(client), sealer_(std::move(sealer)), fieldManager_(std::move(fieldManager)) {}

Result<void> NotificationLedger::record(const notify::Notification& delivered) {
  if (!delivered.subject) return ok();
  const auto& s = *delivered.subject;
  for (int attempt = 0;; ++attempt) {
    auto got = client_.get(kube::resources::accessRequests(), {s.namespace_, s.name});
    if (!got) {
      if (got.error().code == ErrorCode::NotFound) return ok();
      return std::unexpected(got.error());
    }
    auto request = v1::fromJson<v1::AccessRequest>(got->body);
    if (!request) return std::unexpected(request.error());
    if (request->metadata.uid != s.uid) return ok();
    auto events = deliveredEvents(*request, sealer_.get());
    if (!events.insert(delivered.event).second) return ok();
    auto value = notifiedValue(s.uid, events, sealer_.get());
    if (!value) return std::unexpected(value.error());
    // A merge patch carrying the resourceVersion it was read at: a concurrent change is a
    // Conflict (re-read and retry), never a lost event.
    nlohmann::json patch = {{"metadata",
                             {{"resourceVersion", request->metadata.resourceVersion},
                              {"annotations", {{std::string(kNotifiedAnnotation), *value}}}}}};
    kube::PatchOptions po;
    po.fieldManager = fieldManager_;
    auto r = client_.patch(kube::resources::accessRequests(), {s.namespace_, s.name},
                           kube::PatchType::Merge, patch, po);
    if (r) return ok();
    if (r.error().code == ErrorCode::NotFound) return ok();
    if (r.error().code != ErrorCode::Conflict || attempt >= 4) return std::unexpected(r.error());
  }
}

}  // namespace kubegrant::controllers::access_request
