// The Python module `sincehash`: the command-line tool's semantics (its state URIs, keys, leases,
// process / commit loop, rescan, reset, status and purge) for connectors written in Python.
// The state is opened and a partition's status line written by the same code as the tool's.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/event_json.hpp>
#include <sincehash/input.hpp>
#include <sincehash/open_store.hpp>
#include <sincehash/partition_lease.hpp>
#include <sincehash/since.hpp>
#include <sincehash/version.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <unistd.h>

#include "../examples/cli/detector_type.hpp"
#include "../examples/cli/options.hpp"
#include "../examples/cli/output.hpp"
#include "../examples/cli/state.hpp"

namespace py = pybind11;
using namespace sincehash;
using sincehash_cli::options;

namespace {

// The module's exception types, created at import.
py::object config_error_type, store_error_type, busy_error_type;

// Records held for a batch, and what their bytes are views into: the bytes or str object they
// came in (kept, unchanged, while the batch lives; released with the GIL held, as batches are
// Python objects), or an arena of copies followed by padding a fast reader may read.
struct owned_input {
  py::object text;
  std::string arena;
  std::vector<input_record> records;

  // Adds a copy of the record `bytes` at `position`; `finish` makes the views once every record is in.
  void add(std::string_view bytes, std::size_t position) {
    spans_.push_back({arena.size(), bytes.size(), position});
    arena.append(bytes.data(), bytes.size());
    arena.push_back('\n');
  }
  void finish() {
    if (spans_.empty()) return;
    constexpr std::size_t padding = 64;
    arena.append(padding, ' ');
    records.reserve(spans_.size());
    for (const auto& s : spans_)
      records.push_back(
          {std::string_view(arena.data() + s.at, s.size), s.position, arena.size() - s.at - s.size});
    spans_.clear();
  }

