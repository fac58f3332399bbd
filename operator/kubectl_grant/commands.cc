#include "operator/kubectl_grant/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <map>
#include <sstream>
#include <stop_token>
#include <thread>

#include "operator/common/audit_chain.h"
#include "operator/common/base64.h"
#include "operator/common/time.h"

namespace kubegrant::kubectl_grant {

namespace v1 = v1alpha1;
using nlohmann::json;

void Warnings::add(std::string text) {
  std::lock_guard lock(mu_);
  texts_.push_back(std::move(text));
}

std::vector<std::string> Warnings::take() {
  std::lock_guard lock(mu_);
  return std::exchange(texts_, {});
}

namespace {

// Prints an error the way kubectl does: the server's own words when it answered.
ExitCode report(Context& ctx, const Error& e) {
  if (e.httpStatus != 0) {
    ctx.err << ctx.errStyle.red("Error from server")
            << fmt::format(" ({}): {}\n", e.reason.empty() ? toString(e.code) : e.reason,
                           e.message);
  } else {
    ctx.err << ctx.errStyle.red("error") << ": " << e.message << "\n";
  }
  return exitCodeFor(e);
}

ExitCode usage(Context& ctx, const std::string& message) {
  ctx.err << ctx.errStyle.red("error") << ": " << message << "\n";
  return ExitCode::Usage;
}

void printWarnings(Context& ctx, std::ostream& to, const Style& style, bool asWarning) {
  for (const auto& w : ctx.warnings.take()) {
    to << (asWarning ? style.yellow("Warning: ") : std::string("  ")) << w << "\n";
  }
}

void printDocument(Context& ctx, const json& doc, Output output) {
  if (output == Output::Yaml) {
    ctx.out << toYaml(doc);
  } else {
    ctx.out << doc.dump(2) << "\n";
  }
}

std::optional<AccessPolicy> getPolicy(Context& ctx, const std::string& name) {
  auto obj = ctx.client.get(kube::resources::accessPolicies(), {"", name});
  if (!obj) return std::nullopt;
  auto policy = v1::fromJson<AccessPolicy>(obj->body);
  if (!policy) return std::nullopt;
  return std::move(*policy);
}

Result<std::map<std::string, AccessPolicy>> listPolicies(Context& ctx) {
  auto list = ctx.client.list(kube::resources::accessPolicies(), "");
  if (!list) return std::unexpected(list.error());
  std::map<std::string, AccessPolicy> out;
  for (const auto& item : list->items) {
    if (auto p = v1::fromJson<AccessPolicy>(item.body)) out.emplace(p->metadata.name, *p);
  }
  return out;
}

Result<UserInfo> selfSubjectReview(Context& ctx) {
  kube::Object review(json{{"apiVersion", "authentication.k8s.io/v1"},
                           {"kind", "SelfSubjectReview"},
                           {"metadata", json::object()}});
  auto answer = ctx.client.create(kube::resources::selfSubjectReviews(), review);
  if (!answer) return std::unexpected(answer.error());
  const json info = answer->body.value("status", json::object()).value("userInfo", json::object());
  UserInfo user;
  user.username = info.value("username", "");
  if (auto g = info.find("groups"); g != info.end() && g->is_array()) {
    for (const auto& group : *g) {
      if (group.is_string()) user.groups.push_back(group.get<std::string>());
    }
  }
  if (user.username.empty()) {
    return fail(ErrorCode::Internal, "the API server's SelfSubjectReview named no user");
  }
  return user;
}

Result<AccessRequest> decode(const kube::Object& obj) {
  auto r = v1::fromJson<AccessRequest>(obj.body);
  if (!r) {
    return fail(ErrorCode::Internal, fmt::format("AccessRequest {} cannot be read: {}",
                                                 obj.key().toString(), r.error().message));
  }
  return r;
}

// The issued database Secrets of an Active request, by name: only the keys a connection
// string needs (never the password). A Secret the caller cannot read is left out.
std::map<std::string, DatabaseSecret> readDatabaseSecrets(Context& ctx,
                                                          const AccessRequest& request) {
  std::map<std::string, DatabaseSecret> out;
  if (!request.status) return out;
  for (const auto& g : request.status->grants) {
    if (g.kind != v1::GrantKind::Secret) continue;
    auto secret = ctx.client.get(kube::resources::secrets(), {g.namespace_, g.name});
    if (!secret) continue;
    const json data = secret->body.value("data", json::object());
    auto field = [&](const char* key) -> std::string {
      auto it = data.find(key);
      if (it == data.end() || !it->is_string()) return {};
      auto decoded = base64Decode(it->get<std::string>(), key);
      return decoded ? *decoded : std::string();
    };
    DatabaseSecret s{field("host"),     field("port"),    field("database"),
                     field("username"), field("sslmode"), data.contains("ca.crt")};
    if (!s.host.empty() && !s.username.empty()) out.emplace(g.name, std::move(s));
  }
  return out;
}

// Follows one request with a watch until a phase that ends the wait. On a terminal, one line
// redrawn in place (every second, and on every change); otherwise one line per change.
class Waiter {
 public:
  // `toStderr`: stdout carries a JSON/YAML document, so the progress goes to stderr, one
  // line per change.
  Waiter(Context& ctx, AccessRequest request, std::string resourceVersion,
         std::optional<AccessPolicy> policy, std::optional<std::chrono::nanoseconds> timeout,
         bool toStderr)
      : ctx_(ctx),
        out_(toStderr ? ctx.err : ctx.out),
        live_(!toStderr && ctx.outIsTty),
        style_(toStderr ? ctx.errStyle : ctx.outStyle),
        request_(std::move(request)),
        rv_(std::move(resourceVersion)),
        policy_(std::move(policy)),
        started_(ctx.clock.now()),
        deadline_(timeout ? std::optional<TimePoint>(started_ + *timeout) : std::nullopt) {}

