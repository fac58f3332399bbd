#include "operator/kube/watch_decoder.h"

#include <fmt/format.h>

#include "operator/kube/errors.h"

namespace kubegrant::kube {

Result<WatchEvent> decodeWatchEvent(std::string_view line, bool dropManagedFields) {
  nlohmann::json j = dropManagedFields
                         ? parseWithoutManagedFields(line, JsonShape::WatchEvent)
                         : nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return fail(ErrorCode::Internal,
                fmt::format("malformed watch event: {}",
                            line.substr(0, std::min<size_t>(200, line.size()))));
  }
  auto typeIt = j.find("type");
  auto objIt = j.find("object");
  if (typeIt == j.end() || !typeIt->is_string() || objIt == j.end() || !objIt->is_object()) {
    return fail(ErrorCode::Internal, "watch event without type or object");
  }
  const std::string type = typeIt->get<std::string>();
  WatchEvent ev;
  if (type == "ADDED") {
    ev.type = WatchEventType::Added;
  } else if (type == "MODIFIED") {
    ev.type = WatchEventType::Modified;
  } else if (type == "DELETED") {
    ev.type = WatchEventType::Deleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEventType::Bookmark;
  } else if (type == "ERROR") {
    Error e = errorFromStatus(*objIt);
    // "too old resource version" arrives as code 410 reason Expired (or Gone); either way
    // the caller must re-list.
    if (e.httpStatus == 410 || e.message.find("too old resource version") != std::string::npos) {
      e.code = ErrorCode::Gone;
    }
    return std::unexpected(std::move(e));
  } else {
    return fail(ErrorCode::Internal, fmt::format("unknown watch event type {}", type));
  }
  ev.object = Object(std::move(*objIt));
  return ev;
}

Result<void> WatchStreamDecoder::processLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return ok();
  auto ev = decodeWatchEvent(line, dropManagedFields_);
  if (!ev) return std::unexpected(std::move(ev.error()));
  ++delivered_;
  handler_(*ev);
  return ok();
}

Result<void> WatchStreamDecoder::feed(std::string_view bytes) {
  std::size_t start = 0;
  while (true) {
    std::size_t nl = bytes.find('\n', start);
    if (nl == std::string_view::npos) break;
    std::string_view piece = bytes.substr(start, nl - start);
    Result<void> r;
    if (buffer_.empty()) {
      r = processLine(piece);
    } else {
      buffer_.append(piece);
      std::string line = std::move(buffer_);
      buffer_.clear();
      r = processLine(line);
    }
    if (!r) return r;
    start = nl + 1;
  }
  buffer_.append(bytes.substr(start));
  return ok();
}

Result<void> WatchStreamDecoder::finish() {
  if (buffer_.empty()) return ok();
  std::string line = std::move(buffer_);
  buffer_.clear();
  return processLine(line);
}

}  // namespace kubegrant::kube
