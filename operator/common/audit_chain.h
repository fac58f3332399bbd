#pragma once

// The audit log's hash chain, shared by the writer (controllers/access_request/audit.h) and
// the checker (`kubectl grant audit verify`).
//
// Canonical form: an audit line is one JSON object on one line, ended by '\n'. Each carries
// "seq" (1, 2, 3, ... over the whole chain, across restarts and rotated files) and "prev",
// the lower-case hex SHA-256 of the exact bytes of the previous line of the chain (without
// its '\n'); the first line of a chain has seq 1 and prev = 64 zeros (kGenesis). Changing any
// byte of a line changes its hash, which the next line no longer matches; removing,
// reordering or inserting lines breaks the seq order. What the chain alone cannot show is the
// loss of its last lines: verify prints the last hash so that a reviewer can keep it and
// later require it (`--anchor`).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "operator/common/result.h"

namespace kubegrant::audit {

inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Where a chain stands: the seq and the hash of its last line (seq 0 and kGenesis when empty).
struct ChainHead {
  std::uint64_t seq = 0;
  std::string hash = std::string(kGenesis);
  bool operator==(const ChainHead&) const = default;
};

// `record` with seq = head.seq + 1 and prev = head.hash, as one line (no '\n'). Non-UTF-8
// bytes are replaced, so that the line is valid JSON.
std::string chainLine(nlohmann::json record, const ChainHead& head);

// The head after `line` (written with chainLine(record, head)).
ChainHead nextHead(const ChainHead& head, std::string_view line);

// The head a chain ending with `line` has: its seq and its hash. Invalid when the line is not
// a chained audit line (no JSON object with an unsigned seq >= 1 and a 64-hex prev).
[[nodiscard]] Result<ChainHead> headOf(std::string_view line);

// The last line of the file at `path` (without '\n'), read from its end. nullopt when the file
// is missing or empty; `complete` is false when that line has no '\n' (a torn write).
struct LastLine {
  std::string text;
  bool complete = true;
};
[[nodiscard]] Result<std::optional<LastLine>> lastLineOf(const std::string& path);

// One file of a chain to verify: its name (for messages) and its bytes.
struct ChainFile {
  std::string name;
  std::string content;
};

struct VerifyOptions {
  // When set, a line with this hash must be part of the chain (a head kept from an earlier
  // verify): lines lost from the end of the log are then found.
  std::optional<std::string> anchor;
};

struct VerifyReport {
  bool ok = false;
  std::uint64_t lines = 0;  // lines checked and found good
  ChainHead head;           // of the last good line
  // When !ok: the file and 1-based line the problem is at (line 0 = the file as a whole) and
  // what is wrong, naming the line that was changed, removed, reordered or inserted.
  std::string file;
  std::uint64_t line = 0;
  std::string problem;
};

// Checks that `files`, in order, hold one unbroken chain starting at seq 1.
VerifyReport verifyChain(const std::vector<ChainFile>& files, const VerifyOptions& options = {});

}  // namespace kubegrant::audit