  ExitCode run() {
    const std::string name = request_.metadata.name;
    const std::string ns = request_.metadata.namespace_;
    {
      std::lock_guard lock(mu_);
      show(true);
      checkDone();
    }
    std::jthread ticker;
    if (live_ || deadline_) {
      ticker = std::jthread([this](std::stop_token st) { tick(st); });
    }
    while (!finished()) {
      kube::WatchOptions options{.resourceVersion = currentRv(),
                                 .fieldSelector = "metadata.name=" + name,
                                 .timeoutSeconds = 120};
      auto watched = ctx_.client.watch(
          kube::resources::accessRequests(), ns, options,
          [this](const kube::WatchEvent& e) { onEvent(e); }, stop_.get_token());
      if (finished()) break;
      if (!watched) {
        if (watched.error().code == ErrorCode::Gone) {  // too old: read it again, go on
          auto obj = ctx_.client.get(kube::resources::accessRequests(), {ns, name});
          if (!obj) return finish(report(ctx_, obj.error()));
          onEvent(kube::WatchEvent{kube::WatchEventType::Modified, *obj});
          continue;
        }
        if (!watched.error().retryable()) return finish(report(ctx_, watched.error()));
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(1), [&] { return done_.has_value(); });
      }
    }
    if (ticker.joinable()) {
      ticker.request_stop();
      ticker.join();
    }
    std::lock_guard lock(mu_);
    return *done_;
  }

 private:
  bool finished() {
    std::lock_guard lock(mu_);
    return done_.has_value();
  }
  std::string currentRv() {
    std::lock_guard lock(mu_);
    return rv_;
  }
  ExitCode finish(ExitCode code) {
    std::lock_guard lock(mu_);
    done_ = code;
    return code;
  }

