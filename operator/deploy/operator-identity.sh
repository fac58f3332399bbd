# Sourced by render-webhooks.sh and render-rbac.sh: the operator's identity, ONE value, as
# both take it (and kubegrant-operator's --operator-identity):
#   USERNAME                          e.g. kubegrant-operator (a client certificate's CN)
#   --service-account NAMESPACE/NAME  the in-cluster ServiceAccount, i.e. the username
#                                     system:serviceaccount:NAMESPACE:NAME
# Sets operator_username (what matchConditions compare and the webhook trusts) and
# operator_subject (the RBAC subject, as a YAML flow mapping). No group is ever trusted.
# The username goes into a CEL string literal, so only the characters Kubernetes usernames
# use in practice are accepted (letters, digits, and . _ @ : -); anything else is refused.
kg_operator_identity() {
  local dns='[a-z0-9]([-a-z0-9]*[a-z0-9])?'
  if [ "${1:-}" = "--service-account" ]; then
    [ $# -eq 2 ] || return 2
    [[ "$2" =~ ^($dns)/($dns)$ ]] || {
      echo "--service-account wants NAMESPACE/NAME (lowercase DNS names), got \"$2\"" >&2
      return 1
    }
    operator_username="system:serviceaccount:${2%%/*}:${2#*/}"
  elif [ $# -eq 1 ] && [ -n "$1" ] && [ "$1" != "--service-account" ]; then
    operator_username=$1
  else
    return 2
  fi
  [[ "$operator_username" =~ ^[A-Za-z0-9._@:-]+$ ]] || {
    echo "operator username \"$operator_username\" has characters other than letters," \
      "digits and . _ @ : -" >&2
    return 1
  }
  if [[ "$operator_username" =~ ^system:serviceaccount:($dns):($dns)$ ]]; then
    operator_subject="{kind: ServiceAccount, name: ${BASH_REMATCH[3]}, namespace: ${BASH_REMATCH[1]}}"
  else
    operator_subject="{kind: User, apiGroup: rbac.authorization.k8s.io, name: \"$operator_username\"}"
  fi
}
