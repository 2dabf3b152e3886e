// The command-line tool's commands: opening the state, loading the configuration, and the
// process / rescan loop that delivers each batch before committing it.

#include "commands.hpp"

#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/input.hpp>
#include <sincehash/open_store.hpp>
#include <sincehash/partition_lease.hpp>
#include <sincehash/since.hpp>
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#endif

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detector_type.hpp"
#include "output.hpp"
#include "state.hpp"

#include <sincehash/event_json.hpp>

namespace sincehash_cli {

using namespace sincehash;

namespace {

// A test-only switch, SINCEHASH_TEST_CONCURRENCY: "no-lease" runs without the partition's
// lease, "unchecked" also commits without conditions — so that a test can show what the lease
// and the conditional commits prevent. Unset in every real use.
std::string concurrency_switch() {
  const char* v = std::getenv("SINCEHASH_TEST_CONCURRENCY");
  return v != nullptr ? std::string(v) : std::string();
}

resource_settings load_resource(const options& o) {
  std::error_code ec;
  if (std::filesystem::is_directory(*o.config, ec))
    usage_error("--config " + *o.config + ": is a directory, not a configuration file");
  std::ifstream in(*o.config, std::ios::binary);
  if (!in) usage_error("--config " + *o.config + ": cannot be read (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) usage_error("--config " + *o.config + ": cannot be read (" + std::strerror(errno) + ")");
  try {
    return read_config_text(text.str()).resource(*o.resource);
  } catch (const invalid_config& e) {
    std::string message = "configuration " + *o.config + " has " + std::to_string(e.problems().size()) +
                          (e.problems().size() == 1 ? " problem:" : " problems:");
    for (const auto& p : e.problems()) message += "\n  " + p.describe();
    usage_error(message);
  }
}

// Commits a batch whose events were delivered. Should records have changed under it (another
// writer), they are classified again, the events that makes are written and flushed, and the
// commit is retried; `total` ends with the batch's final counts.
template <class Detector>
void commit_delivered(Detector& d, batch_result& r, sink& out, std::string& buf, run_stats& total,
                      run_progress& progress, bool one_line, bool counts_input = true) {
  if (concurrency_switch() == "unchecked") {
    r.pending.batch.expect.clear();
    r.pending.batch.read_sequence.reset();
  }
  const run_stats first = r.stats;
  d.commit(r, [&](const std::vector<event>& extra) {
    out.write_events(extra, buf, one_line);
    out.flush();
  });
  total.created += r.stats.created - first.created;
  total.updated += r.stats.updated - first.updated;
  total.unchanged += r.stats.unchanged - first.unchanged;
  total.stale += r.stats.stale - first.stale;
  total.deleted += r.stats.deleted - first.deleted;
  if (counts_input) progress.committed += r.stats.processed;
}

// Reads, classifies, delivers and commits the input batch by batch, keeping `progress` and
// `after` (the offset after the last batch) up to date, so that they hold what was done when it
// throws.
template <class Detector>
void run_records(Detector& d, const options& o, run_io& io, bool rescan, std::optional<offset_value>& after,
                 run_progress& progress) {
  sink out(io.out, "the events");
  sink rej(io.rejects != nullptr ? io.rejects : io.err, o.rejects ? *o.rejects : std::string("stderr"));
  run_stats& total = progress.stats;
  // Each batch is committed after its events were flushed (one durable commit per batch):
  // up to 10,000 records or 8 MiB of input, which bounds memory whatever the input's size.
  // The descriptor is read directly where there is one, so NDJSON arriving through a pipe is
  // processed (and committed) as it comes instead of waiting for a full batch.
  const int in_fd = fileno(io.in);
  record_reader reader = in_fd >= 0
                             ? record_reader(in_fd, 10000, std::size_t{64} << 20, std::size_t{8} << 20)
                             : record_reader(io.in, 10000, std::size_t{64} << 20, std::size_t{8} << 20);
  // With more than one thread, the next batch is framed and read (parsed, hashed) on another
  // thread while this one classifies, delivers and commits the current one. Batches are still
  // classified and committed one after the other, in input order.
  const bool overlapped = o.threads > 1;
  reader.keep_previous_batch(overlapped);
  // A pause is 10 ms without input: a writer streaming records in pieces fills whole batches
  // (a durable commit each), a page followed by silence is committed 10 ms after it arrived,
  // and a trickle at most every 100 ms.
  if (in_fd >= 0) reader.set_pause_wait(std::chrono::milliseconds(10));
  struct fetched {
    std::vector<input_record> records;
    typename Detector::read_batch read;
    bool more = false;
    bool one_line = false;  // the reader knows that no record spans lines
  };
  const auto fetch = [&reader, &d](fetched& f) {
    f.more = reader.next_batch(f.records);
    f.one_line = reader.records_on_one_line();
    if (f.more) f.read = d.read(f.records);
  };
  const auto fetch_or_fail = [](const std::function<void()>& step) {
    try {
      step();
    } catch (const error& e) {
      run_error("reading the input: " + e.info().describe() + "; state of this batch not committed");
    }
  };
  fetched current, next;
  std::string buf;
  const auto started = std::chrono::steady_clock::now();
  auto last_progress = started;

  if (rescan) d.begin_rescan(o.dry_run ? Detector::rescan_mode::dry_run : Detector::rescan_mode::commit);
  fetch_or_fail([&] { fetch(current); });
  while (current.more) {
    std::future<void> ahead;
    if (overlapped) ahead = std::async(std::launch::async, [&] { fetch(next); });
    batch_result r = d.classify(std::move(current.read));
    total += r.stats;
    out.write_events(r.events, buf, current.one_line);
    buf.clear();
    for (const auto& x : r.rejected) append_reject_json(buf, x);
    rej.write(buf);
    out.flush();
    rej.flush();
    if (!o.dry_run) commit_delivered(d, r, out, buf, total, progress, current.one_line);
    after = r.pending.offset_after;
    if (overlapped)
      fetch_or_fail([&] { ahead.get(); });
    else
      fetch_or_fail([&] { fetch(next); });
    std::swap(current, next);
    if (io.progress) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        last_progress = now;
        const double secs = std::chrono::duration<double>(now - started).count();
        std::fprintf(io.err, "\r%zu records, %.0f records/s, offset %s   ", total.processed,
                     secs > 0 ? static_cast<double>(total.processed) / secs : 0.0,
                     after ? after->text.c_str() : "none");
        std::fflush(io.err);
      }
    }
  }
  if (rescan) {
    // A dry run shows the deletions a real rescan would report, and commits nothing.
    batch_result r = d.complete_rescan();
    total += r.stats;
    out.write_events(r.events, buf);
    out.flush();
    if (!o.dry_run) commit_delivered(d, r, out, buf, total, progress, false, false);
  }
  if (io.progress) std::fputs("\r\x1b[K", io.err);
}

template <class Store, class Algorithm>
int process_with(Store& store, Algorithm algorithm, const options& o, run_io io, bool rescan,
                 resource_settings settings, const pinnable_clock& clock) {
  cli_detector<Store, Algorithm> d(store, partition_of(o), std::move(settings), clock, std::move(algorithm));
  d.set_reader_threads(o.threads);
  std::FILE* rejects_file = nullptr;
  if (o.rejects) {
    rejects_file = std::fopen(o.rejects->c_str(), "ab");
    if (rejects_file == nullptr)
      run_error("--rejects " + *o.rejects + ": cannot be opened (" + std::strerror(errno) + ")");
    io.rejects = rejects_file;
  }
  std::optional<offset_value> before, after;
  // A failed run still ends with its summary (after the error message): `committed` tells how
  // many input records the batches it committed held, and their events were its first lines.
  run_progress progress;
  int code = 0;
  try {
    // The partition's lease for the whole run (a dry run too): another run holding it makes
    // this one exit 75 having read and committed nothing, or wait up to --wait.
    std::optional<partition_lease<Store>> lease;
    const std::string sw = concurrency_switch();
    if (sw != "no-lease" && sw != "unchecked") {
      partition_lease_options lo;
      lo.wait = o.wait;
      lease.emplace(store, partition_of(o), lo);
    }
    before = d.offset();
    after = before;
    run_records(d, o, io, rescan, after, progress);
  } catch (...) {
    if (io.progress) std::fputs("\r\x1b[K", io.err);
    code = report_failure(io.err);
  }
  if (rejects_file != nullptr && std::fclose(rejects_file) != 0 && code == 0) {
    std::fprintf(io.err, "sincehash: --rejects %s: writing failed (%s)\n", o.rejects->c_str(),
                 std::strerror(errno));
    code = 1;
  }
  std::fprintf(io.err, "%s\n", summary_json(progress, before, after).c_str());
  return code;
}

}  // namespace