  void onEvent(const kube::WatchEvent& e) {
    std::lock_guard lock(mu_);
    if (!e.object.resourceVersion().empty()) rv_ = e.object.resourceVersion();
    if (e.type == kube::WatchEventType::Bookmark) return;
    if (e.type == kube::WatchEventType::Deleted) {
      clearLine();
      out_ << fmt::format("{} was deleted\n", request_.metadata.name);
      done_ = ExitCode::Revoked;
      stop_.request_stop();
      cv_.notify_all();
      return;
    }
    auto decoded = v1::fromJson<AccessRequest>(e.object.body);
    if (!decoded) return;
    const std::string before = phaseText(request_);
    request_ = std::move(*decoded);
    show(phaseText(request_) != before);
    checkDone();
  }

  // Under mu_.
  void checkDone() {
    if (!request_.status || !request_.status->phase) return;
    auto code = exitCodeForPhase(*request_.status->phase);
    if (!code) return;
    clearLine();
    const Style& style = style_;
    out_ << fmt::format("{} is {}", request_.metadata.name, style.phase(phaseText(request_)));
    if (request_.status->message) out_ << ": " << *request_.status->message;
    out_ << "\n";
    if (*code == ExitCode::Ok) {
      out_ << accessInstructions(request_, ctx_.clock.now(), readDatabaseSecrets(ctx_, request_),
                                 ctx_.kubectlFlags, style);
    }
    out_.flush();
    done_ = code;
    stop_.request_stop();
    cv_.notify_all();
  }

  // Under mu_. `changed`: the phase changed (a new line when not on a terminal).
  void show(bool changed) {
    const auto waited = ctx_.clock.now() - started_;
    const AccessPolicy* policy = policy_ ? &*policy_ : nullptr;
    if (live_) {
      std::string line = waitLine(request_, policy, waited, style_);
      if (ctx_.terminalWidth > 1) line = truncateDisplay(line, ctx_.terminalWidth - 1);
      out_ << "\r\x1b[2K" << line << std::flush;
      lineShown_ = true;
    } else if (changed) {
      out_ << waitLine(request_, policy, waited, Style(false)) << "\n" << std::flush;
    }
  }
  void clearLine() {
    if (lineShown_) out_ << "\r\x1b[2K";
    lineShown_ = false;
  }

  void tick(std::stop_token st) {
    std::unique_lock lock(mu_);
    while (!st.stop_requested() && !done_) {
      cv_.wait_for(lock, st, std::chrono::seconds(1), [&] { return done_.has_value(); });
      if (st.stop_requested() || done_) break;
      if (deadline_ && ctx_.clock.now() >= *deadline_) {
        clearLine();
        out_ << fmt::format(
            "{} is still {} after the --timeout; it goes on without you "
            "watching (kubectl grant describe {} -n {})\n",
            request_.metadata.name, phaseText(request_), request_.metadata.name,
            request_.metadata.namespace_);
        done_ = ExitCode::WaitTimeout;
        stop_.request_stop();
        break;
      }
      show(false);
    }
  }

  Context& ctx_;
  std::ostream& out_;
  const bool live_;  // one line redrawn in place (a terminal)
  const Style style_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  AccessRequest request_;
  std::string rv_;
  std::optional<AccessPolicy> policy_;
  TimePoint started_;
  std::optional<TimePoint> deadline_;
  std::optional<ExitCode> done_;
  std::stop_source stop_;
  bool lineShown_ = false;
};

}  // namespace

