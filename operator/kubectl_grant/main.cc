// kubectl-grant: the kubectl plugin for requesters and approvers (`kubectl grant ...`).
// Wiring only: the process's streams and terminal, then cli.h.

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "operator/common/tls_trust.h"
#include "operator/kubectl_grant/cli.h"

int main(int argc, char** argv) {
  // Each connection starts from an empty default trust; the kube client installs the
  // cluster's CA (operator/common/tls_trust.h).
  kubegrant::tls::takeOverDefaultTrust();
  std::vector<std::string> args(argv, argv + argc);
  winsize ws{};
  const bool outIsTty = ::isatty(STDOUT_FILENO) == 1;
  std::size_t width = 0;
  if (outIsTty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) width = ws.ws_col;
  kubegrant::kubectl_grant::Io io{
      std::cout, std::cerr, outIsTty, ::isatty(STDERR_FILENO) == 1, std::getenv("NO_COLOR"), width};
  return kubegrant::kubectl_grant::run(args, io);
}
