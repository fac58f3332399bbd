#include "controllers/database/postgres/libpq.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <atomic>
#include <mutex>

namespace kubegrant::database::postgres {
namespace {

std::mutex mu;
Libpq table;
std::atomic<const Libpq*> loaded{nullptr};

}  // namespace

Result<const Libpq*> loadLibpq() {
  if (const Libpq* l = loaded.load(std::memory_order_acquire)) return l;
  std::lock_guard lock(mu);
  if (const Libpq* l = loaded.load(std::memory_order_relaxed)) return l;
  // RTLD_LOCAL: libpq's symbols stay out of the global namespace. Never closed.
  void* handle = ::dlopen(kLibpqFile, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return fail(ErrorCode::Unavailable,
                fmt::format("cannot load {} (PostgreSQL's client library): {}", kLibpqFile,
                            why ? why : "unknown error"));
  }
  Libpq resolved;
#define KUBEGRANT_LIBPQ_RESOLVE(name)                                                          \
  resolved.name = reinterpret_cast<decltype(resolved.name)>(::dlsym(handle, #name));           \
  if (resolved.name == nullptr) {                                                              \
    return fail(ErrorCode::Unavailable,                                                        \
                fmt::format("{} has no {}: PostgreSQL's client library 14 or later is needed", \
                            kLibpqFile, #name));                                               \
  }
  KUBEGRANT_LIBPQ_FUNCTIONS(KUBEGRANT_LIBPQ_RESOLVE)
#undef KUBEGRANT_LIBPQ_RESOLVE
  table = resolved;
  loaded.store(&table, std::memory_order_release);
  return &table;
}

const Libpq& pq() { return *loaded.load(std::memory_order_acquire); }

}  // namespace kubegrant::database::postgres
