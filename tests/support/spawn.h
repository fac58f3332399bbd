#pragma once

// Starting a child process from a test, safely from a multithreaded process: everything the
// child needs (argv, environment, file actions) is built in the parent and the child is
// started with posix_spawnp, so it runs no code of ours between fork and exec. A child that
// allocates after fork() can deadlock forever on an allocator lock another thread held at the
// fork (seen under ASan with gcc 12, whose allocator has no fork handlers: 2 children in 2,000).

#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace kubegrant::testing {

class Spawn {
 public:
  // argv[0] is looked up in PATH unless it contains a '/'.
  explicit Spawn(std::vector<std::string> argv);
  Spawn(const Spawn&) = delete;
  Spawn& operator=(const Spawn&) = delete;
  ~Spawn();

  // File descriptor `target` of the child becomes a copy of the parent's `fd`.
  Spawn& dup(int fd, int target);
  // File descriptor `target` of the child is `path` opened with `flags`.
  Spawn& open(int target, const std::string& path, int flags, mode_t mode = 0644);
  // The child starts in `dir`.
  Spawn& chdir(const std::string& dir);
  // NAME=VALUE entries added to (or replacing) the parent's environment; a bare NAME removes
  // that variable.
  Spawn& env(const std::vector<std::string>& entries);
  // The child leads a new session (and process group).
  Spawn& newSession();

  // The child's pid, or -1 with `error` set.
  pid_t start(std::string* error = nullptr);

 private:
  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

}  // namespace kubegrant::testing
