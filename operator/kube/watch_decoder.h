#pragma once

// Decoding of the watch stream: newline-delimited JSON events
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}. Bytes arrive in
// arbitrary chunks; the decoder yields each complete event as soon as its line is complete.

#include <string>
#include <string_view>

#include "operator/common/result.h"
#include "operator/kube/client.h"

namespace kubegrant::kube {

// Decodes one event line. ERROR events become their Error (410 / "Expired" -> Gone);
// malformed lines become Internal. `dropManagedFields`: the object comes without
// metadata.managedFields (never built, see parseWithoutManagedFields).
Result<WatchEvent> decodeWatchEvent(std::string_view line, bool dropManagedFields = false);

// Splits a byte stream into lines and hands each decoded event to the handler.
class WatchStreamDecoder {
 public:
  explicit WatchStreamDecoder(WatchHandler handler, bool dropManagedFields = false)
      : handler_(std::move(handler)), dropManagedFields_(dropManagedFields) {}

  // Feeds bytes. Returns the first error met (an ERROR event or a malformed line); the
  // stream should then be abandoned. Events before the error have been delivered.
  Result<void> feed(std::string_view bytes);
  // Called at end of stream: a trailing line without '\n' is decoded too.
  Result<void> finish();
  // Number of events delivered so far.
  std::size_t delivered() const { return delivered_; }

 private:
  Result<void> processLine(std::string_view line);
  WatchHandler handler_;
  std::string buffer_;
  std::size_t delivered_ = 0;
  bool dropManagedFields_ = false;
};

}  // namespace kubegrant::kube
