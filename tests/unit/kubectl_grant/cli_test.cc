#include "operator/kubectl_grant/cli.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kubegrant::kubectl_grant {
namespace {

struct Ran {
  int code;
  std::string out, err;
};

Ran runArgs(std::vector<std::string> args) {
  std::ostringstream out, err;
  args.insert(args.begin(), "kubectl-grant");
  int code = run(args, Io{out, err});
  return {code, out.str(), err.str()};
}

TEST(Cli, EveryCommandHasHelpAndTheTopLevelHelpListsTheExitCodes) {
  auto top = runArgs({"--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_NE(top.out.find("Exit codes:"), std::string::npos) << top.out;
  for (const char* cmd :
       {"request", "approve", "deny", "revoke", "list", "describe", "whoami", "completion"}) {
    auto help = runArgs({cmd, "--help"});
    EXPECT_EQ(help.code, 0) << cmd;
    EXPECT_NE(help.out.find(cmd), std::string::npos) << help.out;
    EXPECT_EQ(top.out.find("__complete"), std::string::npos) << "the protocol command is hidden";
  }
  auto request = runArgs({"request", "--help"});
  for (const char* flag : {"--policy", "--role", "--db", "--for", "--reason", "--ticket",
                           "--start-at", "--name", "--dry-run", "--wait", "--timeout", "-o"}) {
    EXPECT_NE(request.out.find(flag), std::string::npos) << flag;
  }
}

TEST(Cli, BadUsageExitsTwoWithoutTouchingTheCluster) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{},
                                             {"nonsense"},
                                             {"deny", "x"},
                                             {"approve"},
                                             {"list", "--mine", "--to-approve"},
                                             {"list", "-o", "xml"},
                                             {"completion", "fish"}}) {
    auto r = runArgs(args);
    EXPECT_EQ(r.code, 2) << (args.empty() ? "(none)" : args[0]) << "\n" << r.err;
  }
}

TEST(Cli, AKubeconfigThatDoesNotExistIsAnErrorNamingIt) {
  auto r = runArgs({"--kubeconfig", "/nonexistent/kubeconfig", "list"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("/nonexistent/kubeconfig"), std::string::npos) << r.err;
}

TEST(Cli, CompletionScriptsCallTheCompleteProtocol) {
  auto bash = runArgs({"completion", "bash"});
  EXPECT_EQ(bash.code, 0);
  EXPECT_NE(bash.out.find("complete -F _kubectl_grant kubectl-grant"), std::string::npos);
  auto zsh = runArgs({"completion", "zsh"});
  EXPECT_NE(zsh.out.find("#compdef kubectl-grant"), std::string::npos);
}

TEST(Complete, OffersCommandsFlagsValuesAndNames) {
  auto noNames = []() -> std::vector<std::string> { return {}; };
  EXPECT_EQ(complete({"ap"}, noNames), "approve\n:4\n");
  EXPECT_EQ(complete({""}, noNames),
            "request\napprove\ndeny\nrevoke\nlist\ndescribe\nwhoami\ncompletion\n:4\n");
  EXPECT_EQ(complete({"list", "-o", ""}, noNames), "table\njson\nyaml\n:4\n");
  EXPECT_EQ(complete({"completion", "z"}, noNames), "zsh\n:4\n");
  const std::string listFlags = complete({"list", "--"}, noNames);
  for (const char* f : {"--mine\n", "--to-approve\n", "--all-namespaces\n", "--namespace\n"}) {
    EXPECT_NE(listFlags.find(f), std::string::npos) << listFlags;
  }
  EXPECT_EQ(listFlags.find("--policy"), std::string::npos) << "request's flags are not list's";
  EXPECT_EQ(complete({"-n", "payments", "approve", "deb"},
                     [] {
                       return std::vector<std::string>{"debug-orders", "other"};
                     }),
            "debug-orders\n:4\n");
  EXPECT_EQ(complete({"approve", "debug-orders", ""},
                     [] { return std::vector<std::string>{"debug-orders"}; }),
            ":4\n")
      << "one NAME only";
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