 private:
  struct span {
    std::size_t at, size, position;
  };
  std::vector<span> spans_;
};

// Frames `text` in place as the tool frames its input (one JSON array, a page with "results" or
// "records", or NDJSON; a byte order mark skipped). A cut-off array or page is a ValueError.
void frame_text(std::string_view text, owned_input& out) {
  constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
  record_reader reader(text, unbounded, std::size_t{64} << 20, unbounded);
  std::vector<input_record> batch;
  try {
    while (reader.next_batch(batch)) out.records.insert(out.records.end(), batch.begin(), batch.end());
  } catch (const error& e) {
    throw py::value_error("reading the records: " + e.info().describe());
  }
}

// The bytes of `records` when it is immutable text the records can be views into: a bytes
// object, or a contiguous memoryview of one (a slice, say); else nullopt.
std::optional<std::string_view> immutable_bytes(const py::handle& records) {
  if (PyBytes_Check(records.ptr()))
    return std::string_view(PyBytes_AS_STRING(records.ptr()),
                            static_cast<std::size_t>(PyBytes_GET_SIZE(records.ptr())));
  if (PyMemoryView_Check(records.ptr())) {
    const Py_buffer* view = PyMemoryView_GET_BUFFER(records.ptr());
    if (view->obj != nullptr && PyBytes_Check(view->obj) && view->readonly && view->itemsize == 1 &&
        PyBuffer_IsContiguous(view, 'C'))
      return std::string_view(static_cast<const char*>(view->buf), static_cast<std::size_t>(view->len));
  }
  return std::nullopt;
}

// The records of `records` (bytes, a memoryview of bytes, or str in any input shape the tool
// reads, any other buffer copied first; or an iterable of dicts, str or bytes, one record each)
// into an owned input. Needs the GIL.
std::shared_ptr<owned_input> take_records(const py::handle& records) {
  auto in = std::make_shared<owned_input>();
  if (const auto bytes = immutable_bytes(records)) {
    // The bytes object is kept, not a memoryview of it: the memoryview's owner may release it.
    PyObject* owner =
        PyBytes_Check(records.ptr()) ? records.ptr() : PyMemoryView_GET_BUFFER(records.ptr())->obj;
    in->text = py::reinterpret_borrow<py::object>(owner);
    frame_text(*bytes, *in);
  } else if (py::isinstance<py::str>(records)) {
    in->text = py::reinterpret_borrow<py::object>(records);
    frame_text(py::cast<std::string_view>(records), *in);  // the UTF-8 the str object keeps
  } else if (PyObject_CheckBuffer(records.ptr())) {
    // A bytearray, a writable memoryview, a mapped file: copied, as it may change later.
    in->text = py::module_::import("builtins").attr("bytes")(records);
    frame_text(*immutable_bytes(in->text), *in);
  } else {
    py::object dumps = py::module_::import("json").attr("dumps");
    std::size_t position = 0;
    for (const py::handle item : py::iter(records)) {
      ++position;
      if (py::isinstance<py::bytes>(item)) {
        in->add(py::cast<std::string_view>(item), position);
      } else if (py::isinstance<py::str>(item)) {
        in->add(py::cast<std::string>(item), position);
      } else if (py::isinstance<py::dict>(item)) {
        in->add(py::cast<std::string>(dumps(item, py::arg("ensure_ascii") = false)), position);
      } else {
        throw py::type_error("records[" + std::to_string(position - 1) +
                             "]: expected a dict, str or bytes, not " +
                             py::cast<std::string>(py::type::of(item).attr("__name__")));
      }
    }
    in->finish();
  }
  return in;
}

// Text as a Python str: invalid UTF-8 bytes become U+FFFD.
py::str text_of(std::string_view s) {
  return py::reinterpret_steal<py::str>(
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

// A value as the source wrote it: a number as int or float, a string as str, else None.
py::object value_of(std::string_view text, value_kind kind) {
  if (kind == value_kind::number) {
    const std::string literal(text);
    const bool integer = literal.find_first_of(".eE") == std::string::npos;
    PyObject* number = integer ? PyLong_FromString(literal.c_str(), nullptr, 10)
                               : PyFloat_FromString(py::str(literal).ptr());
    if (number == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(number);
  }
  if (kind == value_kind::boolean) return py::bool_(text == "true");
  if (kind == value_kind::missing || kind == value_kind::null) return py::none();
  return text_of(text);
}

py::dict event_dict(const event& e) {
  py::dict d;
  d["type"] = to_string(e.type);
  d["id"] = value_of(e.id, e.id_kind);
  d["updated"] = value_of(e.updated, e.updated_kind);
  d["event_id"] = e.event_id;
  d["record"] = e.type == event_type::deleted ? py::object(py::none()) : py::object(text_of(e.record));
  if (e.changed.known()) {
    py::list paths;
    for (const std::string& path : e.changed.paths()) paths.append(text_of(path));
    d["changed"] = std::move(paths);
  } else {
    d["changed"] = py::none();
  }
  return d;
}

py::dict reject_dict(const rejected_record& r) {
  py::dict d;
  d["line"] = r.position;
  d["id"] = r.id ? value_of(*r.id, r.id_kind) : py::object(py::none());
  d["reason"] = r.reason;
  d["record"] = text_of(r.record);
  return d;
}

// Turns what the library and the shared tool code throw into the module's exceptions; runs with
// the GIL held, as pybind11 calls it while the exception leaves the bound function.
void translate(std::exception_ptr p) {
  const auto raise = [](const py::object& type, const std::string& message) {
    PyErr_SetString(type.ptr(), message.c_str());
  };
  const auto raise_config = [](const std::string& message, const py::list& errors) {
    py::object exc = config_error_type(message);
    exc.attr("errors") = errors;
    PyErr_SetObject(config_error_type.ptr(), exc.ptr());
  };
  try {
    if (p) std::rethrow_exception(p);
  } catch (const invalid_config& e) {
    py::list errors;
    for (const auto& problem : e.problems()) errors.append(py::make_tuple(problem.where, problem.reason));
    raise_config(e.what(), errors);
  } catch (const partition_busy& e) {
    raise(busy_error_type, e.message());
  } catch (const sincehash_cli::exit_error& e) {
    // The tool's usage errors name its options; here they are the arguments.
    std::string m = e.message;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"--state", "state"},
                                   {"--key-file", "key_file"},
                                   {"--now", "now"}}) {
      for (auto at = m.find(from); at != std::string::npos; at = m.find(from, at + to.size()))
        m.replace(at, from.size(), to);
    }
    raise(e.code == 2 ? py::reinterpret_borrow<py::object>(PyExc_ValueError) : store_error_type, m);
  } catch (const error& e) {
    if (e.code() == errc::config_error) {
      py::list errors;
      errors.append(py::make_tuple("", e.message()));
      raise_config(e.what(), errors);
    } else if (e.code() == errc::invalid_record || e.code() == errc::invalid_argument ||
               e.code() == errc::parse_error || e.code() == errc::unsupported) {
      raise(py::reinterpret_borrow<py::object>(PyExc_ValueError), e.what());
    } else {
      raise(store_error_type, e.what());
    }
  }
}

// The clock of `now`: None (the system clock), an ISO 8601 string or an aware datetime.
std::optional<std::string> now_text(const py::object& now) {
  if (now.is_none()) return std::nullopt;
  if (py::isinstance<py::str>(now)) return py::cast<std::string>(now);
  py::object datetime = py::module_::import("datetime").attr("datetime");
  if (py::isinstance(now, datetime)) {
    if (now.attr("utcoffset")().is_none())
      throw py::value_error("now: a datetime without a time zone names no instant; give it a tzinfo");
    return py::cast<std::string>(now.attr("isoformat")());
  }
  throw py::type_error("now: expected None, an ISO 8601 str or an aware datetime");
}

// A path, a JSON text or a dict (anything json.dumps writes) → the configuration text.
std::string config_text(const py::object& config) {
  if (py::isinstance<py::str>(config)) {
    const std::string s = py::cast<std::string>(config);
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && (s[first] == '{' || s[first] == '[')) return s;
    std::ifstream in(s, std::ios::binary);
    if (!in) {
      PyErr_SetFromErrnoWithFilename(PyExc_OSError, s.c_str());
      throw py::error_already_set();
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  if (py::hasattr(config, "__fspath__")) return config_text(py::module_::import("os").attr("fspath")(config));
  if (py::isinstance<py::dict>(config))
    return py::cast<std::string>(py::module_::import("json").attr("dumps")(config));
  throw py::type_error("config: expected a path, a JSON text or a dict");
}

// A summary with the tool's keys.
py::dict summary_dict(const sincehash_cli::run_progress& p, const std::optional<offset_value>& before,
                      const std::optional<offset_value>& after) {
  return py::module_::import("json").attr("loads")(sincehash_cli::summary_json(p, before, after));
}

/// What `process` and `rescan` return: the events to deliver, the rejects, the summary; handed
/// to `commit` once the events were delivered.
struct batch {
  std::shared_ptr<owned_input> input;
  batch_result result;
  std::vector<event> later;  // found by the commit (another writer changed records meanwhile)
  std::optional<offset_value> before;
  bool rescan = false;
  bool committed = false;
  const void* owner = nullptr;
  py::list rejects;

  // The events as dicts, made on first use.
  const py::list& events() {
    if (!events_) {
      py::list list;
      for (const auto& e : result.events) list.append(event_dict(e));
      for (const auto& e : later) list.append(event_dict(e));
      events_ = std::move(list);
    }
    return *events_;
  }

  // Adds events found by the commit; returns them as dicts.
  py::list add_later(const std::vector<event>& found) {
    py::list more;
    for (const auto& e : found) {
      later.push_back(e);
      more.append(event_dict(e));
    }
    if (events_)
      for (const auto& d : more) events_->append(d);
    return more;
  }

  // The events as the command-line tool writes them, one JSON object per line, in pieces: each
  // line's head (and its record, when that spans lines and is written compacted) in `heads`, then
  // its record as the input holds it, then "}\n".
  struct event_lines {
    struct line {
      std::size_t head_end;     // where the line's head ends in `heads`
      std::string_view record;  // the record as the input holds it, if it is on one line
    };
    std::string heads;
    std::vector<line> lines;
    std::size_t size = 0;  // of all lines together
  };
  event_lines lines() const {
    event_lines out;
    out.lines.reserve(result.events.size() + later.size());
    const auto add = [&](const event& e) {
      append_event_head(out.heads, e);
      std::string_view record = event_record(e);
      if (spans_lines(record)) {
        append_compact_json(out.heads, record);
        record = {};
      }
      out.lines.push_back({out.heads.size(), record});
      out.size += record.size() + 2;
    };
    for (const auto& e : result.events) add(e);
    for (const auto& e : later) add(e);
    out.size += out.heads.size();
    return out;
  }

  // The events as one bytes object, the records copied once, from the input.
  py::bytes ndjson() const {
    event_lines l;
    {
      py::gil_scoped_release nogil;
      l = lines();
    }
    auto out =
        py::reinterpret_steal<py::bytes>(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(l.size)));
    if (!out) throw py::error_already_set();
    char* at = PyBytes_AS_STRING(out.ptr());
    py::gil_scoped_release nogil;
    std::size_t head_at = 0;
    for (const auto& line : l.lines) {
      std::memcpy(at, l.heads.data() + head_at, line.head_end - head_at);
      at += line.head_end - head_at;
      head_at = line.head_end;
      if (!line.record.empty()) std::memcpy(at, line.record.data(), line.record.size());
      at += line.record.size();
      *at++ = '}';
      *at++ = '\n';
    }
    return out;
  }

  // Writes the events to `file`: to its descriptor, if it has one, in gathered writes from where
  // the records lie (after flushing what the file object holds); else through file.write().
  void write_ndjson(const py::object& file) const {
    int fd = -1;
    if (py::hasattr(file, "fileno")) {
      try {
        fd = py::cast<int>(file.attr("fileno")());
      } catch (py::error_already_set& e) {
        if (!e.matches(py::module_::import("io").attr("UnsupportedOperation"))) throw;
      }
    }
    if (fd < 0) {
      const py::bytes data = ndjson();
      if (py::isinstance(file, py::module_::import("io").attr("TextIOBase")))
        file.attr("write")(data.attr("decode")("utf-8"));
      else
        file.attr("write")(data);
      return;
    }
    file.attr("flush")();
    int failure = 0;
    {
      py::gil_scoped_release nogil;
      const event_lines l = lines();
      static const char tail[] = "}\n";
      std::vector<iovec> iov;
      iov.reserve(3 * l.lines.size());
      std::size_t head_at = 0;
      for (const auto& line : l.lines) {
        iov.push_back({const_cast<char*>(l.heads.data()) + head_at, line.head_end - head_at});
        head_at = line.head_end;
        if (!line.record.empty()) iov.push_back({const_cast<char*>(line.record.data()), line.record.size()});
        iov.push_back({const_cast<char*>(tail), 2});
      }
      if (!sincehash_cli::write_gathered(fd, iov.data(), iov.size())) failure = errno;
    }
    if (failure != 0) {
      errno = failure;
      PyErr_SetFromErrno(PyExc_OSError);
      throw py::error_already_set();
    }
  }

  [[nodiscard]] std::size_t size() const { return result.events.size() + later.size(); }

  py::dict summary() const {
    sincehash_cli::run_progress p;
    p.stats = result.stats;
    p.committed = committed ? result.stats.processed : 0;
    return summary_dict(p, before, result.pending.offset_after);
  }

 private:
  std::optional<py::list> events_;
};

// The partitions Detectors of this process hold. The lease names a process, not a Detector: a
// second Detector of the same process would be granted the lease the first holds.
class held_here {
 public:
  // Takes `key` for the caller, waiting up to `wait`; throws `partition_busy` when it stays held.
  static void take(const std::string& key, const std::string& partition, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::unique_lock<std::mutex> lock(mutex());
    while (!keys().insert(key).second) {
      if (std::chrono::steady_clock::now() >= deadline)
        throw partition_busy(partition, lease_holder::self().text() + " (another Detector of this process)",
                             std::chrono::milliseconds(0));
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      lock.lock();
    }
  }
  static void give_back(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex());
    keys().erase(key);
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::set<std::string>& keys() {
    static std::set<std::string> k;
    return k;
  }
};

// One detector over an opened state, with the hash algorithm it was opened for.
class detector_base {
 public:
  virtual ~detector_base() = default;
  virtual std::optional<offset_value> offset() = 0;
  virtual void read_and_classify(batch& b, bool dry_rescan) = 0;
  virtual void commit(batch& b, const std::function<void(const std::vector<event>&)>& deliver) = 0;
  virtual void reset(bool forget_records) = 0;
  virtual void lease(const std::string& key, std::chrono::milliseconds wait) = 0;
  virtual void release() = 0;
  virtual any_store& store() = 0;
};

template <class Algorithm>
class detector_impl final : public detector_base {
  using detector_type = sincehash_cli::cli_detector<any_store, Algorithm>;

