#include "operator/kubectl_grant/cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "operator/common/audit_chain.h"

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
  for (const char* cmd : {"request", "approve", "deny", "revoke", "list", "describe", "whoami",
                          "report", "audit", "completion"}) {
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
  EXPECT_EQ(
      complete({""}, noNames),
      "request\napprove\ndeny\nrevoke\nlist\ndescribe\nwhoami\nreport\naudit\ncompletion\n:4\n");
  EXPECT_EQ(complete({"list", "-o", ""}, noNames), "table\njson\nyaml\n:4\n");
  EXPECT_EQ(complete({"report", "-o", ""}, noNames), "table\njson\ncsv\nhtml\n:4\n");
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

TEST(Cli, AuditVerifySaysOkOrNamesTheLineAndExitsTenWithoutACluster) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kg-cli-audit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "audit.log").string();
  const std::string bad = (dir / "tampered.log").string();
  audit::ChainHead head;
  std::vector<std::string> lines;
  for (const char* e : {"requested", "approved", "granted"}) {
    lines.push_back(audit::chainLine(nlohmann::json{{"event", e}}, head));
    head = audit::nextHead(head, lines.back());
  }
  {
    std::ofstream g(good), b(bad);
    for (const auto& l : lines) g << l << "\n";
    b << lines[0] << "\n" << lines[2] << "\n";
  }
  auto ok = runArgs({"--kubeconfig", "/nonexistent", "audit", "verify", good});
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("OK: 3 lines in 1 file, one chain; last seq 3 sha256 " + head.hash),
            std::string::npos)
      << ok.out;
  auto tampered = runArgs({"audit", "verify", bad});
  EXPECT_EQ(tampered.code, 10) << tampered.out << tampered.err;
  EXPECT_NE(tampered.out.find("TAMPERED: " + bad + ":2: a line (seq 2) was removed"),
            std::string::npos)
      << tampered.out;
  auto asJson = runArgs({"audit", "verify", bad, "-o", "json"});
  EXPECT_EQ(asJson.code, 10);
  auto doc = nlohmann::json::parse(asJson.out);
  EXPECT_EQ(doc["line"], 2);
  EXPECT_EQ(doc["lastSeq"], 1);
  auto anchored = runArgs({"audit", "verify", good, "--anchor", std::string(64, 'a')});
  EXPECT_EQ(anchored.code, 10) << anchored.out;
  auto missing = runArgs({"audit", "verify", (dir / "nope.log").string()});
  EXPECT_EQ(missing.code, 1) << missing.out;
  EXPECT_EQ(runArgs({"audit", "verify"}).code, 2);
  std::filesystem::remove_all(dir);
}

TEST(Cli, ReportRefusesABadWindowOrFormat) {
  EXPECT_EQ(runArgs({"report", "-o", "pdf"}).code, 2);
  auto since = runArgs({"--kubeconfig", "/nonexistent", "report", "--since", "soon"});
  EXPECT_EQ(since.code, 2) << since.err;
  EXPECT_NE(since.err.find("--since"), std::string::npos) << since.err;
}

}  // namespace
}  // namespace kubegrant::kubectl_grant
