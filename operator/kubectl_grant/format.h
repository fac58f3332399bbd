#pragma once

// How kubectl-grant prints: aligned tables as kubectl prints them, short human durations,
// ANSI colour only when wanted, JSON and YAML output.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace kubegrant::kubectl_grant {

// Colour on or off. On only for a terminal and never when NO_COLOR is set (any value but
// empty), as https://no-color.org asks: see colorWanted().
class Style {
 public:
  explicit Style(bool color) : color_(color) {}
  bool color() const { return color_; }
  std::string green(std::string_view s) const { return wrap("32", s); }
  std::string yellow(std::string_view s) const { return wrap("33", s); }
  std::string red(std::string_view s) const { return wrap("31", s); }
  std::string dim(std::string_view s) const { return wrap("2", s); }
  std::string bold(std::string_view s) const { return wrap("1", s); }
  // A phase name in its colour: Active green, Pending/Approved yellow, Denied/Failed red,
  // Expired/Revoked dim.
  std::string phase(std::string_view phase) const;

 private:
  std::string wrap(std::string_view code, std::string_view s) const;
  bool color_;
};

// isTty: the stream is a terminal; noColorEnv: the value of NO_COLOR (nullptr when unset).
bool colorWanted(bool isTty, const char* noColorEnv);

// The width a terminal shows for `s`: UTF-8 code points, ANSI escape sequences not counted.
std::size_t displayWidth(std::string_view s);
// `s` cut to at most `width` display columns (escape sequences kept), "…" marking a cut.
std::string truncateDisplay(std::string_view s, std::size_t width);

// A table as kubectl prints one: upper-case headers, columns left-aligned and separated by
// three spaces, no trailing spaces. Cells may carry colour: widths ignore escape sequences.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void addRow(std::vector<std::string> cells);
  std::string render() const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// A short human duration for columns and status lines: "45s", "4m30s", "59m", "1h59m",
// "2d3h"; zero parts are left out ("2h", "3d"); negative durations are "0s".
std::string humanDuration(std::chrono::nanoseconds d);

// JSON as YAML (block style, keys in the JSON's order). Strings that YAML would read as
// something else (true, null, 1.5, "", ...) are quoted so the document reads back the same.
std::string toYaml(const nlohmann::json& j);

}  // namespace kubegrant::kubectl_grant
