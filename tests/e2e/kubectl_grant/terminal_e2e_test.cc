// kubectl grant in a terminal, as a person sees it: tmux runs it on a real pty and
// capture-pane shows the screen. `--wait` keeps one live status line, redrawn in place, until
// the request is Active; the list table is coloured on a terminal, and not when piped or with
// NO_COLOR.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>

#include "tests/e2e/kubectl_grant/plugin_fixture.h"

namespace kubegrant::e2e {
namespace {

using namespace std::chrono_literals;
using testing::runCommand;
using testing::waitFor;

// A private tmux server (its own socket, no user configuration), killed at the end.
class Tmux {
 public:
  Tmux() : socket_(fmt::format("kg-plugin-test-{}", ::getpid())) {}
  ~Tmux() { runCommand({"tmux", "-L", socket_, "kill-server"}); }

  // Runs `command` (sh -c) in a new 150x20 session `name`; the shell stays after it ends.
  testing::CommandResult start(const std::string& name, const std::string& command) {
    return runCommand({"tmux", "-L", socket_, "-f", "/dev/null", "new-session", "-d", "-s", name,
                       "-x", "150", "-y", "20", command + "; echo \"exit=$?\"; sleep 300"});
  }
  // The visible screen; with `escapes`, colours as escape sequences.
  std::string screen(const std::string& name, bool escapes = false) {
    std::vector<std::string> argv = {"tmux", "-L", socket_, "capture-pane", "-p", "-t", name};
    if (escapes) argv.push_back("-e");
    return runCommand(argv).out;
  }

 private:
  std::string socket_;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The line of `screen` that contains `what`.
std::string lineWith(const std::string& screen, const std::string& what) {
  auto at = screen.find(what);
  if (at == std::string::npos) return "";
  auto start = screen.rfind('\n', at);
  start = start == std::string::npos ? 0 : start + 1;
  return screen.substr(start, screen.find('\n', at) - start);
}

TEST_F(PluginTest, InATerminalWaitShowsOneLiveLineAndTheTableIsColouredUnlessPiped) {
  Tmux tmux;
  const std::string env = fmt::format("env -u NO_COLOR KUBECONFIG='{}'", mergedKubeconfig());
  auto started = tmux.start(
      "wait", env + fmt::format(" kubectl grant request --policy {} --role view --for 15m "
                                "--reason 'terminal test' --name live --wait",
                                policy_));
  ASSERT_EQ(started.exitCode, 0) << started.err;

  // The live line: one line, redrawn in place (the time waited moves on, no new lines).
  std::string first;
  ASSERT_TRUE(waitFor(
      [&] {
        first = lineWith(tmux.screen("wait"), "live Pending");
        return !first.empty();
      },
      15s))
      << tmux.screen("wait");
  std::string later;
  ASSERT_TRUE(waitFor(
      [&] {
        later = lineWith(tmux.screen("wait"), "live Pending");
        return !later.empty() && later != first;
      },
      5s))
      << "the line should tick: " << first;
  const std::string waiting = tmux.screen("wait");
  std::cout << "---- kubectl grant request --wait, while Pending ----\n" << waiting;
  EXPECT_EQ(count(waiting, "approvals 0/1"), 1u) << waiting;
  EXPECT_NE(waiting.find("accessrequest " + ns_ + "/live created"), std::string::npos)
      << "the creation and the webhook's explanations come first:\n"
      << waiting;
  EXPECT_NE(tmux.screen("wait", true).find("\x1b[33mPending"), std::string::npos)
      << "Pending in yellow on a terminal";

  auto approved = grant("bob", {"approve", "live", "-n", ns_});
  ASSERT_EQ(approved.exitCode, 0) << approved.err;
  std::string done;
  ASSERT_TRUE(waitFor(
      [&] {
        done = tmux.screen("wait");
        return done.find("exit=") != std::string::npos;
      },
      20s))
      << done;
  std::cout << "---- once bob approved ----\n" << done;
  EXPECT_NE(done.find("exit=0"), std::string::npos) << done;
  EXPECT_NE(done.find("live is Active"), std::string::npos) << done;
  EXPECT_EQ(count(done, "live Pending"), 0u) << "the live line is replaced by the outcome\n"
                                             << done;
  EXPECT_NE(done.find("kubectl get pods -n " + ns_), std::string::npos) << done;

  // The table on a terminal: coloured phase, aligned columns.
  ASSERT_EQ(tmux.start("list", env + " kubectl grant list").exitCode, 0);
  std::string table;
  ASSERT_TRUE(waitFor(
      [&] {
        table = tmux.screen("list", true);
        return table.find("exit=") != std::string::npos;
      },
      10s))
      << table;
  std::cout << "---- kubectl grant list ----\n" << tmux.screen("list");
  EXPECT_NE(table.find("exit=0"), std::string::npos) << table;
  EXPECT_NE(table.find("\x1b[32mActive"), std::string::npos) << "Active in green:\n" << table;
  const std::string plainTable = tmux.screen("list");
  EXPECT_NE(plainTable.find("NAME   REQUESTER   POLICY"), std::string::npos) << plainTable;
  auto header = lineWith(plainTable, "NAME");
  auto row = lineWith(plainTable, "live ");
  ASSERT_FALSE(row.empty()) << plainTable;
  EXPECT_EQ(header.find("PHASE"), row.find("Active")) << "columns align:\n" << plainTable;

  // Piped, or with NO_COLOR, even on a terminal: no colour codes.
  ASSERT_EQ(tmux.start("piped", env + " kubectl grant list | cat -v").exitCode, 0);
  ASSERT_EQ(tmux.start("nocolor", fmt::format("env NO_COLOR=1 KUBECONFIG='{}' kubectl grant list",
                                              mergedKubeconfig()))
                .exitCode,
            0);
  for (const char* session : {"piped", "nocolor"}) {
    std::string screen;
    ASSERT_TRUE(waitFor(
        [&] {
          screen = tmux.screen(session, true);
          return screen.find("exit=") != std::string::npos;
        },
        10s))
        << session << "\n"
        << screen;
    EXPECT_NE(screen.find("Active"), std::string::npos) << session << "\n" << screen;
    EXPECT_EQ(screen.find("\x1b[3"), std::string::npos) << session << "\n" << screen;
    EXPECT_EQ(screen.find("^["), std::string::npos) << session << " (cat -v shows ESC as ^[)\n"
                                                    << screen;
  }
}

}  // namespace
}  // namespace kubegrant::e2e