 public:
  detector_impl(any_store store, Algorithm algorithm, const std::string& partition,
                resource_settings settings, pinnable_clock clock)
      : store_(std::move(store)),
        partition_(partition),
        d_(store_, partition, std::move(settings), clock, std::move(algorithm)) {
    d_.set_reader_threads(sincehash_cli::options::default_threads());
  }
  ~detector_impl() override { release(); }

  std::optional<offset_value> offset() override { return d_.offset(); }

  void read_and_classify(batch& b, bool dry_rescan) override {
    if (b.rescan)
      d_.begin_rescan(dry_rescan ? detector_type::rescan_mode::dry_run : detector_type::rescan_mode::commit);
    b.result = d_.process(b.input->records);
    if (b.rescan) {
      batch_result tail = d_.complete_rescan();
      for (auto& e : tail.events) b.result.events.push_back(std::move(e));
      b.result.stats += tail.stats;
      std::optional<offset_value> after = b.result.pending.offset_after;
      b.result.pending = std::move(tail.pending);
      b.result.pending.batch = commit_batch{};
      b.result.pending.offset_after = std::move(after);
    }
  }

  void commit(batch& b, const std::function<void(const std::vector<event>&)>& deliver) override {
    if (!b.rescan) {
      d_.commit(b.result, deliver);
      return;
    }
    // A rescan's events were previewed (a dry run); it is now run for real on the same records
    // and completed, and what it finds beyond what was delivered is delivered first.
    std::set<std::string> delivered;
    for (const auto& e : b.result.events) delivered.insert(e.event_id);
    const auto deliver_new = [&](const batch_result& r) {
      std::vector<event> extra;
      for (const auto& e : r.events)
        if (delivered.insert(e.event_id).second) extra.push_back(e);
      if (!extra.empty()) deliver(extra);
    };
    d_.begin_rescan(detector_type::rescan_mode::commit);
    batch_result listed = d_.process(b.input->records);
    deliver_new(listed);
    d_.commit(listed, deliver);
    batch_result tail = d_.complete_rescan();
    deliver_new(tail);
    d_.commit(tail, deliver);
    b.result.pending.offset_after = tail.pending.offset_after;
  }