int cmd_process(const options& o, run_io io, bool rescan) {
  resource_settings settings = load_resource(o);
  const pinnable_clock clock = make_clock(o);
  return with_store(o, partition_of(o), [&](auto& store, auto algorithm) {
    return process_with(store, std::move(algorithm), o, io, rescan, std::move(settings), clock);
  });
}

int cmd_since(const options& o, std::FILE* out) {
  const resource_settings settings = load_resource(o);
  const std::string partition = partition_of(o);
  // Only reads: the offset, and the since value computed from it (no detector, whose
  // fingerprint would be written).
  const std::optional<offset_value> off = with_store(
      o, partition, [&](auto& store, auto) { return store.offset(partition); }, open_mode::read_only);
  if (o.url) {
    auto url = since_url(settings, off, partition);
    if (!url) usage_error("the resource's url template: " + url.error().describe());
    std::fprintf(out, "%s\n", url->c_str());
  } else if (auto since = since_value(settings, off, partition)) {
    std::fprintf(out, "%s\n", since->c_str());
  }
  finish_output(out, "the since value");
  return 0;
}

int cmd_reset(const options& o) {
  resource_settings settings = load_resource(o);
  return with_store(o, partition_of(o), [&](auto& store, auto algorithm) {
    cli_detector<std::decay_t<decltype(store)>, decltype(algorithm)> d(
        store, partition_of(o), std::move(settings), make_clock(o), std::move(algorithm));
    d.reset(o.forget_records);
    return 0;
  });
}

