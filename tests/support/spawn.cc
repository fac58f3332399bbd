#include "tests/support/spawn.h"

#include <cstring>
#include <utility>

extern char** environ;

namespace kubegrant::testing {

Spawn::Spawn(std::vector<std::string> argv) : argv_(std::move(argv)) {
  posix_spawn_file_actions_init(&actions_);
  posix_spawnattr_init(&attr_);
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_.emplace_back(*e);
}

Spawn::~Spawn() {
  posix_spawn_file_actions_destroy(&actions_);
  posix_spawnattr_destroy(&attr_);
}

Spawn& Spawn::dup(int fd, int target) {
  posix_spawn_file_actions_adddup2(&actions_, fd, target);
  return *this;
}

Spawn& Spawn::open(int target, const std::string& path, int flags, mode_t mode) {
  posix_spawn_file_actions_addopen(&actions_, target, path.c_str(), flags, mode);
  return *this;
}

Spawn& Spawn::chdir(const std::string& dir) {
  posix_spawn_file_actions_addchdir_np(&actions_, dir.c_str());
  return *this;
}

Spawn& Spawn::env(const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    // NAME=VALUE sets NAME; a bare NAME removes it (as putenv does).
    const auto eq = entry.find('=');
    const std::string prefix = entry.substr(0, eq) + "=";
    std::erase_if(env_, [&](const std::string& e) { return e.starts_with(prefix); });
    if (eq != std::string::npos) env_.push_back(entry);
  }
  return *this;
}

Spawn& Spawn::newSession() {
  posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSID);
  return *this;
}

pid_t Spawn::start(std::string* error) {
  std::vector<char*> argv, envp;
  for (auto& a : argv_) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &actions_, &attr_, argv.data(), envp.data());
  if (rc != 0) {
    if (error != nullptr) *error = argv_[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

}  // namespace kubegrant::testing