  void reset(bool forget_records) override { d_.reset(forget_records); }

  void lease(const std::string& key, std::chrono::milliseconds wait) override {
    if (lease_) return;
    held_here::take(key, partition_, wait);
    try {
      partition_lease_options lo;
      lo.wait = wait;
      lease_.emplace(store_, partition_, lo);
    } catch (...) {
      held_here::give_back(key);
      throw;
    }
    key_ = key;
  }
  void release() override {
    if (!lease_) return;
    lease_.reset();
    held_here::give_back(key_);
  }
  any_store& store() override { return store_; }

 private:
  any_store store_;
  std::string partition_;
  detector_type d_;
  std::optional<partition_lease<any_store>> lease_;
  std::string key_;  // in `held_here` while the lease is held
};

/// The Python `Detector`.
class py_detector {
 public:
  py_detector(const py::object& config, std::string state, std::string resource, std::string instance,
              std::optional<std::string> key_file, const py::object& now, double wait)
      : wait_(std::chrono::milliseconds(static_cast<long long>(wait * 1000))) {
    if (wait < 0) throw py::value_error("wait: must not be negative");
    o_.state = std::move(state);
    o_.resource = std::move(resource);
    o_.instance = std::move(instance);
    o_.key_file = std::move(key_file);
    o_.now = now_text(now);
    if (o_.state->empty()) throw py::value_error("state: empty; give a path or a state URI");
    if (o_.resource->empty()) throw py::value_error("resource: empty; give the resource's name");
    const std::string text = config_text(config);
    py::gil_scoped_release nogil;
    settings_ = read_config_text(text).resource(*o_.resource);
    partition_ = sincehash_cli::partition_of(o_);
    clock_ = sincehash_cli::make_clock(o_);
  }

