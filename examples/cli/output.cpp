// The command-line tool's output: events, rejects and the summary as JSON lines, written so
// that a failure to write is never silent.

#include "output.hpp"

#include <sincehash/config.hpp>
#include <sincehash/event_json.hpp>
#include <sincehash/partition_lease.hpp>

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sincehash_cli {

using namespace sincehash;

std::string summary_json(const run_progress& p, const std::optional<offset_value>& before,
                         const std::optional<offset_value>& after) {
  const run_stats& s = p.stats;
  std::string out =
      "{\"processed\":" + std::to_string(s.processed) + ",\"committed\":" + std::to_string(p.committed) +
      ",\"created\":" + std::to_string(s.created) + ",\"updated\":" + std::to_string(s.updated) +
      ",\"deleted\":" + std::to_string(s.deleted) + ",\"unchanged\":" + std::to_string(s.unchanged) +
      ",\"stale\":" + std::to_string(s.stale) + ",\"invalid\":" + std::to_string(s.invalid) +
      ",\"since_before\":";
  append_offset_json(out, before);
  out += ",\"since_after\":";
  append_offset_json(out, after);
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
void sink::write_events(const std::vector<event>& events, std::string& scratch, bool one_line) {
  scratch.clear();
  if (events.empty()) return;
  const int fd = fileno(f_);
  if (fd < 0) {
    for (const auto& e : events) append_event_json(scratch, e);
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
    if (!one_line && spans_lines(record)) {
      const std::size_t begin = flat_.size();
      append_compact_json(flat_, record);
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
void sink::write_all(int fd, iovec* iov, std::size_t count) {
  if (!write_gathered(fd, iov, count)) fail();
}

bool write_gathered(int fd, iovec* iov, std::size_t count) {
  constexpr std::size_t most = 1024;  // IOV_MAX on Linux
  while (count > 0) {
    const ssize_t n = ::writev(fd, iov, static_cast<int>(count < most ? count : most));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
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
  return true;
}

// Everything written to `f` has reached the operating system; else an output failure (exit 1).
void finish_output(std::FILE* f, const std::string& what) {
  errno = 0;
  if (std::fflush(f) != 0 || std::ferror(f) != 0)
    run_error("writing " + what + " failed (" + std::strerror(errno != 0 ? errno : EIO) + ")");
}

}  // namespace sincehash_cli
