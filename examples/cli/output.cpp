// The command-line tool's output: events, rejects and the summary as JSON lines, written so
// that a failure to write is never silent.

#include "output.hpp"

#include <sincehash/config.hpp>
#include <sincehash/partition_lease.hpp>

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sincehash_cli {

using namespace sincehash;

namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4), or 0 with `bad` set
// to the length of its maximal ill-formed prefix (at least 1).
std::size_t utf8_sequence(std::string_view s, std::size_t& bad) noexcept {
  const auto at = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = at(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) low = 0xA0;   // no overlong forms
    if (c == 0xED) high = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) low = 0x90;
    if (c == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  std::size_t i = 1;
  for (; i < n && i < s.size(); ++i) {
    const unsigned char b = at(i);
    if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) break;
  }
  if (i == n) return n;
  bad = i;
  return 0;
}

}  // namespace

// Appends `s` as a JSON string. Bytes that are not well-formed UTF-8 are written as U+FFFD (one
// for each maximal ill-formed sequence), so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  // Runs that need no escape are copied whole.
  std::size_t plain = 0;
  while (plain < s.size()) {
    const auto c = static_cast<unsigned char>(s[plain]);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
    ++plain;
  }
  out.append(s.data(), plain);
  for (std::size_t i = plain; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t bad = 0;
      const std::size_t n = utf8_sequence(s.substr(i), bad);
      if (n > 0) {
        out.append(s.data() + i, n);
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        i += bad;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, std::string_view text, value_kind kind) {
  if (kind == value_kind::number || kind == value_kind::boolean) {
    out.append(text.data(), text.size());
  } else if (kind == value_kind::missing || kind == value_kind::null) {
    out += "null";
  } else {
    append_json_string(out, text);
  }
}

// An event's text up to its record: `{"type":...,"record":` (`"record":null` for a deletion).
void append_event_head(std::string& out, const event& e) {
  out += "{\"type\":\"";
  out += to_string(e.type);
  out += "\",\"id\":";
  append_value(out, e.id, e.id_kind);
  out += ",\"updated\":";
  append_value(out, e.updated, e.updated_kind);
  out += ",\"event_id\":\"";
  out += e.event_id;
  out += "\",\"record\":";
  if (e.type == event_type::deleted) out += "null";
}

// The record bytes an event carries (none for a deletion); after them comes "}\n".
std::string_view event_record(const event& e) {
  return e.type == event_type::deleted ? std::string_view() : e.record;
}

// True when `json` holds a line break: it must then be written compacted to stay on one line.
bool spans_lines(std::string_view json) noexcept {
  return !json.empty() && (std::memchr(json.data(), '\n', json.size()) != nullptr ||
                           std::memchr(json.data(), '\r', json.size()) != nullptr);
}

// Appends the JSON text `json` without its insignificant white space (string contents are
// copied untouched). A valid JSON text comes out on one line.
void append_compact(std::string& out, std::string_view json) {
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < json.size()) {
        out.push_back(json[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out.push_back(c);
      in_string = c == '"';
    }
  }
}

// Appends a record's JSON text: its bytes as they are, or compacted when it spans lines.
void append_record(std::string& out, std::string_view json) {
  if (spans_lines(json)) {
    append_compact(out, json);
  } else {
    out.append(json.data(), json.size());
  }
}

void append_reject(std::string& out, const rejected_record& r) {
  out += "{\"line\":";
  out += std::to_string(r.position);
  out += ",\"id\":";
  if (r.id) {
    append_value(out, *r.id, r.id_kind);
  } else {
    out += "null";
  }
  out += ",\"reason\":";
  append_json_string(out, r.reason);
  out += ",\"record\":";
  // The record as JSON only when it is valid JSON (a fast reader may have stopped before the part
  // that is not): else as a string, so that every rejects line is valid JSON.
  if (r.record_is_json && nlohmann::json::accept(r.record.begin(), r.record.end())) {
    append_record(out, r.record);
  } else {
    append_json_string(out, r.record);
  }
  out += "}\n";
}

std::string summary_json(const run_progress& p, const std::optional<offset_value>& before,
                         const std::optional<offset_value>& after) {
  const run_stats& s = p.stats;
  std::string out =
      "{\"processed\":" + std::to_string(s.processed) + ",\"committed\":" + std::to_string(p.committed) +
      ",\"created\":" + std::to_string(s.created) + ",\"updated\":" + std::to_string(s.updated) +
      ",\"deleted\":" + std::to_string(s.deleted) + ",\"unchanged\":" + std::to_string(s.unchanged) +
      ",\"stale\":" + std::to_string(s.stale) + ",\"invalid\":" + std::to_string(s.invalid) +
      ",\"since_before\":";
  auto put = [&out](const std::optional<offset_value>& v) {
    if (!v) {
      out += "null";
    } else if (v->kind == offset_kind::integer && v->text == std::to_string(v->number)) {
      out += v->text;  // a number as the source wrote it ("011" or "+5" are written as strings)
    } else {
      append_json_string(out, v->text);
    }
  };
  put(before);
  out += ",\"since_after\":";
  put(after);
  out += "}";
  return out;
}

// Called in a catch handler: writes what the exception in flight says to `err` and returns its
// exit code (2 for a usage or configuration error, else 1 unless it carries its own).
int report_failure(std::FILE* err) {
  try {
    throw;
  } catch (const exit_error& e) {
    std::fprintf(err, "sincehash: %s\n", e.message.c_str());
    return e.code;
  } catch (const invalid_config& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return 2;
  } catch (const partition_busy& e) {
    std::fprintf(err, "sincehash: %s\n", e.message().c_str());
    return 75;
  } catch (const error& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return e.code() == errc::config_error ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(err, "sincehash: %s\n", e.what());
    return 1;
  }
}

void sink::write(const std::string& data) {
  if (data.empty()) return;
  if (std::fwrite(data.data(), 1, data.size(), f_) != data.size()) fail();
}
// Writes one line per event. Where the stream has a descriptor the records' bytes are written
// from where they lie in the input (gathered writes), not copied into the output first.
void sink::write_events(const std::vector<event>& events, std::string& scratch) {
  scratch.clear();
  if (events.empty()) return;
  const int fd = fileno(f_);
  if (fd < 0) {
    for (const auto& e : events) {
      append_event_head(scratch, e);
      append_record(scratch, event_record(e));
      scratch += "}\n";
    }
    write(scratch);
    return;
  }
  if (std::fflush(f_) != 0) fail();  // what the stream holds goes first
  // A record that spans lines is written compacted, from `flat_`; any other from the input.
  flat_.clear();
  std::vector<std::size_t> head_end;
  std::vector<std::pair<std::size_t, std::size_t>> flat_at;  // event index → its compacted bytes
  head_end.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    append_event_head(scratch, events[i]);
    head_end.push_back(scratch.size());
    const std::string_view record = event_record(events[i]);
    if (spans_lines(record)) {
      const std::size_t begin = flat_.size();
      append_compact(flat_, record);
      flat_at.emplace_back(i, begin);
    }
  }
  std::size_t next_flat = 0;
  static const char tail[] = "}\n";
  std::vector<iovec> iov;
  iov.reserve(3 * events.size());
  std::size_t head_begin = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    iov.push_back({&scratch[head_begin], head_end[i] - head_begin});
    std::string_view record = event_record(events[i]);
    if (next_flat < flat_at.size() && flat_at[next_flat].first == i) {
      const std::size_t begin = flat_at[next_flat].second;
      const std::size_t end = ++next_flat < flat_at.size() ? flat_at[next_flat].second : flat_.size();
      record = std::string_view(flat_.data() + begin, end - begin);
    }
    if (!record.empty()) iov.push_back({const_cast<char*>(record.data()), record.size()});
    iov.push_back({const_cast<char*>(tail), 2});
    head_begin = head_end[i];
  }
  write_all(fd, iov.data(), iov.size());
}
// Everything written so far has reached the operating system.
void sink::flush() {
  if (std::fflush(f_) != 0 || std::ferror(f_)) fail();
}
void sink::fail() {
  run_error("writing " + name_ + " failed (" + std::strerror(errno) +
            "); nothing of this batch was committed");
}
// writev until every byte is written (a pipe may take part of a call).
void sink::write_all(int fd, iovec* iov, std::size_t count) {
  constexpr std::size_t most = 1024;  // IOV_MAX on Linux
  while (count > 0) {
    const ssize_t n = ::writev(fd, iov, static_cast<int>(count < most ? count : most));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail();
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
}

// Everything written to `f` has reached the operating system; else an output failure (exit 1).
void finish_output(std::FILE* f, const std::string& what) {
  errno = 0;
  if (std::fflush(f) != 0 || std::ferror(f) != 0)
    run_error("writing " + what + " failed (" + std::strerror(errno != 0 ? errno : EIO) + ")");
}

}  // namespace sincehash_cli
