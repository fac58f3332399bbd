#pragma once

// kubectl-grant's commands over the kube client: each reads and writes the API as the
// caller (their kubeconfig, their identity), prints, and returns its exit code. The pure
// part (what is sent, what is shown) is model.h.

#include <chrono>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "operator/common/clock.h"
#include "operator/kube/client.h"
#include "operator/kubectl_grant/exit_codes.h"
#include "operator/kubectl_grant/format.h"
#include "operator/kubectl_grant/model.h"
#include "operator/kubectl_grant/report.h"

namespace kubegrant::kubectl_grant {

// The API server's warnings (admission webhook explanations) as the client hands them over
// (RestOptions::onWarning), kept until a command prints them.
class Warnings {
 public:
  void add(std::string text);
  std::vector<std::string> take();

 private:
  std::mutex mu_;
  std::vector<std::string> texts_;
};

enum class Output { Table, Json, Yaml };

// What every command works with.
struct Context {
  kube::Client& client;
  Warnings& warnings;
  Clock& clock;
  std::ostream& out;
  std::ostream& err;
  bool outIsTty = false;
  Style outStyle{false};
  Style errStyle{false};
  std::string namespace_;         // -n, else the context's namespace, else "default"
  std::string kubectlFlags;       // " --kubeconfig F --context C" as given, for printed commands
  std::size_t terminalWidth = 0;  // 0 = unknown (not a terminal)
};

struct RequestOptions {
  bool dryRun = false;
  bool wait = false;
  std::optional<std::chrono::nanoseconds> timeout;  // --wait only
  Output output = Output::Table;
};
ExitCode request(Context& ctx, const RequestFlags& flags, const RequestOptions& options);

ExitCode decide(Context& ctx, const std::string& name, v1alpha1::Decision decision,
                const std::string& comment);
ExitCode revoke(Context& ctx, const std::string& name);

struct ListOptions {
  bool mine = false;
  bool toApprove = false;
  bool allNamespaces = false;
  Output output = Output::Table;
};
ExitCode list(Context& ctx, const ListOptions& options);

ExitCode describe(Context& ctx, const std::string& name, Output output);
ExitCode whoami(Context& ctx, Output output);

// `audit verify FILE...`: the files, in order, as one hash chain (operator/common/
// audit_chain.h). Prints OK with the line count and the last seq and hash, or the first line
// that was changed, removed, reordered or inserted (Tampered). `anchor`: a hash kept from an
// earlier verify that must still be in the chain. Table output is text; Json one object.
// Needs no cluster.
struct AuditVerifyOptions {
  std::optional<std::string> anchor;
  Output output = Output::Table;
};
ExitCode auditVerify(const std::vector<std::string>& files, const AuditVerifyOptions& options,
                     std::ostream& out, std::ostream& err, const Style& style);

// `report`: the retained AccessRequests of the namespace (or all) that touch the last `since`
// (report.h), with the DatabaseTargets' profiles for the columns (read if the caller may;
// otherwise the columns are "unknown" and a warning says why).
enum class ReportFormat { Table, Json, Csv, Html };
struct ReportOptions {
  std::chrono::nanoseconds since{};
  bool allNamespaces = false;
  ReportFormat format = ReportFormat::Table;
};
ExitCode report(Context& ctx, const ReportOptions& options);

// Request names in the namespace (for shell completion); empty on any error.
std::vector<std::string> requestNames(Context& ctx);

}  // namespace kubegrant::kubectl_grant
