#pragma once

// Pure pieces the AccessRequest reconciler and the webhook need around the provider: the
// admin access from a DatabaseTarget and its Secrets, the data of the Secret handed to the
// requester, what a profile withholds and masks (for dry-run warnings), which kg_ roles are
// orphans, and the revocation backoff. No I/O.

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "controllers/database/provider.h"

namespace kubegrant::database {

using SecretData = std::map<std::string, std::string>;  // decoded Secret data

// The admin access to `target`: its host, port, database and sslMode, the username and
// password keys of its adminSecretRef Secret (`admin`), and key ca.crt of its caSecretRef
// Secret (`ca`, when the target names one). Invalid, naming the Secret and the key, when a
// key is missing or empty.
[[nodiscard]] Result<TargetAccess> targetAccess(const v1alpha1::DatabaseTarget& target,
                                                const SecretData& admin, const SecretData* ca);

// The data of the Secret `<request>-<target>` in the request's namespace: host, port, database,
// username, password, sslmode, uri (postgresql://user:password@host:port/database?sslmode=...),
// expiresAt (RFC 3339), and ca.crt when the target has a CA. The only place the password goes.
SecretData connectionSecretData(const v1alpha1::DatabaseTarget& target, const IssuedUser& user,
                                TimePoint expiresAt, const std::string& caPem);

// "Secret name" for a request and target: "<request>-<target>", or shortened with a hash to
// the 253 characters of a Secret name.
std::string connectionSecretName(std::string_view requestName, std::string_view target);

// The role's COMMENT: who it belongs to, so a database admin reading pg_roles can find the
// request (and the audit line maps the username to it).
std::string roleComment(std::string_view requestNamespace, std::string_view requestName,
                        std::string_view requestUid, std::string_view target);

// The columns a profile names as withheld ("schema.table.column") and masked
// ("schema.table.column (function)"), sorted, from the profile alone (no catalog).
struct ProfileColumns {
  std::vector<std::string> withheld;
  std::vector<std::string> masked;
};
ProfileColumns profileColumns(const v1alpha1::DatabaseProfile& profile);

// One line for admission warnings: what `profile` of `target` withholds and masks, e.g.
// "database orders-db/support: withheld public.customers.card_number; masked
// public.customers.email (email), public.customers.phone (partial)".
std::string profileSummary(std::string_view target, const v1alpha1::DatabaseProfile& profile);

// The kg_ roles of `listed` that belong to no live request: not in `live` (the roleNameFor of
// every request that is not terminal or still holds a DatabaseUser grant). Sorted.
std::vector<std::string> orphanRoles(const std::vector<DatabaseRole>& listed,
                                     const std::set<std::string>& live);

// The fingerprint of what an issued user of `profile` on `target` gets: the profile's grants
// (tables, privileges, excludeColumns, maskColumns) and the target's auditStatements, as 16
// hex characters of SHA-256 over their canonical JSON. Recorded in the request's
// status.grants when the user is issued; a different value later means the DatabaseTarget
// changed and the profile must be re-applied (CredentialProvider::reapplyProfile).
std::string profileHash(const v1alpha1::DatabaseTarget& target,
                        const v1alpha1::DatabaseProfile& profile);

// Delay before retry `attempt` (0-based) of a database revocation: 1 s, 2 s, 4 s, ... capped at
// 30 s. Revocation never gives up; only the delay is capped.
std::chrono::seconds revocationBackoff(int attempt);

}  // namespace kubegrant::database
