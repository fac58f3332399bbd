#include "controllers/database/postgres/connection_pool.h"

#include <fmt/format.h>

#include "operator/common/crypto.h"

namespace kubegrant::database::postgres {

namespace {

std::string keyOf(const TargetAccess& a, const std::string& caFile) {
  return sha256Hex(fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", a.target, a.host, a.port,
                               a.database, a.sslMode, caFile, a.adminUser, a.adminPassword.reveal(),
                               a.statementTimeout.count()));
}

}  // namespace

Result<ConnectionPool::Lease> ConnectionPool::acquire(const TargetAccess& access,
                                                      const std::string& caFile, bool fresh) {
  std::string key = keyOf(access, caFile);
  if (!fresh && options_.maxIdlePerTarget > 0) {
    std::unique_lock lock(mu_);
    auto it = idle_.find(key);
    const auto now = std::chrono::steady_clock::now();
    while (it != idle_.end() && !it->second.empty()) {
      Idle idle = std::move(it->second.back());
      it->second.pop_back();
      if (now - idle.since <= options_.maxIdle) {
        return Lease{std::move(idle.conn), std::move(key), true};
      }
      // Too old: closed (outside the lock would be nicer, but PQfinish does not block).
    }
  }
  const auto serverIdle = options_.maxIdlePerTarget > 0
                              ? std::optional(options_.maxIdle + std::chrono::seconds(10))
                              : std::nullopt;
  auto conn = Connection::open(access, caFile, serverIdle);
  if (!conn) return fail(conn.error());
  return Lease{std::move(*conn), std::move(key), false};
}

void ConnectionPool::release(Lease lease) {
  if (options_.maxIdlePerTarget == 0 || !lease.conn.idle()) return;
  std::lock_guard lock(mu_);
  auto& list = idle_[lease.key];
  if (list.size() >= options_.maxIdlePerTarget) return;
  list.push_back(Idle{std::move(lease.conn), std::chrono::steady_clock::now()});
}

size_t ConnectionPool::closeIdle() {
  std::map<std::string, std::vector<Idle>> closing;
  {
    std::lock_guard lock(mu_);
    closing.swap(idle_);
  }
  size_t n = 0;
  for (const auto& [key, list] : closing) n += list.size();
  return n;  // closed here, outside the lock, as `closing` goes
}

size_t ConnectionPool::idleCount() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace kubegrant::database::postgres