ExitCode request(Context& ctx, const RequestFlags& flags, const RequestOptions& options) {
  if (options.wait && options.dryRun) return usage(ctx, "--wait and --dry-run exclude each other");
  auto policy = getPolicy(ctx, flags.policy);
  auto built = buildRequest(flags, ctx.namespace_, policy ? &*policy : nullptr);
  if (!built) return usage(ctx, built.error().message);
  kube::Object obj(v1::toJson(*built));
  ctx.warnings.take();
  auto created =
      ctx.client.create(kube::resources::accessRequests(), obj, {.dryRun = options.dryRun});
  if (!created) {
    printWarnings(ctx, ctx.err, ctx.errStyle, true);
    return report(ctx, created.error());
  }
  const std::string where = fmt::format("{}/{}", created->namespace_(), created->name());
  if (options.output != Output::Table) {
    printDocument(ctx, created->body, options.output);
    printWarnings(ctx, ctx.err, ctx.errStyle, true);
  } else if (options.dryRun) {
    ctx.out << fmt::format(
        "accessrequest {} would be created (server dry run: nothing was "
        "saved)\n",
        flags.name.empty() ? ctx.namespace_ + "/" + flags.policy + "-<generated>" : where);
    printWarnings(ctx, ctx.out, ctx.outStyle, false);
  } else {
    ctx.out << fmt::format("accessrequest {} created\n", where);
    printWarnings(ctx, ctx.out, ctx.outStyle, false);
  }
  if (!options.wait) return ExitCode::Ok;
  auto typed = decode(*created);
  if (!typed) return report(ctx, typed.error());
  ctx.out << std::flush;
  Waiter waiter(ctx, std::move(*typed), created->resourceVersion(), std::move(policy),
                options.timeout, options.output != Output::Table);
  return waiter.run();
}

ExitCode decide(Context& ctx, const std::string& name, v1::Decision decision,
                const std::string& comment) {
  // Through the status subresource: all an approver's RBAC needs to allow.
  auto current = ctx.client.getRaw(
      kube::resources::accessRequests().objectPath({ctx.namespace_, name}, "status"));
  if (!current) return report(ctx, current.error());
  const json status = current->value("status", json::object());
  if (!status.contains("approvals")) {
    ctx.err << ctx.errStyle.red("error") << ": "
            << fmt::format(
                   "{}/{} has not been seen by the kubegrant operator yet "
                   "(status.approvals is missing); try again in a moment, or check that "
                   "the operator runs\n",
                   ctx.namespace_, name);
    return ExitCode::Error;
  }
  json value{{"decision", v1::toString(decision)}};
  if (!comment.empty()) value["comment"] = comment;
  json patch = json::array({{{"op", "add"}, {"path", "/status/approvals/-"}, {"value", value}}});
  ctx.warnings.take();
  auto patched = ctx.client.patch(kube::resources::accessRequests(), {ctx.namespace_, name},
                                  kube::PatchType::Json, patch, {.subresource = "status"});
  if (!patched) return report(ctx, patched.error());
  const std::string verb = decision == v1::Decision::Approve ? "approved" : "denied";
  ctx.out << fmt::format(
      "accessrequest {}/{} {}\n", ctx.namespace_, name,
      decision == v1::Decision::Approve ? ctx.outStyle.green(verb) : ctx.outStyle.red(verb));
  printWarnings(ctx, ctx.out, ctx.outStyle, false);
  return ExitCode::Ok;
}

ExitCode revoke(Context& ctx, const std::string& name) {
  ctx.warnings.take();
  auto patched = ctx.client.patch(kube::resources::accessRequests(), {ctx.namespace_, name},
                                  kube::PatchType::Merge, json{{"spec", {{"revoke", true}}}});
  if (!patched) return report(ctx, patched.error());
  ctx.out << fmt::format("accessrequest {}/{} revoked: the operator removes its grants now\n",
                         ctx.namespace_, name);
  printWarnings(ctx, ctx.out, ctx.outStyle, false);
  return ExitCode::Ok;
}

