#pragma once

// Structured JSON logs, one object per line on stderr (or a sink set at startup):
//   {"ts":"...","level":"info","logger":"controller","msg":"reconciled","request":"ns/name"}
// Never pass secrets as fields. Thread-safe.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kubegrant::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLevel(Level level);
Level level();
// Replaces the output (default: stderr). The sink receives one complete line, no newline.
void setSink(std::function<void(std::string_view line)> sink);

void write(Level level, std::string_view logger, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view logger, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::Debug, logger, msg, fields);
}
inline void info(std::string_view logger, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::Info, logger, msg, fields);
}
inline void warn(std::string_view logger, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::Warn, logger, msg, fields);
}
inline void error(std::string_view logger, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::Error, logger, msg, fields);
}

}  // namespace kubegrant::log
