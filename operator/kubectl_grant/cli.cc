#include "operator/kubectl_grant/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <sstream>

#include "crds/v1alpha1/duration.h"
#include "operator/kube/config.h"
#include "operator/kube/rest/rest_client.h"
#include "operator/kubectl_grant/commands.h"

namespace kubegrant::kubectl_grant {

namespace {

// Everything the command line can set.
struct Flags {
  std::string kubeconfig, context, namespace_;
  std::string output = "table";
  RequestFlags request;
  bool dryRun = false, wait = false;
  std::string timeout;
  std::string name, comment;
  bool mine = false, toApprove = false, allNamespaces = false;
  std::string shell;
  std::vector<std::string> auditFiles;
  std::string anchor;
  std::string since = "30d";
  std::string reportOutput = "table";
};

const std::vector<std::string> kOutputs = {"table", "json", "yaml"};
const std::vector<std::string> kShells = {"bash", "zsh"};
const std::vector<std::string> kReportOutputs = {"table", "json", "csv", "html"};

std::string mainDescription() {
  return "kubectl grant: just-in-time, approved, time-bound access with kubegrant.\n"
         "Requesters ask with `request`, approvers decide with `approve`/`deny`, anyone "
         "allowed follows with `list` and `describe`, reviewers use `report` and `audit "
         "verify`. Uses your kubeconfig and identity "
         "(--kubeconfig, else $KUBECONFIG, several files merged as kubectl merges them, else "
         "~/.kube/config).";
}

void addOutput(CLI::App* cmd, Flags& f) {
  cmd->add_option("-o,--output", f.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember(kOutputs))
      ->default_str("table");
}

std::unique_ptr<CLI::App> buildApp(Flags& f) {
  auto app = std::make_unique<CLI::App>(mainDescription(), "kubectl-grant");
  app->footer(exitCodesHelp());
  app->require_subcommand(1);
  app->fallthrough();
  app->set_help_all_flag("--help-all", "Help for every command");
  app->add_option("--kubeconfig", f.kubeconfig, "Path to the kubeconfig file to use");
  app->add_option("--context", f.context, "The kubeconfig context to use");
  app->add_option("-n,--namespace", f.namespace_,
                  "Namespace of the requests (default: the context's namespace, else default)");

  auto* request = app->add_subcommand("request", "Ask for temporary access under a policy");
  request->footer(
      "Examples:\n"
      "  kubectl grant request --policy payments-oncall --role view --for 2h \\\n"
      "      --reason \"orders stuck\" --ticket INC-4211 --wait\n"
      "  kubectl grant request --policy payments-oncall --role Role/pod-debugger@payments \\\n"
      "      --db orders-db/readonly --for 30m --reason \"check orders\" --dry-run\n\n" +
      exitCodesHelp());
  request->add_option("--policy", f.request.policy, "AccessPolicy to request under")->required();
  request
      ->add_option("--role", f.request.roles,
                   "Role to be granted: NAME, Role/NAME or ClusterRole/NAME, optionally "
                   "@NAMESPACE[,NAMESPACE...] (default: the request's namespace); repeatable")
      ->allow_extra_args(false);
  request
      ->add_option("--cluster-role", f.request.clusterRoles,
                   "ClusterRole to be granted cluster-wide (a ClusterRoleBinding), one the "
                   "policy lists in spec.clusterRoles; repeatable")
      ->allow_extra_args(false);
  request
      ->add_option("--db", f.request.databases,
                   "Database profile to be granted: TARGET/PROFILE; repeatable")
      ->allow_extra_args(false);
  request->add_option("--for", f.request.duration,
                      "How long, e.g. 30m, 2h, 1h30m (default: the policy's defaultDuration)");
  request->add_option("--reason", f.request.reason, "Why you need it");
  request->add_option("--ticket", f.request.ticket, "Ticket, e.g. INC-4211");
  request->add_option("--start-at", f.request.startAt,
                      "Scheduled start, RFC 3339 (the clock starts at activation)");
  request->add_option("--name", f.request.name,
                      "Name of the AccessRequest (default: the policy name and a random suffix)");
  request->add_flag("--dry-run", f.dryRun,
                    "Server-side dry run: the webhook checks and explains, nothing is saved");
  request->add_flag("--wait", f.wait,
                    "Follow the request (a watch) until Active, Denied, Expired, Failed or "
                    "Revoked; the exit code says which");
  request->add_option("--timeout", f.timeout,
                      "With --wait: give up waiting after this long, e.g. 10m (exit code 9)");
  addOutput(request, f);

  auto* approve = app->add_subcommand("approve", "Approve a request (you must be an approver)");
  approve->add_option("NAME", f.name, "The AccessRequest")->required();
  approve->add_option("--comment", f.comment, "Why (recorded with your decision)");
  approve->footer(exitCodesHelp());

  auto* deny = app->add_subcommand("deny", "Deny a request (you must be an approver)");
  deny->add_option("NAME", f.name, "The AccessRequest")->required();
  deny->add_option("--comment", f.comment, "Why (recorded with your decision)")->required();
  deny->footer(exitCodesHelp());

  auto* revoke =
      app->add_subcommand("revoke", "End a request's access now (requester or approver)");
  revoke->add_option("NAME", f.name, "The AccessRequest")->required();
  revoke->footer(exitCodesHelp());

  auto* list = app->add_subcommand("list", "List requests");
  auto* mine = list->add_flag("--mine", f.mine, "Only requests you made");
  auto* toApprove = list->add_flag(
      "--to-approve", f.toApprove,
      "Only Pending requests you may decide on now (you approve for their policy, you did "
      "not make them, you have not decided yet)");
  mine->excludes(toApprove);
  list->add_flag("-A,--all-namespaces", f.allNamespaces, "Requests in every namespace");
  addOutput(list, f);
  list->footer(exitCodesHelp());

  auto* describe = app->add_subcommand(
      "describe", "Show a request: decisions, grants, conditions and Events, in order");
  describe->add_option("NAME", f.name, "The AccessRequest")->required();
  addOutput(describe, f);
  describe->footer(exitCodesHelp());

  auto* whoami = app->add_subcommand(
      "whoami",
      "Who the API server says you are, and the policies you may request or approve under");
  addOutput(whoami, f);
  whoami->footer(exitCodesHelp());

  auto* report = app->add_subcommand(
      "report", "The access review: who held what access, when and why (retained requests)");
  report
      ->add_option("--since", f.since,
                   "The window: requests made, ended or still open in the last 30d, 12h, ...")
      ->default_str("30d");
  report->add_flag("-A,--all-namespaces", f.allNamespaces, "Requests in every namespace");
  report
      ->add_option("-o,--output", f.reportOutput,
                   "table, json, csv, or html (one self-contained page with a timeline)")
      ->check(CLI::IsMember(kReportOutputs))
      ->default_str("table");
  report->footer(
      "Per request: requester, policy, roles and namespaces, databases with their withheld and "
      "masked\ncolumns, reason, ticket, approvers, requested/approved/active/ended times, "
      "break-glass, how it\nended and the time access was held; then a summary per person and "
      "per policy. Ended requests\nare kept until endedAt + the policy's retainFor.\n\n"
      "Examples:\n"
      "  kubectl grant report --since 30d -A -o html > access-review.html\n"
      "  kubectl grant report --since 7d -n payments -o csv\n\n" +
      exitCodesHelp());

  auto* audit = app->add_subcommand(
      "audit", "Check the operator's tamper-evident audit log (--audit-log); needs no cluster");
  audit->require_subcommand(1);
  auto* verify = audit->add_subcommand(
      "verify", "Check that FILE... (in order: rotated files first) hold one unbroken hash chain");
  verify->add_option("FILE", f.auditFiles, "Audit log files, oldest first")->required();
  verify->add_option("--anchor", f.anchor,
                     "A last sha256 kept from an earlier verify: it must still be in the chain "
                     "(finds lines removed from the end)");
  addOutput(verify, f);
  verify->footer(
      "Each line carries seq (1, 2, ...) and prev, the SHA-256 of the exact bytes of the line "
      "before it\n(64 zeros for the first). Prints OK with the line count and the last seq and "
      "hash (keep it\nfor --anchor next time), or the first line that was changed, removed, "
      "reordered or inserted\nand exits 10.\n\n"
      "Examples:\n"
      "  kubectl grant audit verify /var/log/kubegrant/audit.log.1 "
      "/var/log/kubegrant/audit.log\n"
      "  kubectl grant audit verify audit.log --anchor 3f5c...e1\n\n" +
      exitCodesHelp());

  auto* completion = app->add_subcommand("completion", "Print a shell completion script");
  completion->add_option("SHELL", f.shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember(kShells));
  completion->footer(
      "  source <(kubectl-grant completion bash)      completes `kubectl-grant ...`\n"
      "  `kubectl grant ...` completes through kubectl itself when kubectl_complete-grant is "
      "on the PATH (make install-plugin puts it there).");
  return app;
}

Output outputOf(const std::string& s) {
  if (s == "json") return Output::Json;
  if (s == "yaml") return Output::Yaml;
  return Output::Table;
}

std::string shellArg(const std::string& s) {
  if (s.find_first_of(" '\"$`\\") == std::string::npos) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Loads the caller's kubeconfig and builds the client; prints why not on failure.
struct Session {
  std::unique_ptr<kube::Client> client;
  std::string namespace_;
};

std::optional<Session> connect(const Flags& f, Warnings& warnings, const Io& io) {
  auto cfg = kube::loadDefaultConfig(f.kubeconfig, {.context = f.context});
  if (!cfg) {
    io.err << "error: " << cfg.error().message << "\n";
    return std::nullopt;
  }
  auto client = kube::rest::makeRestClient(
      *cfg, {.userAgent = "kubectl-grant",
             .onWarning = [&warnings](const std::string& w) { warnings.add(w); }});
  if (!client) {
    io.err << "error: " << client.error().message << "\n";
    return std::nullopt;
  }
  return Session{std::move(*client), f.namespace_.empty() ? cfg->namespace_ : f.namespace_};
}

// Values of --kubeconfig/--context/-n in words typed so far (for completing names).
Flags scanConnectionFlags(const std::vector<std::string>& words) {
  Flags f;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--kubeconfig") f.kubeconfig = words[i + 1];
    if (w == "--context") f.context = words[i + 1];
    if (w == "-n" || w == "--namespace") f.namespace_ = words[i + 1];
  }
  return f;
}

}  // namespace

int run(const std::vector<std::string>& args, const Io& io) {
  Warnings warnings;
  // cobra's completion protocol (kubectl_complete-grant, the completion scripts): the words
  // are not flags for us to parse, so this comes before the parser.
  if (args.size() >= 2 && args[1] == "__complete") {
    const std::vector<std::string> words(args.begin() + 2, args.end());
    io.out << complete(words, [&]() -> std::vector<std::string> {
      Flags conn = scanConnectionFlags(words);
      std::ostringstream sink;
      auto session = connect(conn, warnings, Io{sink, sink});
      if (!session) return {};
      SystemClock clock;
      Context ctx{*session->client, warnings, clock, sink, sink};
      ctx.namespace_ = session->namespace_;
      return requestNames(ctx);
    });
    return 0;
  }
  Flags f;
  auto app = buildApp(f);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);
    app->parse(reversed);
  } catch (const CLI::ParseError& e) {
    const int code = app->exit(e, io.out, io.err);
    return code == 0 ? 0 : toInt(ExitCode::Usage);
  }
  auto* sub = app->get_subcommands().front();
  const std::string command = sub->get_name();

  if (command == "completion") {
    io.out << (f.shell == "zsh" ? zshCompletionScript() : bashCompletionScript());
    return 0;
  }
  if (command == "audit") {
    std::optional<std::string> anchor;
    if (!f.anchor.empty()) anchor = f.anchor;
    const ExitCode code =
        auditVerify(f.auditFiles, {.anchor = anchor, .output = outputOf(f.output)}, io.out, io.err,
                    Style(colorWanted(io.outIsTty, io.noColor)));
    io.out.flush();
    return toInt(code);
  }

  std::optional<std::chrono::nanoseconds> timeout;
  if (!f.timeout.empty()) {
    auto d = v1alpha1::parseDuration(f.timeout);
    if (!d) {
      io.err << "error: --timeout: " << d.error().message << "\n";
      return toInt(ExitCode::Usage);
    }
    timeout = *d;
  }
  Result<std::chrono::nanoseconds> reportSince = parseSince(f.since);
  if (command == "report" && !reportSince) {
    io.err << "error: " << reportSince.error().message << "\n";
    return toInt(ExitCode::Usage);
  }
  auto session = connect(f, warnings, io);
  if (!session) return toInt(ExitCode::Error);
  SystemClock clock;
  Context ctx{*session->client, warnings, clock, io.out, io.err};
  ctx.outIsTty = io.outIsTty;
  ctx.outStyle = Style(colorWanted(io.outIsTty, io.noColor));
  ctx.errStyle = Style(colorWanted(io.errIsTty, io.noColor));
  ctx.namespace_ = session->namespace_;
  ctx.terminalWidth = io.terminalWidth;
  if (!f.kubeconfig.empty()) ctx.kubectlFlags += " --kubeconfig " + shellArg(f.kubeconfig);
  if (!f.context.empty()) ctx.kubectlFlags += " --context " + shellArg(f.context);

  const Output output = outputOf(f.output);
  ExitCode code = ExitCode::Ok;
  if (command == "request") {
    code = request(ctx, f.request,
                   {.dryRun = f.dryRun, .wait = f.wait, .timeout = timeout, .output = output});
  } else if (command == "approve") {
    code = decide(ctx, f.name, v1alpha1::Decision::Approve, f.comment);
  } else if (command == "deny") {
    code = decide(ctx, f.name, v1alpha1::Decision::Deny, f.comment);
  } else if (command == "revoke") {
    code = revoke(ctx, f.name);
  } else if (command == "list") {
    code = list(ctx, {.mine = f.mine,
                      .toApprove = f.toApprove,
                      .allNamespaces = f.allNamespaces,
                      .output = output});
  } else if (command == "describe") {
    code = describe(ctx, f.name, output);
  } else if (command == "whoami") {
    code = whoami(ctx, output);
  } else if (command == "report") {
    const ReportFormat format = f.reportOutput == "json"   ? ReportFormat::Json
                                : f.reportOutput == "csv"  ? ReportFormat::Csv
                                : f.reportOutput == "html" ? ReportFormat::Html
                                                           : ReportFormat::Table;
    code = report(ctx, {.since = *reportSince, .allNamespaces = f.allNamespaces, .format = format});
  }
  io.out.flush();
  return toInt(code);
}

