#include "controllers/access_request/effects.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace kubegrant::controllers::access_request {

std::string describe(const Effect& effect) {
  struct {
    std::string operator()(const EnsureRoleBinding& e) const {
      return fmt::format("ensure RoleBinding {}/{} ({} {} for {})", e.binding.namespace_,
                         e.binding.name, v1::toString(e.binding.roleKind), e.binding.roleName,
                         e.binding.user);
    }
    std::string operator()(const RemoveRoleBinding& e) const {
      return fmt::format("remove RoleBinding {}{}", e.key.toString(),
                         e.recorded ? "" : " (if labelled with the request's uid)");
    }
    std::string operator()(const EnsureTemporaryRole& e) const {
      return isClusterRole(e.role)
                 ? fmt::format("ensure ClusterRole {} ({} rules)", e.role.name, e.role.rules.size())
                 : fmt::format("ensure Role {}/{} ({} rules)", e.role.namespace_, e.role.name,
                               e.role.rules.size());
    }
    std::string operator()(const EnsureDatabaseUser& e) const {
      return fmt::format("ensure database user on {} (profile {}){}", e.target, e.profile,
                         e.keep ? ", kept as issued" : "");
    }
    std::string operator()(const ReapplyDatabaseProfile& e) const {
      return fmt::format("re-apply profile {} of {} to database user {}", e.profile, e.target,
                         e.role);
    }
    std::string operator()(const RemoveLabelled& e) const {
      const char* kind = e.kind == LabelledKind::Secret ? "Secret"
                         : e.kind == LabelledKind::Role ? "Role"
                                                        : "ClusterRole";
      return fmt::format("remove {} {} (if labelled with the request's uid)", kind,
                         e.key.toString());
    }
    std::string operator()(const RevokeDatabaseUsers& e) const {
      std::vector<std::string> users;
      for (const auto& u : e.users) users.push_back(u.target + "/" + u.role);
      return fmt::format("revoke database users [{}]", fmt::join(users, ", "));
    }
    std::string operator()(const WriteStatus& e) const {
      return fmt::format("write status {}",
                         v1::toString(e.status.phase.value_or(v1::Phase::Pending)));
    }
    std::string operator()(const DeleteRequest&) const { return "delete the request"; }
    std::string operator()(const Record& e) const {
      return fmt::format("record {} ({} {})", toString(e.event), e.type, e.reason);
    }
    std::string operator()(const CountTransition& e) const {
      return fmt::format("count transition to {}", v1::toString(e.phase));
    }
    std::string operator()(const ObserveLatency& e) const {
      return e.metric == Latency::ApprovalToActive ? "observe approval-to-active latency"
                                                   : "observe expiry lag";
    }
    std::string operator()(const Notify& e) const {
      return fmt::format("notify {} ({})", e.notification.event, e.notification.id);
    }
  } visitor;
  return std::visit(visitor, effect);
}

std::vector<std::string> describe(const std::vector<Effect>& effects) {
  std::vector<std::string> out;
  out.reserve(effects.size());
  for (const auto& e : effects) out.push_back(describe(e));
  return out;
}

bool Plan::grants() const {
  return std::any_of(effects.begin(), effects.end(), [](const Effect& e) {
    return std::holds_alternative<EnsureRoleBinding>(e) ||
           std::holds_alternative<EnsureTemporaryRole>(e) ||
           std::holds_alternative<EnsureDatabaseUser>(e);
  });
}

}  // namespace kubegrant::controllers::access_request
