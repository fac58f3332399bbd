#include "controllers/database/postgres/libpq.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <mutex>

namespace kubegrant::database::postgres {
namespace {

std::mutex mu;
std::weak_ptr<const Libpq> current;  // guarded by mu

struct Unloader {
  void* handle;
  void operator()(const Libpq* table) const {
    delete table;
    // The last Connection has closed (each holds a reference): nothing calls into the pages
    // unmapped here. A loadLibpq() that dlopen()ed it again meanwhile holds glibc's own count,
    // so for it the library stays.
    ::dlclose(handle);
  }
};

}  // namespace

Result<LibpqRef> loadLibpq() {
  std::lock_guard lock(mu);
  if (auto held = current.lock()) return held;
  // RTLD_LOCAL: libpq's symbols stay out of the global namespace.
  void* handle = ::dlopen(kLibpqFile, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return fail(ErrorCode::Unavailable,
                fmt::format("cannot load {} (PostgreSQL's client library): {}", kLibpqFile,
                            why ? why : "unknown error"));
  }
  auto resolved = std::make_unique<Libpq>();
#define KUBEGRANT_LIBPQ_RESOLVE(name)                                                          \
  resolved->name = reinterpret_cast<decltype(resolved->name)>(::dlsym(handle, #name));         \
  if (resolved->name == nullptr) {                                                             \
    ::dlclose(handle);                                                                         \
    return fail(ErrorCode::Unavailable,                                                        \
                fmt::format("{} has no {}: PostgreSQL's client library 14 or later is needed", \
                            kLibpqFile, #name));                                               \
  }
  KUBEGRANT_LIBPQ_FUNCTIONS(KUBEGRANT_LIBPQ_RESOLVE)
#undef KUBEGRANT_LIBPQ_RESOLVE
  LibpqRef held(resolved.release(), Unloader{handle});
  current = held;
  return held;
}

bool libpqLoaded() {
  std::lock_guard lock(mu);
  return !current.expired();
}

}  // namespace kubegrant::database::postgres
