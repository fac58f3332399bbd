#include "operator/kubectl_grant/format.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>

namespace kubegrant::kubectl_grant {

std::string Style::wrap(std::string_view code, std::string_view s) const {
  if (!color_ || s.empty()) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

std::string Style::phase(std::string_view phase) const {
  if (phase == "Active") return green(phase);
  if (phase == "Pending" || phase == "Approved") return yellow(phase);
  if (phase == "Denied" || phase == "Failed") return red(phase);
  if (phase == "Expired" || phase == "Revoked") return dim(phase);
  return std::string(phase);
}

bool colorWanted(bool isTty, const char* noColorEnv) {
  return isTty && (noColorEnv == nullptr || *noColorEnv == '\0');
}

namespace {

// Length of the escape sequence starting at s[i] (which is ESC), or 0.
std::size_t escapeLength(std::string_view s, std::size_t i) {
  if (i + 1 >= s.size() || s[i + 1] != '[') return 0;
  std::size_t j = i + 2;
  while (j < s.size() && !(s[j] >= '@' && s[j] <= '~')) ++j;
  return j < s.size() ? j - i + 1 : 0;
}

bool isContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::size_t displayWidth(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\x1b') {
      if (std::size_t n = escapeLength(s, i); n > 0) {
        i += n;
        continue;
      }
    }
    if (!isContinuationByte(s[i])) ++width;
    ++i;
  }
  return width;
}

std::string truncateDisplay(std::string_view s, std::size_t width) {
  if (displayWidth(s) <= width) return std::string(s);
  if (width == 0) return {};
  std::string out;
  std::size_t shown = 0;
  bool escaped = false;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\x1b') {
      if (std::size_t n = escapeLength(s, i); n > 0) {
        out.append(s.substr(i, n));
        escaped = true;
        i += n;
        continue;
      }
    }
    if (!isContinuationByte(s[i])) {
      if (shown == width - 1) break;
      ++shown;
    }
    out.push_back(s[i++]);
  }
  out += "…";
  if (escaped) out += "\x1b[0m";
  return out;
}

void Table::addRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) widths[c] = displayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], displayWidth(row[c]));
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) {
        text.append(widths[c] - displayWidth(cells[c]) + 3, ' ');
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  std::vector<std::string> upper;
  for (const auto& h : headers_) {
    std::string u = h;
    std::transform(u.begin(), u.end(), u.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    upper.push_back(u);
  }
  line(upper);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string humanDuration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  if (d < 0ns) d = 0ns;
  const auto s = duration_cast<seconds>(d).count();
  if (s < 60) return fmt::format("{}s", s);
  const auto m = s / 60;
  if (m < 10) return s % 60 ? fmt::format("{}m{}s", m, s % 60) : fmt::format("{}m", m);
  if (m < 60) return fmt::format("{}m", m);
  const auto h = m / 60;
  if (h < 24) return m % 60 ? fmt::format("{}h{}m", h, m % 60) : fmt::format("{}h", h);
  const auto days = h / 24;
  return h % 24 ? fmt::format("{}d{}h", days, h % 24) : fmt::format("{}d", days);
}

namespace {

// Plain scalars YAML 1.1/1.2 would read as a non-string.
bool needsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::regex special(
      "^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|"
      "Off|OFF|y|Y|n|N|[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]+)?|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|0x[0-9a-fA-F]+|0o[0-7]+)$");
  return std::regex_match(s, special);
}

void emit(YAML::Emitter& out, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out << YAML::Key << it.key() << YAML::Value;
        emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : j) emit(out, item);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (needsQuotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case nlohmann::json::value_t::boolean:
      out << j.get<bool>();
      break;
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out << YAML::Null;
      break;
    case nlohmann::json::value_t::number_integer:
      out << j.get<std::int64_t>();
      break;
    case nlohmann::json::value_t::number_unsigned:
      out << j.get<std::uint64_t>();
      break;
    default:
      out << j.get<double>();
      break;
  }
}

}  // namespace

std::string toYaml(const nlohmann::json& j) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit(out, j);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace kubegrant::kubectl_grant