int cmd_purge(const options& o, std::FILE* out) {
  const std::size_t purged = with_store(
      o, std::string(), [&](auto& store, auto) { return store.purge_expired(make_clock(o).now()); });
  std::fprintf(out, "{\"purged\":%zu}\n", purged);
  finish_output(out, "the purge count (the states were purged)");
  return 0;
}

int cmd_status(const options& o, std::FILE* out) {
  std::optional<resource_settings> settings;
  if (o.config) settings = load_resource(o);
  const instant now = make_clock(o).now();
  const std::string partition = settings ? partition_of(o) : std::string();
  std::string text = with_store(
      o, partition,
      [&](auto& store, auto) {
        std::string lines;
        const std::vector<std::string> names =
            settings ? std::vector<std::string>{partition} : store.partitions();
        for (const auto& p : names) {
          bool sealed = false;
#ifdef SINCEHASH_HAS_SODIUM
          // Listing every partition, one sealed under keys not given is shown, not refused.
          sealed = !o.key_file && !settings && holds_sealed_state(store, p);
#endif
          lines += status_line(store, p, settings ? &*settings : nullptr, now, sealed);
        }
        return lines;
      },
      open_mode::read_only);
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), out) != text.size())
    run_error("writing the status failed (" + std::string(std::strerror(errno != 0 ? errno : EIO)) + ")");
  finish_output(out, "the status");
  return 0;
}

}  // namespace sincehash_cli