std::string complete(const std::vector<std::string>& words,
                     const std::function<std::vector<std::string>()>& names) {
  Flags f;
  auto app = buildApp(f);
  const std::string current = words.empty() ? "" : words.back();
  CLI::App* cmd = nullptr;
  std::vector<const CLI::Option*> options;
  auto optionsOf = [&](CLI::App* a) {
    for (const auto* o : a->get_options()) {
      if (!o->get_lnames().empty() || !o->get_snames().empty()) options.push_back(o);
    }
  };
  optionsOf(app.get());
  auto findOption = [&](const std::string& w) -> const CLI::Option* {
    for (const auto* o : options) {
      for (const auto& l : o->get_lnames()) {
        if (w == "--" + l) return o;
      }
      for (const auto& s : o->get_snames()) {
        if (w == "-" + s) return o;
      }
    }
    return nullptr;
  };
  std::size_t positionals = 0;
  const CLI::Option* pendingValue = nullptr;
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (pendingValue != nullptr) {
      pendingValue = nullptr;
      continue;
    }
    if (w.rfind("-", 0) == 0) {
      const CLI::Option* o = findOption(w);
      if (o != nullptr && o->get_type_size() != 0 && w.find('=') == std::string::npos) {
        pendingValue = o;
      }
      continue;
    }
    if (cmd == nullptr) {
      for (auto* sub : app->get_subcommands([](CLI::App*) { return true; })) {
        if (sub->get_name() == w && !sub->get_group().empty()) cmd = sub;
      }
      if (cmd != nullptr) optionsOf(cmd);
    } else {
      ++positionals;
    }
  }
  std::vector<std::string> candidates;
  if (pendingValue != nullptr) {
    if (pendingValue->get_lnames().front() == "output") {
      candidates = cmd != nullptr && cmd->get_name() == "report" ? kReportOutputs : kOutputs;
    }
  } else if (current.rfind("-", 0) == 0) {
    for (const auto* o : options) {
      for (const auto& l : o->get_lnames()) candidates.push_back("--" + l);
      for (const auto& s : o->get_snames()) candidates.push_back("-" + s);
    }
  } else if (cmd == nullptr) {
    for (auto* sub : app->get_subcommands([](CLI::App*) { return true; })) {
      if (!sub->get_group().empty()) candidates.push_back(sub->get_name());
    }
  } else if (positionals == 0) {
    const std::string name = cmd->get_name();
    if (name == "completion") {
      candidates = kShells;
    } else if (name == "approve" || name == "deny" || name == "revoke" || name == "describe") {
      candidates = names();
    }
  }
  std::string out;
  for (const auto& c : candidates) {
    if (c.rfind(current, 0) == 0) out += c + "\n";
  }
  return out + ":4\n";
}

std::string bashCompletionScript() {
  return R"SH(# bash completion for kubectl-grant: source <(kubectl-grant completion bash)
_kubectl_grant() {
  local cur="${COMP_WORDS[COMP_CWORD]}" out
  out=$(kubectl-grant __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return
  COMPREPLY=($(compgen -W "$(printf '%s\n' "$out" | grep -v '^:')" -- "$cur"))
}
complete -F _kubectl_grant kubectl-grant
)SH";
}

std::string zshCompletionScript() {
  return R"SH(#compdef kubectl-grant
# zsh completion for kubectl-grant: source <(kubectl-grant completion zsh)
_kubectl_grant() {
  local -a out
  out=("${(@f)$(kubectl-grant __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)}")
  compadd -- ${out:#:*}
}
compdef _kubectl_grant kubectl-grant
)SH";
}

}  // namespace kubegrant::kubectl_grant
