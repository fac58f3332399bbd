#include "operator/kube/warnings.h"

#include <cctype>

namespace kubegrant::kube {

std::vector<std::string> parseWarningHeader(std::string_view header) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto skipSpace = [&] {
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) ++i;
  };
  // A quoted-string starting at i (which is '"'), unescaped; false when unterminated.
  auto quoted = [&](std::string& text) {
    ++i;
    while (i < header.size() && header[i] != '"') {
      if (header[i] == '\\' && i + 1 < header.size()) ++i;
      text.push_back(header[i++]);
    }
    if (i >= header.size()) return false;
    ++i;
    return true;
  };
  while (true) {
    skipSpace();
    if (i >= header.size()) break;
    // warn-code: three digits
    if (i + 3 > header.size() || !std::isdigit(static_cast<unsigned char>(header[i])) ||
        !std::isdigit(static_cast<unsigned char>(header[i + 1])) ||
        !std::isdigit(static_cast<unsigned char>(header[i + 2]))) {
      break;
    }
    std::string_view code = header.substr(i, 3);
    i += 3;
    skipSpace();
    // warn-agent: a token or host[:port], up to the next space
    while (i < header.size() && header[i] != ' ' && header[i] != '\t') ++i;
    skipSpace();
    if (i >= header.size() || header[i] != '"') break;
    std::string text;
    if (!quoted(text)) break;
    skipSpace();
    if (i < header.size() && header[i] == '"') {  // optional warn-date
      std::string date;
      if (!quoted(date)) break;
      skipSpace();
    }
    if (code == "299") out.push_back(std::move(text));
    if (i < header.size() && header[i] != ',') break;
    ++i;
  }
  return out;
}

}  // namespace kubegrant::kube
