#include "operator/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "operator/common/time.h"

namespace kubegrant::log {
namespace {

std::atomic<Level> gLevel{Level::Info};
std::mutex gMu;
std::function<void(std::string_view)> gSink;

const char* name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}

}  // namespace

void setLevel(Level level) { gLevel.store(level); }
Level level() { return gLevel.load(); }

void setSink(std::function<void(std::string_view line)> sink) {
  std::lock_guard<std::mutex> g(gMu);
  gSink = std::move(sink);
}

void write(Level lvl, std::string_view logger, std::string_view msg, const nlohmann::json& fields) {
  if (lvl < gLevel.load()) return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = formatRfc3339Micro(WallClock::now());
  line["level"] = name(lvl);
  line["logger"] = logger;
  line["msg"] = msg;
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // `replace` keeps a log line from throwing on invalid UTF-8 in user-supplied strings.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> g(gMu);
  if (gSink) {
    gSink(text);
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
}

}  // namespace kubegrant::log
