// kubegrant-certs: serving certificates for the admission webhook in local runs and tests.
//
//   kubegrant-certs --dir DIR [--dns NAME]... [--ip ADDR]... [--ca-cert F --ca-key F] [--days N]
//
// Writes DIR/tls.crt, DIR/tls.key (0600) and DIR/ca.crt and prints the base64 caBundle on
// stdout, ready for operator/deploy/render-webhooks.sh. Without --ca-cert/--ca-key a fresh
// CA is generated (its key is not kept: rerun to rotate). Defaults: --dns localhost
// --ip 127.0.0.1.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "webhooks/server/certs.h"

int main(int argc, char** argv) {
  kubegrant::webhooks::CertificateRequest req;
  bool dnsGiven = false;
  bool ipGiven = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kubegrant-certs: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--dir") {
      req.dir = value();
    } else if (arg == "--dns") {
      if (!dnsGiven) req.dnsNames.clear();
      dnsGiven = true;
      req.dnsNames.push_back(value());
    } else if (arg == "--ip") {
      if (!ipGiven) req.ipAddresses.clear();
      ipGiven = true;
      req.ipAddresses.push_back(value());
    } else if (arg == "--ca-cert") {
      req.caCertFile = value();
    } else if (arg == "--ca-key") {
      req.caKeyFile = value();
    } else if (arg == "--days") {
      req.validDays = std::atoi(value().c_str());
    } else if (arg == "-h" || arg == "--help") {
      std::printf(
          "usage: kubegrant-certs --dir DIR [--dns NAME]... [--ip ADDR]... "
          "[--ca-cert FILE --ca-key FILE] [--days N]\n"
          "Writes DIR/tls.crt, DIR/tls.key and DIR/ca.crt; prints the base64 caBundle.\n");
      return 0;
    } else {
      std::fprintf(stderr, "kubegrant-certs: unknown argument %s (see --help)\n", arg.c_str());
      return 2;
    }
  }
  if (req.dir.empty()) {
    std::fprintf(stderr, "kubegrant-certs: --dir is required\n");
    return 2;
  }
  if (dnsGiven &&
      std::find(req.dnsNames.begin(), req.dnsNames.end(), "localhost") == req.dnsNames.end()) {
    req.dnsNames.insert(req.dnsNames.begin(), "localhost");
  }
  auto out = kubegrant::webhooks::generateCertificates(req);
  if (!out) {
    std::fprintf(stderr, "kubegrant-certs: %s\n", out.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", out->caBundle.c_str());
  return 0;
}