  py::object since() {
    std::optional<std::string> v;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> hold(mutex_);
      v = since_value(settings_, current_offset(), partition_);
    }
    return v ? py::object(py::str(*v)) : py::object(py::none());
  }

  std::string since_url_() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> hold(mutex_);
    auto url = since_url(settings_, current_offset(), partition_);
    if (!url) throw py::value_error("the resource's url template: " + url.error().describe());
    return *url;
  }

  std::shared_ptr<batch> process(const py::object& records, bool rescan) {
    auto b = std::make_shared<batch>();
    b->input = take_records(records);
    b->rescan = rescan;
    b->owner = this;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> hold(mutex_);
      detector_base& d = opened(true);
      b->before = d.offset();
      d.read_and_classify(*b, rescan);
    }
    for (const auto& r : b->result.rejected) b->rejects.append(reject_dict(r));
    return b;
  }

  void commit(batch& b, const py::object& deliver) {
    if (b.owner != this) throw py::value_error("commit: the batch was made by another Detector");
    if (b.committed) throw py::value_error("commit: the batch was committed already");
    // Records that another writer changed meanwhile are classified again; the events that makes
    // are added to the batch and handed to `deliver`, which must return once they were delivered.
    const std::function<void(const std::vector<event>&)> on_extra = [&](const std::vector<event>& extra) {
      py::gil_scoped_acquire gil;
      py::list more = b.add_later(extra);
      if (deliver.is_none())
        throw error(errc::conflict,
                    "records changed under the commit (another writer); their new events are in "
                    "batch.events: pass commit(batch, deliver=...) to deliver them");
      deliver(more);
    };
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> hold(mutex_);
      opened(true).commit(b, on_extra);
    }
    b.committed = true;
  }

  void reset(bool forget_records) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> hold(mutex_);
    opened(true).reset(forget_records);
  }

  py::dict status() {
    std::string line;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> hold(mutex_);
      const instant now = clock_.now();
      refuse_inherited();
      if (d_) {
        line = sincehash_cli::status_line(d_->store(), partition_, &settings_, now);
      } else {
        line = sincehash_cli::with_store(
            o_, partition_,
            [&](auto& store, auto) { return sincehash_cli::status_line(store, partition_, &settings_, now); },
            open_mode::read_only);
      }
    }
    return py::module_::import("json").attr("loads")(line);
  }

  void close() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> hold(mutex_);
    if (inherited()) {
      (void)d_.release();
      return;
    }
    d_.reset();
  }

  py_detector(const py_detector&) = delete;
  py_detector& operator=(const py_detector&) = delete;
  // In a forked child the opened detector is the parent's: left as it is (see `inherited`).
  ~py_detector() {
    if (inherited()) (void)d_.release();
  }

  const std::string& partition() const { return partition_; }

 private:
  // True in a process forked after the detector was opened: its connection to the state and
  // the partition's lease belong to the parent, which goes on using them. Closing the connection
  // here could end the parent's session, releasing the lease would let another run in beside
  // the parent, and committing under it would be two runs at once.
  [[nodiscard]] bool inherited() const noexcept { return d_ && ::getpid() != opened_pid_; }

  void refuse_inherited() const {
    if (inherited()) {
      throw std::runtime_error("this Detector was opened by process " + std::to_string(opened_pid_) +
                               ", which this one was forked from: its state connection and partition "
                               "lease are that process's; open a new Detector in this process");
    }
  }

  // The committed offset: from the open detector, else read without opening one for writing.
  std::optional<offset_value> current_offset() {
    refuse_inherited();
    if (d_) return d_->offset();
    return sincehash_cli::with_store(
        o_, partition_, [&](auto& store, auto) { return store.offset(partition_); }, open_mode::read_only);
  }

  // What names the partition's lease in this process: the state (a SQLite file by its path) and
  // the partition.
  std::string held_key() const {
    std::string state = *o_.state;
    if (state == "memory:") return state + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    if (state.find("://") == std::string::npos && state != "memory:") {
      std::error_code ec;
      const auto path = std::filesystem::weakly_canonical(sincehash_cli::sqlite_path(state), ec);
      if (!ec) state = "sqlite:" + path.string();
    }
    return state + '\n' + partition_;
  }

  // The detector, opened (and the partition's lease taken) on first use.
  detector_base& opened(bool leased) {
    refuse_inherited();
    if (!d_) {
      opened_pid_ = ::getpid();
      d_ = sincehash_cli::with_store(o_, partition_, [&](any_store& store, auto algorithm) {
        return std::unique_ptr<detector_base>(std::make_unique<detector_impl<decltype(algorithm)>>(
            std::move(store), std::move(algorithm), partition_, settings_, clock_));
      });
    }
    if (leased) d_->lease(held_key(), wait_);
    return *d_;
  }

  options o_;
  resource_settings settings_;
  std::string partition_;
  pinnable_clock clock_;
  std::chrono::milliseconds wait_;
  std::mutex mutex_;
  std::unique_ptr<detector_base> d_;
  pid_t opened_pid_ = 0;  // the process that opened `d_`
};

