#include "operator/common/audit_chain.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "operator/common/crypto.h"

namespace kubegrant::audit {

namespace {

bool isHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A line of the files to verify, where it is and what it says.
struct Line {
  std::size_t file = 0;
  std::uint64_t number = 0;  // 1-based within its file
  std::string_view text;
  bool complete = true;
};

std::string shortHash(const std::string& h) { return h.substr(0, 12); }

// The seq and prev a chained line carries.
struct Link {
  std::uint64_t seq = 0;
  std::string prev;
};

Result<Link> linkOf(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return fail(ErrorCode::Invalid, "not a JSON object");
  auto seq = j.find("seq");
  auto prev = j.find("prev");
  if (seq == j.end() || !seq->is_number_unsigned() || seq->get<std::uint64_t>() == 0) {
    return fail(ErrorCode::Invalid, "no seq (an unsigned number from 1)");
  }
  if (prev == j.end() || !prev->is_string() || !isHex64(prev->get<std::string>())) {
    return fail(ErrorCode::Invalid, "no prev (64 lower-case hex digits)");
  }
  return Link{seq->get<std::uint64_t>(), prev->get<std::string>()};
}

}  // namespace

std::string chainLine(nlohmann::json record, const ChainHead& head) {
  record["seq"] = head.seq + 1;
  record["prev"] = head.hash;
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ChainHead nextHead(const ChainHead& head, std::string_view line) {
  return ChainHead{head.seq + 1, sha256Hex(line)};
}

Result<ChainHead> headOf(std::string_view line) {
  auto link = linkOf(line);
  if (!link) return fail(link.error());
  return ChainHead{link->seq, sha256Hex(line)};
}

Result<std::optional<LastLine>> lastLineOf(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    if (errno == ENOENT) return std::nullopt;
    return fail(ErrorCode::Invalid, fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  if (std::fseek(f.get(), 0, SEEK_END) != 0) {
    return fail(ErrorCode::Invalid, fmt::format("cannot seek in {}", path));
  }
  long end = std::ftell(f.get());
  if (end <= 0) return std::nullopt;
  // Read backwards in chunks until the '\n' before the last line (or the file's start).
  std::string tail;
  long pos = end;
  bool endsWithNewline = false;
  constexpr long kChunk = 8192;
  while (pos > 0) {
    long n = std::min(kChunk, pos);
    pos -= n;
    std::string chunk(static_cast<std::size_t>(n), '\0');
    if (std::fseek(f.get(), pos, SEEK_SET) != 0 ||
        std::fread(chunk.data(), 1, chunk.size(), f.get()) != chunk.size()) {
      return fail(ErrorCode::Invalid, fmt::format("cannot read {}", path));
    }
    if (pos + n == end) endsWithNewline = chunk.back() == '\n';
    tail = chunk + tail;
    // The last line starts after the last '\n' that is not the file's final byte.
    std::size_t searchEnd = tail.size() - (endsWithNewline ? 1 : 0);
    if (searchEnd > 0) {
      auto nl = tail.rfind('\n', searchEnd - 1);
      if (nl != std::string::npos) {
        tail = tail.substr(nl + 1);
        break;
      }
    }
  }
  LastLine last;
  last.complete = !tail.empty() && tail.back() == '\n';
  if (last.complete) tail.pop_back();
  last.text = std::move(tail);
  if (last.text.empty() && last.complete) return std::nullopt;
  return last;
}

VerifyReport verifyChain(const std::vector<ChainFile>& files, const VerifyOptions& options) {
  std::vector<Line> lines;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    std::string_view rest = files[fi].content;
    std::uint64_t number = 0;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      ++number;
      if (nl == std::string_view::npos) {
        lines.push_back({fi, number, rest, false});
        break;
      }
      lines.push_back({fi, number, rest.substr(0, nl), true});
      rest.remove_prefix(nl + 1);
    }
  }

  VerifyReport report;
  ChainHead head, beforeHead;  // of the last good line, and of the one before it
  bool anchorSeen = !options.anchor.has_value();
  // Where the last good line is, to name it when the next one says it was changed.
  const Line* previous = nullptr;
  auto failAt = [&](const Line& at, std::string problem) {
    report.ok = false;
    report.head = head;
    report.file = files[at.file].name;
    report.line = at.number;
    report.problem = std::move(problem);
    return report;
  };
  std::vector<Result<Link>> parsed;
  parsed.reserve(lines.size());
  for (const auto& l : lines) parsed.push_back(linkOf(l.text));

  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    const std::uint64_t expected = head.seq + 1;
    if (!line.complete) {
      return failAt(line, fmt::format("line {} is incomplete (no newline at its end): the file was "
                                      "truncated inside it (seq {} expected)",
                                      line.number, expected));
    }
    if (!parsed[i]) {
      const auto& why = parsed[i].error().message;
      return failAt(line, fmt::format("line {} is not a chained audit line ({}): it was inserted "
                                      "or changed (seq {} expected)",
                                      line.number, why, expected));
    }
    const std::uint64_t seq = parsed[i]->seq;
    const std::string& prev = parsed[i]->prev;
    if (seq == expected) {
      if (prev != head.hash) {
        if (previous == nullptr) {
          return failAt(line, fmt::format("line {} (seq 1) does not start a chain: its prev is {}, "
                                          "not 64 zeros; it was changed",
                                          line.number, shortHash(prev)));
        }
        // That line is not good after all: the report ends before it.
        const ChainHead changedHead = head;
        head = beforeHead;
        --report.lines;
        return failAt(
            *previous,
            fmt::format("line {}{} (seq {}) was changed: it hashes to {} but the next "
                        "line (seq {}) recorded {}",
                        previous->number,
                        previous->file == line.file
                            ? std::string()
                            : fmt::format(" of {}", files[previous->file].name),
                        changedHead.seq, shortHash(changedHead.hash), seq, shortHash(prev)));
      }
    } else if (seq > expected) {
      if (previous == nullptr) {
        return failAt(line,
                      fmt::format("line {} has seq {}, but a chain starts at seq 1: the lines "
                                  "before it were removed, or give the earlier files first",
                                  line.number, seq));
      }
      for (std::size_t k = i + 1; k < lines.size(); ++k) {
        if (parsed[k] && parsed[k]->seq == expected) {
          return failAt(
              line,
              fmt::format("line {} (seq {}) is out of order: seq {} comes later, at "
                          "line {} of {}; lines were reordered",
                          line.number, seq, expected, lines[k].number, files[lines[k].file].name));
        }
      }
      return failAt(
          line, fmt::format("{} removed before line {}: it has seq {} after seq {}",
                            seq - expected == 1 ? fmt::format("a line (seq {}) was", expected)
                                                : fmt::format("{} lines (seq {} to {}) were",
                                                              seq - expected, expected, seq - 1),
                            line.number, seq, head.seq));
    } else if (seq == 1 && prev == kGenesis) {
      return failAt(line, fmt::format("line {} starts a new chain (seq 1) after seq {}: the lines "
                                      "before it are not part of its chain",
                                      line.number, head.seq));
    } else if (seq == head.seq) {
      return failAt(line, fmt::format("line {} repeats seq {} of the line before it: one of the "
                                      "two was inserted",
                                      line.number, seq));
    } else {
      return failAt(line, fmt::format("line {} (seq {}) comes after seq {}: it was reordered or "
                                      "inserted",
                                      line.number, seq, head.seq));
    }
    beforeHead = head;
    head = ChainHead{seq, sha256Hex(line.text)};
    ++report.lines;
    previous = &lines[i];
    if (options.anchor && head.hash == *options.anchor) anchorSeen = true;
  }
  report.head = head;
  if (!anchorSeen) {
    report.ok = false;
    report.file = files.empty() ? std::string() : files.back().name;
    report.line = 0;
    report.problem = fmt::format(
        "the anchor {} is not in the chain ({} lines up to seq {}): lines were removed from the "
        "end, or this is another log",
        *options.anchor, report.lines, head.seq);
    return report;
  }
  report.ok = true;
  return report;
}

}  // namespace kubegrant::audit
