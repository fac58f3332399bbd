#pragma once

// kubectl-grant's command line (CLI11): flags, subcommands, help with exit codes, shell
// completion, and the wiring from the parsed flags to the commands. New subcommands (such
// as `report` and `audit verify`) are added in buildApp() next to the others.

#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace kubegrant::kubectl_grant {

// The process around the plugin, injectable for tests.
struct Io {
  std::ostream& out;
  std::ostream& err;
  bool outIsTty = false;
  bool errIsTty = false;
  const char* noColor = nullptr;  // $NO_COLOR
  std::size_t terminalWidth = 0;  // columns of the terminal on stdout; 0 = unknown
};

// Runs `kubectl-grant ARGS...` (args[0] is the program name); returns the exit code.
int run(const std::vector<std::string>& args, const Io& io);

// Shell completion. `words` are the words typed after the program name, the last one being
// the word under the cursor (possibly empty). Returns candidates as cobra's `__complete`
// prints them: one per line, then ":4" (no file completion), so that kubectl's plugin
// completion (a `kubectl_complete-grant` on PATH) and the scripts of `completion bash|zsh`
// both use it. `names` lists request names for NAME arguments.
std::string complete(const std::vector<std::string>& words,
                     const std::function<std::vector<std::string>()>& names);

std::string bashCompletionScript();
std::string zshCompletionScript();

}  // namespace kubegrant::kubectl_grant