std::size_t purge(const std::string& state, const py::object& now, std::optional<std::string> key_file) {
  options o;
  o.state = state;
  o.now = now_text(now);
  o.key_file = std::move(key_file);
  py::gil_scoped_release nogil;
  const instant at = sincehash_cli::make_clock(o).now();
  return sincehash_cli::with_store(o, std::string(),
                                   [&](auto& store, auto) { return store.purge_expired(at); });
}

}  // namespace

PYBIND11_MODULE(sincehash, m) {
  m.doc() =
      "Continuation (since-offsets) and event hash verification for data connectors.\n\n"
      "A Detector classifies polled records into events to deliver (created, updated, deleted),\n"
      "commits their state once they were delivered, and says what to ask the source next.";
  m.attr("__version__") = version_string;

  config_error_type = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "sincehash.ConfigError",
      "A configuration with problems: .errors lists each as a (JSON pointer, message) pair.",
      PyExc_ValueError, nullptr));
  store_error_type = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "sincehash.StoreError", "The state store failed (nothing of the operation was committed).",
      PyExc_RuntimeError, nullptr));
  busy_error_type = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "sincehash.BusyError", "Another run (another Detector, process or worker) holds the partition's lease.",
      PyExc_RuntimeError, nullptr));
  m.attr("ConfigError") = config_error_type;
  m.attr("StoreError") = store_error_type;
  m.attr("BusyError") = busy_error_type;
  py::register_exception_translator(&translate);

  py::class_<batch, std::shared_ptr<batch>>(m, "Batch",
                                            "What process() and rescan() return: deliver .events, then "
                                            "pass the batch to Detector.commit().")
      .def_property_readonly(
          "events", &batch::events,
          "The events to deliver, in input order: dicts with type ('created', 'updated' or "
          "'deleted'), id, updated (as the source wrote them), event_id (32 hex digits, the same "
          "for a re-delivery of the same event), record (the record's original JSON text; None "
          "for 'deleted') and changed (with reportChanges, an 'updated' event's changed watched paths as "
          "configured, sorted; else None).")
      .def_readonly("rejects", &batch::rejects,
                    "Invalid records: dicts with line (1-based position in the input), id (or None), "
                    "reason and record (its text).")
      .def_property_readonly("summary", &batch::summary,
                             "The counts, with the command-line tool's keys: processed, committed, created, "
                             "updated, deleted, unchanged, stale, invalid, since_before, since_after.")
      .def_readonly("committed", &batch::committed, "True once Detector.commit() applied it.")
      .def("ndjson", &batch::ndjson,
           "The events as the command-line tool writes them, one JSON object per line (type, id,\n"
           "updated, event_id, the record as its original JSON text, and changed where reported),\n"
           "as UTF-8 bytes: ready to send on without making a dict per event.")
      .def("write_ndjson", &batch::write_ndjson, py::arg("file"),
           "Writes ndjson() to file (binary or text). A file with a descriptor (a file, a pipe,\n"
           "sys.stdout) is flushed and then written directly, the records from where they lie in\n"
           "the input, without the GIL; a failed write raises OSError.")
      .def("__len__", &batch::size);

  py::class_<py_detector>(m, "Detector",
                          "Classifies polled records of one partition (instance/resource) of a state.\n\n"
                          "config: a path, a JSON text or a dict (a Cloud Elements instance body, its\n"
                          "'configuration', or the poller object); state: a path, sqlite:PATH,\n"
                          "redis://HOST:PORT[/DB] or postgresql://...; key_file: encrypts the state;\n"
                          "now: a fixed clock (ISO 8601 str or aware datetime); wait: seconds to wait for\n"
                          "a partition another run holds.\n\n"
                          "The detector holds the partition's lease from its first process(), rescan()\n"
                          "or reset() until close() (or the end of a with block): another Detector on\n"
                          "the same partition then raises BusyError. Use it from one thread at a time\n"
                          "(calls from several threads are serialised). The GIL is released while a\n"
                          "batch is parsed, hashed and committed.")
      .def(py::init<const py::object&, std::string, std::string, std::string, std::optional<std::string>,
                    const py::object&, double>(),
           py::arg("config"), py::arg("state"), py::arg("resource"), py::arg("instance") = "default",
           py::arg("key_file") = py::none(), py::arg("now") = py::none(), py::arg("wait") = 0.0)
      .def("since", &py_detector::since,
           "The since value to send next (ask the source with >=), or None for a full sync.")
      .def("since_url", &py_detector::since_url_,
           "The resource's URL template expanded with the since value (initialSince on a full sync).")
      .def(
          "process", [](py_detector& d, const py::object& records) { return d.process(records, false); },
          py::arg("records"),
          "Classifies polled records: bytes, a memoryview or str (NDJSON, a JSON array, or a page\n"
          "with 'results' or 'records'), or a list of dicts, str or bytes. Bytes (or a slice of them\n"
          "through a memoryview) are read in place, without a copy. Writes nothing: deliver the\n"
          "batch's events, then commit(batch).")
      .def("commit", &py_detector::commit, py::arg("batch"), py::arg("deliver") = py::none(),
           "Writes the batch's state and offset in one atomic operation; call it only after its\n"
           "events were delivered. Should another writer have changed records meanwhile, they are\n"
           "classified again and the new events passed to deliver(events) before committing.")
      .def(
          "rescan", [](py_detector& d, const py::object& records) { return d.process(records, true); },
          py::arg("records"),
          "Like process() for a complete listing of the source: the batch also holds 'deleted'\n"
          "events for the ids not listed; commit(batch) removes their state.")
      .def("reset", &py_detector::reset, py::arg("forget_records") = false,
           "Forgets the offset (the next poll is a full sync); with forget_records every record's\n"
           "state too, so every record is dispatched again.")
      .def("status", &py_detector::status,
           "The partition's status, the command-line tool's keys: partition, instance, resource,\n"
           "offset, since, records (unexpired states), rescan {active, last, next_due, due}.")
      .def("close", &py_detector::close, "Releases the partition's lease and the state.")
      .def_property_readonly("partition", &py_detector::partition, "The partition key, INSTANCE/RESOURCE.")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](py_detector& d, const py::args&) {
        d.close();
        return false;
      });

  m.def("purge", &purge, py::arg("state"), py::arg("now") = py::none(), py::arg("key_file") = py::none(),
        "Removes the expired record states of every partition of the state; returns how many.");
}