ExitCode list(Context& ctx, const ListOptions& options) {
  if (options.mine && options.toApprove) {
    return usage(ctx, "--mine and --to-approve exclude each other");
  }
  const std::string ns = options.allNamespaces ? "" : ctx.namespace_;
  auto requests = ctx.client.list(kube::resources::accessRequests(), ns);
  if (!requests) return report(ctx, requests.error());
  std::optional<UserInfo> caller;
  if (options.mine || options.toApprove) {
    auto me = selfSubjectReview(ctx);
    if (!me) return report(ctx, me.error());
    caller = *me;
  }
  auto policies = listPolicies(ctx);
  if (!policies && options.toApprove) return report(ctx, policies.error());
  const auto now = ctx.clock.now();
  std::vector<std::pair<AccessRequest, const kube::Object*>> shown;
  for (const auto& item : requests->items) {
    auto r = decode(item);
    if (!r) {
      ctx.err << "warning: " << r.error().message << "\n";
      continue;
    }
    const AccessPolicy* policy = nullptr;
    if (policies) {
      auto it = policies->find(r->spec.policy);
      if (it != policies->end()) policy = &it->second;
    }
    if (options.mine && !isMine(*r, *caller)) continue;
    if (options.toApprove && (policy == nullptr || !awaitsDecisionBy(*r, *policy, *caller))) {
      continue;
    }
    shown.emplace_back(std::move(*r), &item);
  }
  std::stable_sort(shown.begin(), shown.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.metadata.namespace_, a.first.metadata.name) <
           std::tie(b.first.metadata.namespace_, b.first.metadata.name);
  });
  if (options.output != Output::Table) {
    json items = json::array();
    for (const auto& [r, obj] : shown) items.push_back(obj->body);
    printDocument(ctx, json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}},
                  options.output);
    return ExitCode::Ok;
  }
  if (shown.empty()) {
    std::string what = options.toApprove ? "requests waiting for your decision"
                       : options.mine    ? "requests of yours"
                                         : "requests";
    ctx.err << fmt::format("No {} found{}.\n", what,
                           options.allNamespaces ? "" : " in namespace " + ctx.namespace_);
    return ExitCode::Ok;
  }
  std::vector<ListRow> rows;
  for (const auto& [r, obj] : shown) {
    const AccessPolicy* policy = nullptr;
    if (policies) {
      auto it = policies->find(r.spec.policy);
      if (it != policies->end()) policy = &it->second;
    }
    rows.push_back(toRow(r, policy, now));
  }
  ctx.out << renderList(rows, options.allNamespaces, ctx.outStyle);
  return ExitCode::Ok;
}

ExitCode describe(Context& ctx, const std::string& name, Output output) {
  auto obj = ctx.client.get(kube::resources::accessRequests(), {ctx.namespace_, name});
  if (!obj) return report(ctx, obj.error());
  auto r = decode(*obj);
  if (!r) return report(ctx, r.error());
  auto policy = getPolicy(ctx, r->spec.policy);
  auto events =
      ctx.client.list(kube::resources::events(), ctx.namespace_,
                      {.fieldSelector = fmt::format("involvedObject.name={},involvedObject.uid={}",
                                                    name, obj->uid())});
  if (output != Output::Table) {
    json evs = json::array();
    if (events) {
      for (const auto& e : events->items) evs.push_back(e.body);
    }
    printDocument(ctx, json{{"request", obj->body}, {"events", evs}}, output);
    return ExitCode::Ok;
  }
  std::vector<EventInfo> infos;
  std::optional<std::string> note;
  if (events) {
    for (const auto& e : events->items) {
      if (auto info = eventFromJson(e.body)) infos.push_back(*info);
    }
  } else {
    note = fmt::format("Events not shown: {}", events.error().message);
  }
  ctx.out << renderDescribe(*r, policy ? &*policy : nullptr, infos, note, ctx.clock.now(),
                            ctx.outStyle);
  return ExitCode::Ok;
}

ExitCode whoami(Context& ctx, Output output) {
  auto me = selfSubjectReview(ctx);
  if (!me) return report(ctx, me.error());
  auto policies = listPolicies(ctx);
  std::vector<AccessPolicy> list;
  if (policies) {
    for (auto& [name, p] : *policies) list.push_back(p);
  }
  if (output != Output::Table) {
    printDocument(ctx, whoamiJson(*me, list), output);
  } else {
    ctx.out << renderWhoami(*me, policies ? &list : nullptr, ctx.outStyle);
  }
  if (!policies) {
    ctx.err << fmt::format("AccessPolicies not shown: {}\n", policies.error().message);
  }
  return ExitCode::Ok;
}

