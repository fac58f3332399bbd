// The tests' way of starting processes (tests/support/spawn.h): what the child gets, how a
// program that cannot start is reported, and that no code of this process runs in the child.

#include "tests/support/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/operator_harness.h"
#include "tests/support/test_env.h"

namespace kubegrant::testing {
namespace {

int waitExit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Spawn, GivesTheChildItsDirectoryEnvironmentAndFiles) {
  const auto dir = std::filesystem::temp_directory_path() / uniqueName("kg-spawn");
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "out.txt").string();
  ::setenv("KG_SPAWN_GONE", "inherited", 1);
  const pid_t pid =
      Spawn({"sh", "-c",
             "pwd; echo \"$KG_SPAWN_A $KG_SPAWN_B ${KG_SPAWN_GONE-unset}\"; "
             "echo err >&2"})
          .chdir(dir.string())
          .env({"KG_SPAWN_A=one", "KG_SPAWN_B=two", "KG_SPAWN_A=three", "KG_SPAWN_GONE"})
          .open(1, out, O_WRONLY | O_CREAT | O_TRUNC)
          .dup(1, 2)
          .start();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(waitExit(pid), 0);
  EXPECT_EQ(readFile(out), dir.string() + "\nthree two unset\nerr\n");
  ::unsetenv("KG_SPAWN_GONE");
  std::filesystem::remove_all(dir);
}

TEST(Spawn, NamesAProgramItCannotStart) {
  std::string error;
  EXPECT_EQ(Spawn({"kg-no-such-program"}).start(&error), -1);
  EXPECT_NE(error.find("kg-no-such-program"), std::string::npos) << error;
  auto r = runCommand({"kg-no-such-program"});
  EXPECT_EQ(r.exitCode, 127);
  EXPECT_NE(r.err.find("kg-no-such-program"), std::string::npos) << r.err;
}

// fork() runs pthread_atfork's child handlers in the child; posix_spawn runs nothing of this
// process there. A child that ran our code (say, malloc) after a fork could block forever on
// an allocator lock another thread held at the fork: under ASan, 2 children in 2,000 did, and
// one hung a unit test in CI.
std::atomic<int> forkWitness{-1};
void childAfterFork() {
  const int fd = forkWitness.load();
  if (fd >= 0) (void)!::write(fd, "f", 1);
}

TEST(Spawn, RunsNoCodeOfThisProcessInTheChild) {
  int witness[2];
  ASSERT_EQ(::pipe2(witness, O_CLOEXEC | O_NONBLOCK), 0);
  static const int registered = ::pthread_atfork(nullptr, nullptr, childAfterFork);
  ASSERT_EQ(registered, 0);
  forkWitness = witness[1];

  EXPECT_EQ(runCommand({"true"}).exitCode, 0);
  const auto log = std::filesystem::temp_directory_path() / uniqueName("kg-spawn-child");
  {
    ChildProcess child;
    child.start("true", {}, log.string());
    EXPECT_EQ(child.wait(std::chrono::seconds(10)), 0);
  }
  const pid_t pid = Spawn({"true"}).start();
  ASSERT_GT(pid, 0);
  EXPECT_EQ(waitExit(pid), 0);

  forkWitness = -1;
  char c = 0;
  EXPECT_EQ(::read(witness[0], &c, 1), -1) << "a child ran this process's fork handlers";
  ::close(witness[0]);
  ::close(witness[1]);
  std::filesystem::remove(log);
}

}  // namespace
}  // namespace kubegrant::testing
