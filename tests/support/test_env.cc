#include "tests/support/test_env.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/spawn.h"

namespace kubegrant::testing {
namespace {

std::optional<std::string> var(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

}  // namespace

std::string TestEnv::kubeconfig(std::string_view user) const {
  return dir + "/kubeconfig/" + std::string(user) + ".yaml";
}

std::string TestEnv::pgAdminConnString() const {
  return "host=" + pgHost + " port=" + pgPort + " dbname=" + pgDatabase + " user=" + pgAdminUser +
         " password=" + pgAdminPassword + " connect_timeout=5";
}

std::vector<std::string> auditEvents(const std::string& logPath, const std::string& ns,
                                     const std::string& name) {
  std::vector<std::string> out;
  std::ifstream in(logPath);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j.value("kind", "") != "kubegrant.audit" || !j.contains("request")) {
      continue;
    }
    if (j["request"].value("name", "") != name || j["request"].value("namespace", "") != ns) {
      continue;
    }
    out.push_back(j.value("event", ""));
  }
  return out;
}

std::set<std::string> registeredMetrics(const std::string& sourceDir) {
  std::set<std::string> out;
  const std::regex literal("\"(kubegrant_[a-z_]+)\"");
  for (const char* dir : {"operator", "controllers", "webhooks"}) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(sourceDir + "/" + dir)) {
      if (e.path().extension() != ".cc") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      for (std::sregex_iterator it(text.begin(), text.end(), literal), end; it != end; ++it) {
        out.insert((*it)[1]);
      }
    }
  }
  return out;
}

namespace {

// A tool tests/controlplane/build.sh builds, from its variable.
std::optional<std::string> requireTool(const char* variable, std::string_view what) {
  auto v = var(variable);
  if (!v) {
    ADD_FAILURE() << variable << " is not set: the chart tests need " << what
                  << " that tests/controlplane/build.sh builds. Run them with `make test`, or "
                     "`eval $(tests/controlplane/build.sh helm) && export "
                  << variable << "`.";
  }
  return v;
}

}  // namespace

std::optional<std::string> requireHelm() { return requireTool("KUBEGRANT_HELM", "the Helm CLI"); }

std::optional<std::string> requirePromtool() {
  return requireTool("KUBEGRANT_PROMTOOL", "Prometheus's promtool");
}

std::optional<TestEnv> requireEnv() {
  TestEnv env;
  struct Field {
    const char* name;
    std::string* out;
  } fields[] = {
      {"KUBEGRANT_TEST_DIR", &env.dir},
      {"KUBEGRANT_API_SERVER", &env.apiServer},
      {"KUBEGRANT_CA_CERT", &env.caCert},
      {"KUBEGRANT_CA_KEY", &env.caKey},
      {"KUBEGRANT_PG_HOST", &env.pgHost},
      {"KUBEGRANT_PG_PORT", &env.pgPort},
      {"KUBEGRANT_PG_DATABASE", &env.pgDatabase},
      {"KUBEGRANT_PG_ADMIN_USER", &env.pgAdminUser},
      {"KUBEGRANT_PG_ADMIN_PASSWORD", &env.pgAdminPassword},
      {"KUBEGRANT_HELM", &env.helm},
  };
  for (auto& f : fields) {
    auto v = var(f.name);
    if (!v) {
      ADD_FAILURE() << f.name
                    << " is not set: integration tests need the local control plane. Run them "
                       "with `make test`, or `tests/controlplane/up.sh DIR && source DIR/env`.";
      return std::nullopt;
    }
    *f.out = *v;
  }
  return env;
}

CommandResult runCommand(const std::vector<std::string>& argv, std::string_view input) {
  CommandResult result;
  int inPipe[2], outPipe[2], errPipe[2];
  if (pipe2(inPipe, O_CLOEXEC) != 0 || pipe2(outPipe, O_CLOEXEC) != 0 ||
      pipe2(errPipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  std::string spawnError;
  const pid_t pid =
      Spawn(argv).dup(inPipe[0], 0).dup(outPipe[1], 1).dup(errPipe[1], 2).start(&spawnError);
  if (pid < 0) {
    for (int fd : {inPipe[0], inPipe[1], outPipe[0], outPipe[1], errPipe[0], errPipe[1]}) close(fd);
    result.exitCode = 127;  // as a shell reports a command it cannot run
    result.err = spawnError;
    return result;
  }
  close(inPipe[0]);
  close(outPipe[1]);
  close(errPipe[1]);
  size_t written = 0;
  if (input.empty()) {
    close(inPipe[1]);
    inPipe[1] = -1;
  }
  pollfd fds[3] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}, {inPipe[1], POLLOUT, 0}};
  bool outOpen = true, errOpen = true;
  while (outOpen || errOpen) {
    fds[0].fd = outOpen ? outPipe[0] : -1;
    fds[1].fd = errOpen ? errPipe[0] : -1;
    fds[2].fd = inPipe[1];
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[8192];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
        } else {
          (i == 0 ? outOpen : errOpen) = false;
        }
      }
    }
    if (inPipe[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = write(inPipe[1], input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n <= 0 || written == input.size()) {
        close(inPipe[1]);
        inPipe[1] = -1;
      }
    }
  }
  if (inPipe[1] >= 0) close(inPipe[1]);
  close(outPipe[0]);
  close(errPipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult kubectl(const TestEnv& env, std::string_view user, std::vector<std::string> args,
                      std::string_view input) {
  std::vector<std::string> argv = {"kubectl", "--kubeconfig", env.kubeconfig(user)};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, input);
}

nlohmann::json getAccessRequest(const TestEnv& env, const std::string& ns,
                                const std::string& name) {
  auto r = kubectl(env, "admin", {"get", "areq", name, "-n", ns, "-o", "json"});
  if (r.exitCode != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string accessRequestPhase(const TestEnv& env, const std::string& ns, const std::string& name) {
  auto j = getAccessRequest(env, ns, name);
  if (!j.is_object() || !j.contains("status") || !j["status"].is_object()) return "";
  return j["status"].value("phase", "");
}

std::string uniqueName(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

}  // namespace kubegrant::testing