std::vector<std::string> requestNames(Context& ctx) {
  std::vector<std::string> out;
  auto list = ctx.client.list(kube::resources::accessRequests(), ctx.namespace_);
  if (!list) return out;
  for (const auto& item : list->items) out.push_back(item.name());
  return out;
}

ExitCode auditVerify(const std::vector<std::string>& files, const AuditVerifyOptions& options,
                     std::ostream& out, std::ostream& err, const Style& style) {
  std::vector<audit::ChainFile> chain;
  for (const auto& name : files) {
    std::ifstream in(name, std::ios::binary);
    if (!in) {
      err << style.red("error") << ": cannot read " << name << "\n";
      return ExitCode::Error;
    }
    std::ostringstream bytes;
    bytes << in.rdbuf();
    chain.push_back({name, bytes.str()});
  }
  const audit::VerifyReport r = audit::verifyChain(chain, {.anchor = options.anchor});
  if (options.output != Output::Table) {
    json doc = {{"ok", r.ok},
                {"files", files},
                {"lines", r.lines},
                {"lastSeq", r.head.seq},
                {"lastHash", r.head.hash}};
    if (!r.ok) {
      doc["file"] = r.file;
      doc["line"] = r.line;
      doc["problem"] = r.problem;
    }
    out << (options.output == Output::Yaml ? toYaml(doc) : doc.dump(2) + "\n");
  } else if (r.ok) {
    out << style.green("OK")
        << fmt::format(": {} lines in {} file{}, one chain; last seq {} sha256 {}\n", r.lines,
                       files.size(), files.size() == 1 ? "" : "s", r.head.seq, r.head.hash);
  } else {
    out << style.red("TAMPERED") << ": " << r.file
        << (r.line != 0 ? fmt::format(":{}", r.line) : std::string()) << ": " << r.problem << "\n"
        << fmt::format("  {} line{} good before it; last good seq {} sha256 {}\n", r.lines,
                       r.lines == 1 ? "" : "s", r.head.seq, r.head.hash);
  }
  return r.ok ? ExitCode::Ok : ExitCode::Tampered;
}

ExitCode report(Context& ctx, const ReportOptions& options) {
  const std::string ns = options.allNamespaces ? "" : ctx.namespace_;
  auto list = ctx.client.list(kube::resources::accessRequests(), ns);
  if (!list) return report(ctx, list.error());
  std::vector<AccessRequest> requests;
  for (const auto& item : list->items) {
    auto r = decode(item);
    if (!r) {
      ctx.err << "warning: " << r.error().message << "\n";
      continue;
    }
    requests.push_back(std::move(*r));
  }
  std::map<std::string, v1::DatabaseTarget> targets;
  bool anyDatabase = false;
  for (const auto& r : requests) anyDatabase |= !r.spec.databases.empty();
  if (anyDatabase) {
    auto t = ctx.client.list(kube::resources::databaseTargets(), "");
    if (!t) {
      ctx.err << ctx.errStyle.yellow("Warning: ") << "DatabaseTargets cannot be read ("
              << t.error().message << "): withheld and masked columns are shown as unknown\n";
    } else {
      for (const auto& item : t->items) {
        if (auto target = v1::fromJson<v1::DatabaseTarget>(item.body)) {
          targets.emplace(target->metadata.name, std::move(*target));
        }
      }
    }
  }
  const ReportMeta meta{.now = ctx.clock.now(),
                        .since = options.since,
                        .scope = options.allNamespaces ? std::string("all namespaces")
                                                       : "namespace " + ctx.namespace_};
  const auto rows = reportRows(requests, targets, options.since, meta.now);
  switch (options.format) {
    case ReportFormat::Json:
      ctx.out << reportJson(rows, meta).dump(2) << "\n";
      break;
    case ReportFormat::Csv:
      ctx.out << reportCsv(rows);
      break;
    case ReportFormat::Html:
      ctx.out << reportHtml(rows, meta);
      break;
    case ReportFormat::Table:
      ctx.out << reportTable(rows, meta);
      break;
  }
  return ExitCode::Ok;
}

}  // namespace kubegrant::kubectl_grant
