#ifndef SINCEHASH_INPUT_HPP
#define SINCEHASH_INPUT_HPP

// Frames a stream of polled records into batches, in bounded memory, without parsing them:
//   - a single JSON array                      → its elements, positions 1, 2, 3, ...
//   - a single object with an array under "results" (HubSpot) or "records" (Salesforce)
//                                              → that array's elements, positions 1, 2, 3, ...
//   - any other single value spanning several lines → that one record, position 1
//   - anything else                            → NDJSON: one record per line, position = line
// A UTF-8 byte order mark at the start of the input is skipped. Each record is handed out as the
// exact bytes of the input (no re-serialisation). Framing only tracks strings and nesting;
// whether a record is valid JSON is decided later, per record, so a bad line is reported with its
// position instead of stopping the run. An array or page that is cut off, or followed by more
// data, is an error naming the byte offset in the input where the problem is.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<poll.h>) && __has_include(<unistd.h>)
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#define SINCEHASH_INPUT_FD 1
#if __has_include(<sys/mman.h>) && __has_include(<sys/stat.h>)
#include <sys/mman.h>
#include <sys/stat.h>
#define SINCEHASH_INPUT_MAP 1
#endif
#endif

#include "sincehash/error.hpp"
#include "sincehash/record.hpp"

namespace sincehash {

namespace detail {

// A growable byte buffer whose new bytes are not zeroed (input is read straight into it). It can
// also stand for bytes it does not own (a mapped file): dropping bytes from its front then only
// moves the view, and the first `extend` copies the viewed bytes into storage of its own.
class input_buffer {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const char* data() const noexcept { return view_ != nullptr ? view_ : data_.get(); }
  const char& operator[](std::size_t i) const noexcept { return data()[i]; }
  [[nodiscard]] bool viewing() const noexcept { return view_ != nullptr; }

  // Stands for the `n` bytes at `at`, which stay valid until `extend` or `view` is called again.
  void view(const char* at, std::size_t n) noexcept {
    view_ = at;
    size_ = n;
  }

  // Room for `n` bytes in storage of its own (the viewed bytes copied), without growing later.
  void reserve(std::size_t n) {
    if (view_ == nullptr && n <= capacity_) return;
    const std::size_t old = size_;
    extend(n > size_ ? n - size_ : 0);
    size_ = old;
  }

  // `n` more bytes at the end, uninitialised; returns where they start.
  char* extend(std::size_t n) {
    if (view_ != nullptr || size_ + n > capacity_) {
      const std::size_t wanted =
          std::max(size_ + n, std::min(capacity_ * 2, size_ + n + (std::size_t{64} << 20)));
      std::unique_ptr<char[]> bigger(new char[wanted]);
      if (size_ != 0) std::memcpy(bigger.get(), data(), size_);
      data_ = std::move(bigger);
      capacity_ = wanted;
      view_ = nullptr;
    }
    char* at = data_.get() + size_;
    size_ += n;
    return at;
  }
  void append(std::size_t n, char c) { std::memset(extend(n), c, n); }
  // Holds a copy of the `n` bytes at `at` (not inside this buffer).
  void assign(const char* at, std::size_t n) {
    view_ = nullptr;
    size_ = 0;
    if (n != 0) std::memcpy(extend(n), at, n);
  }
  void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
  void erase_front(std::size_t n) noexcept {
    if (n >= size_) n = size_;
    if (view_ != nullptr) {
      view_ += n;
    } else if (n < size_) {
      std::memmove(data_.get(), data_.get() + n, size_ - n);
    }
    size_ -= n;
  }
  [[nodiscard]] std::size_t find(char c, std::size_t from) const noexcept {
    if (from >= size_) return std::string::npos;
    const void* at = std::memchr(data() + from, c, size_ - from);
    return at == nullptr ? std::string::npos
                         : static_cast<std::size_t>(static_cast<const char*>(at) - data());
  }

 private:
  std::unique_ptr<char[]> data_;
  const char* view_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

#ifdef SINCEHASH_INPUT_MAP
// A read-only mapping of a file's bytes; unmapped on destruction.
class file_mapping {
 public:
  file_mapping() = default;
  file_mapping(const file_mapping&) = delete;
  file_mapping& operator=(const file_mapping&) = delete;
  file_mapping(file_mapping&& o) noexcept : at_(o.at_), length_(o.length_), released_(o.released_) {
    o.at_ = nullptr;
  }
  file_mapping& operator=(file_mapping&& o) noexcept {
    if (this != &o) {
      reset();
      at_ = o.at_;
      length_ = o.length_;
      released_ = o.released_;
      o.at_ = nullptr;
    }
    return *this;
  }
  ~file_mapping() { reset(); }

  // Maps `length` bytes of `fd` from `offset` (a multiple of the page size); false if refused.
  bool map(int fd, off_t offset, std::size_t length) noexcept {
    reset();
    void* at = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, offset);
    if (at == MAP_FAILED) return false;
    at_ = static_cast<char*>(at);
    length_ = length;
    released_ = 0;
    return true;
  }
  void reset() noexcept {
    if (at_ != nullptr) ::munmap(at_, length_);
    at_ = nullptr;
  }
  // Gives back the memory of the whole pages before `upto` (they are read again if touched).
  void release_before(const char* upto) noexcept {
    if (at_ == nullptr || upto <= at_) return;
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t n = static_cast<std::size_t>(upto - at_) / page * page;
    if (n > released_) {
      ::madvise(at_ + released_, n - released_, MADV_DONTNEED);
      released_ = n;
    }
  }
  [[nodiscard]] const char* data() const noexcept { return at_; }

 private:
  char* at_ = nullptr;
  std::size_t length_ = 0;
  std::size_t released_ = 0;
};
#endif

}  // namespace detail

/// Reads records from a C stream in batches. Not thread-safe; one reader per stream.
class record_reader {
 public:
  /// How the input was recognised (known after the first batch).
  enum class shape { unknown, ndjson, array, wrapped_array, single };

  /// Reads from `in` (not owned, not closed). A batch holds at most `max_batch` records and ends
  /// after the record that brings its bytes to `max_batch_bytes` or more (so memory stays bounded
  /// by the two limits, whatever the input's size); `max_record_bytes` bounds one record (a
  /// longer one is an error naming its position).
  explicit record_reader(std::FILE* in, std::size_t max_batch = 1000,
                         std::size_t max_record_bytes = std::size_t{64} << 20,
                         std::size_t max_batch_bytes = std::size_t{16} << 20)
      : in_(in),
        max_batch_(max_batch == 0 ? 1 : max_batch),
        max_record_(max_record_bytes),
        max_batch_bytes_(max_batch_bytes == 0 ? 1 : max_batch_bytes) {}

#ifdef SINCEHASH_INPUT_FD
  /// Reads from the file descriptor `fd` (not owned, not closed) with the same limits, taking
  /// what each read returns. NDJSON from a pipe or socket is then handed out as it arrives: a
  /// batch also ends when it holds at least one record and no further whole line is buffered or
  /// ready to be read, so records written before a pause are processed (and their state can be
  /// committed) without waiting for more input.
  ///
  /// A regular file is mapped into memory from the descriptor's offset to its current end, and
  /// records are handed out from the mapping without being copied; the pages of records already
  /// handed out are given back, so memory stays bounded as before. Bytes appended to the file
  /// while it is read are read after the mapped ones. A file found shorter than when it was
  /// mapped (checked before every batch) is an io_error; truncating it while a batch is read is
  /// not supported (the system signals a bus error on reading a page that is gone). A pipe's
  /// buffer is enlarged to 1 MiB where the system allows it, so that its writer waits less.
  explicit record_reader(int fd, std::size_t max_batch = 1000,
                         std::size_t max_record_bytes = std::size_t{64} << 20,
                         std::size_t max_batch_bytes = std::size_t{16} << 20)
      : record_reader(static_cast<std::FILE*>(nullptr), max_batch, max_record_bytes, max_batch_bytes) {
    fd_ = fd;
#ifdef SINCEHASH_INPUT_MAP
    map_input();
#endif
#if defined(F_SETPIPE_SZ) && defined(SINCEHASH_INPUT_MAP)
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISFIFO(st.st_mode) && ::fcntl(fd_, F_SETPIPE_SZ, 1 << 20) < 0)
      (void)::fcntl(fd_, F_SETPIPE_SZ, 1 << 18);  // the system's limit may be lower; else as it is
#endif
  }
#endif

  /// Reads the records of `text` in memory, with the same limits. Records are handed out as
  /// views into `text`, not copied: it must stay valid and unchanged while the reader and the
  /// records it handed out are used. A record's `padding` is what follows it in `text`, so the
  /// records in its last 64 bytes have less than the 64 bytes documented for `next_batch`.
  explicit record_reader(std::string_view text, std::size_t max_batch = 1000,
                         std::size_t max_record_bytes = std::size_t{64} << 20,
                         std::size_t max_batch_bytes = std::size_t{16} << 20)
      : record_reader(static_cast<std::FILE*>(nullptr), max_batch, max_record_bytes, max_batch_bytes) {
    if (!text.empty()) buf_.view(text.data(), text.size());
    eof_ = true;
  }

#ifdef SINCEHASH_INPUT_FD
  /// Reading NDJSON from a descriptor, a batch ends at a pause in the input: by default when no
  /// further line is ready at once. With a `wait`, a pause is `wait` without input, so a writer
  /// that streams records in pieces fills whole batches (fewer, larger commits); a batch waits
  /// at most ten times `wait` in all, so records trickling in are still handed out in steps.
  void set_pause_wait(std::chrono::milliseconds wait) noexcept {
    pause_wait_ = wait.count() > 0 ? wait : std::chrono::milliseconds(0);
  }
#endif

  /// Keeps the records of a batch valid until the second `next_batch` after it, instead of the
  /// next one, so that a batch can be classified and delivered while the next one is read on
  /// another thread. Memory then holds up to two batches.
  void keep_previous_batch(bool keep = true) noexcept { keep_previous_ = keep; }

  /// The next batch into `out` (cleared first): each record's bytes in the reader's buffer,
  /// valid until the next `next_batch` (see `keep_previous_batch`), followed by at least 64
  /// readable bytes (`padding`); reading text in memory, views into it. Returns false at the
  /// end of the input with `out` empty. Throws `sincehash::error`: io_error on a read failure;
  /// parse_error on an array or a page (an object wrapping the records) that is cut off or
  /// followed by more data, or a record over the size limit. Its position is a 0-based byte
  /// offset in the input (a byte order mark counted).
  bool next_batch(std::vector<input_record>& out) {
    out.clear();
    unpad();
#ifdef SINCEHASH_INPUT_MAP
    if (buf_.viewing() && fd_ >= 0) check_mapped_size();
#endif
    compact();
#ifdef SINCEHASH_INPUT_FD
    waited_ = false;
#endif
    if (shape_ == shape::unknown) detect();
    // Reading more input may move the buffer, so records are kept as offsets until the batch is
    // complete and only then turned into views.
    spans_.clear();
    carriage_return_ = false;
    std::size_t batch_bytes = 0;
    while (spans_.size() < max_batch_ && batch_bytes < max_batch_bytes_) {
      span rec;
      const bool got = shape_ == shape::ndjson   ? next_line(rec, !spans_.empty())
                       : shape_ == shape::single ? next_single(rec)
                                                 : next_element(rec);
      if (!got) break;
      spans_.push_back(rec);
      batch_bytes += rec.length;
    }
#ifdef SINCEHASH_INPUT_MAP
    // Mapped records are followed by the file's next bytes; the last ones are copied.
    if (buf_.viewing() && fd_ >= 0 && !spans_.empty() &&
        spans_.back().offset + spans_.back().length + record_padding > buf_.size())
      leave_mapping();
#endif
    // White space after the buffered input, so that every record is followed by readable bytes
    // and a fast parser can read it in place; taken off again before the next batch.
    if (!buf_.viewing()) {
      buf_.append(record_padding, ' ');
      padded_ = true;
    }
    for (const auto& r : spans_)
      out.push_back({std::string_view(buf_.data() + r.offset, r.length), r.position,
                     buf_.size() - r.offset - r.length});
    return !out.empty();
  }

  /// How the input was recognised.
  [[nodiscard]] shape input_shape() const noexcept { return shape_; }

  /// True when every record of the last batch is known to lie on one line: NDJSON, and none of
  /// them holds a carriage return (the line feeds end the records). False when they may span
  /// lines (an array, a page, a record with a carriage return): look at each one then.
  [[nodiscard]] bool records_on_one_line() const noexcept {
    return shape_ == shape::ndjson && !carriage_return_;
  }

 private:
  std::FILE* in_;
  int fd_ = -1;
  std::size_t max_batch_;
  std::size_t max_record_;
  std::size_t max_batch_bytes_;
  struct span {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::size_t position = 0;
  };
  std::vector<span> spans_;
  bool carriage_return_ = false;  // a record of the current batch holds a '\r'
  detail::input_buffer buf_;
  std::size_t pos_ = 0;   // next unread byte in buf_
  std::size_t base_ = 0;  // input bytes dropped before buf_[0]: the byte offset of buf_[0]
  bool eof_ = false;
  shape shape_ = shape::unknown;
  std::size_t line_ = 0;     // NDJSON: lines handed out so far
  std::size_t element_ = 0;  // arrays: elements handed out so far
  bool array_done_ = false;

  static constexpr std::size_t record_padding = 64;
  static constexpr std::size_t fill_chunk = std::size_t{1} << 18;

  // Room for a whole batch at once (pages not yet written cost no memory), so that the buffer
  // is not grown by copies.
  [[nodiscard]] std::size_t batch_room() const noexcept {
    return std::min(max_batch_bytes_, std::size_t{64} << 20) + 2 * fill_chunk;
  }
  bool padded_ = false;
  bool keep_previous_ = false;
  detail::input_buffer spare_;        // keeping the previous batch: its bytes, while buf_ takes the next
  const char* last_begin_ = nullptr;  // where the bytes of the batch handed out last begin

#ifdef SINCEHASH_INPUT_MAP
  detail::file_mapping map_;
  detail::file_mapping retired_map_;  // left, still holding the batch kept
  off_t map_end_ = 0;                 // the file offset where the mapped bytes end

  void map_input() noexcept {
    struct stat st {};
    if (sizeof(void*) < 8 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) return;
    const off_t at = ::lseek(fd_, 0, SEEK_CUR);
    if (at < 0 || st.st_size <= at) return;
    const auto page = static_cast<off_t>(::sysconf(_SC_PAGESIZE));
    if (page <= 0) return;
    const off_t start = at / page * page;
    if (!map_.map(fd_, start, static_cast<std::size_t>(st.st_size - start))) return;
    buf_.view(map_.data() + (at - start), static_cast<std::size_t>(st.st_size - at));
    last_begin_ = buf_.data();
    map_end_ = st.st_size;
  }

  // A mapped file that shrank would make reading the pages it lost fail with a bus error:
  // checked before every batch, it is an error instead.
  void check_mapped_size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      throw error(errc::io_error, std::string("reading the input failed: ") + std::strerror(errno));
    if (st.st_size < map_end_) {
      throw error(errc::io_error, "the input file was truncated while it was read (from " +
                                      std::to_string(map_end_) + " to " + std::to_string(st.st_size) +
                                      " bytes)");
    }
  }

  // Copies the mapped bytes not yet handed out into the buffer and reads on after them.
  void leave_mapping() {
    if (!buf_.viewing()) return;
    if (::lseek(fd_, map_end_, SEEK_SET) < 0)
      throw error(errc::io_error, std::string("reading the input failed: ") + std::strerror(errno));
    buf_.reserve(std::max(buf_.size() + fill_chunk, batch_room()));  // the copy, with room to read on
    if (keep_previous_)
      retired_map_ = std::move(map_);
    else
      map_.reset();
  }
#endif

  void unpad() {
    if (padded_) buf_.truncate(buf_.size() - record_padding);
    padded_ = false;
  }

  // Drops consumed bytes; records handed out earlier become invalid, as documented.
  // Keeping the previous batch, only the bytes before it are dropped, and bytes read later go
  // to the other buffer, so that the kept ones do not move.
  void compact() {
#ifdef SINCEHASH_INPUT_MAP
    retired_map_.reset();
#endif
    if (pos_ == 0) return;
    base_ += pos_;
    if (keep_previous_ && !buf_.viewing()) {
      spare_.assign(buf_.data() + pos_, buf_.size() - pos_);
      std::swap(buf_, spare_);
      pos_ = 0;
      return;
    }
    buf_.erase_front(pos_);
    pos_ = 0;
#ifdef SINCEHASH_INPUT_MAP
    if (buf_.viewing()) {
      map_.release_before(keep_previous_ ? last_begin_ : buf_.data());
      last_begin_ = buf_.data();
    }
#endif
  }

#ifdef SINCEHASH_INPUT_FD
  std::chrono::milliseconds pause_wait_{0};
  bool waited_ = false;  // this batch waited for input already: until wait_until_ at most
  std::chrono::steady_clock::time_point wait_until_;

  // True when reading the descriptor would not block (data, end of input or an error is
  // there), waiting up to the pause wait for it.
  bool input_ready() noexcept {
    if (eof_) return true;
    pollfd p{fd_, POLLIN, 0};
    int rc;
    do {
      int timeout = 0;
      if (pause_wait_.count() > 0) {
        const auto now = std::chrono::steady_clock::now();
        if (!waited_) {
          waited_ = true;
          wait_until_ = now + 10 * pause_wait_;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until_ - now);
        timeout = static_cast<int>(std::max<std::int64_t>(0, std::min(left, pause_wait_).count()));
      }
      rc = ::poll(&p, 1, timeout);
    } while (rc < 0 && errno == EINTR);
    return rc != 0;
  }
#endif

  // Appends more input, read straight into the buffer; false at end of input.
  bool fill() {
    if (eof_) return false;
    constexpr std::size_t chunk = fill_chunk;
#ifdef SINCEHASH_INPUT_MAP
    if (fd_ >= 0) leave_mapping();  // first: it reads on where the mapping ends
#endif
    buf_.reserve(batch_room());
#ifdef SINCEHASH_INPUT_FD
    if (fd_ >= 0) {
      const std::size_t old = buf_.size();
      char* at = buf_.extend(chunk);
      ssize_t n;
      do {
        n = ::read(fd_, at, chunk);
      } while (n < 0 && errno == EINTR);
      buf_.truncate(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
      if (n < 0)
        throw error(errc::io_error, std::string("reading the input failed: ") + std::strerror(errno));
      if (n == 0) eof_ = true;
      return n > 0;
    }
#endif
    const std::size_t old = buf_.size();
    const std::size_t n = std::fread(buf_.extend(chunk), 1, chunk, in_);
    buf_.truncate(old + n);
    if (n < chunk) {
      if (std::ferror(in_))
        throw error(errc::io_error, std::string("reading the input failed: ") + std::strerror(errno));
      eof_ = true;
    }
    return n > 0;
  }

  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  // Skips white space (reading more as needed); false at end of input.
  bool skip_space() {
    for (;;) {
      while (pos_ < buf_.size() && space(buf_[pos_])) ++pos_;
      if (pos_ < buf_.size()) return true;
      if (!fill()) return false;
    }
  }

  // Length of the JSON value starting at buf_[from] (object, array, string or scalar), reading
  // more input as needed; 0 when the input ends inside it.
  std::size_t value_length(std::size_t from) {
    std::size_t i = from;
    int depth = 0;
    bool in_string = false;
    for (;;) {
      while (i < buf_.size()) {
        const char c = buf_[i];
        if (in_string) {
          if (c == '\\') {
            if (i + 1 >= buf_.size()) break;
            i += 2;
            continue;
          }
          if (c == '"') {
            in_string = false;
            if (depth == 0) return i + 1 - from;
          }
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          ++depth;
        } else if (c == '}' || c == ']') {
          if (depth == 0) return i - from;  // a scalar ends at the enclosing bracket
          if (--depth == 0) return i + 1 - from;
        } else if (depth == 0 && (c == ',' || space(c))) {
          return i - from;
        }
        ++i;
        if (i - from > max_record_) {
          throw error(errc::parse_error,
                      "record " + std::to_string(element_ + 1) + " is longer than " +
                          std::to_string(max_record_) + " bytes",
                      base_ + from);
        }
      }
      if (!fill()) return depth == 0 && !in_string && i > from ? i - from : 0;
    }
  }

  // The byte order mark (EF BB BF) if the input starts with one: skipped, as white space.
  void skip_byte_order_mark() {
    static constexpr char mark[] = "\xEF\xBB\xBF";
    while (buf_.size() - pos_ < 3 && buf_.size() - pos_ > 0 &&
           std::memcmp(buf_.data() + pos_, mark, buf_.size() - pos_) == 0 && fill()) {
    }
    if (buf_.size() - pos_ >= 3 && std::memcmp(buf_.data() + pos_, mark, 3) == 0) pos_ += 3;
  }

  void detect() {
    if (buf_.size() == pos_) fill();
    skip_byte_order_mark();
    if (!skip_space()) {
      shape_ = shape::ndjson;
      return;
    }
    if (buf_[pos_] == '[') {
      shape_ = shape::array;
      ++pos_;
      return;
    }
    if (buf_[pos_] == '{') {
      // One object followed only by white space, holding "results" or "records" → wrapped.
      const std::size_t len = value_length(pos_);
      if (len == 0) {
        // Cut off: a page (its array begun) is an error; anything else is read as NDJSON, so
        // that a bad first line is one invalid record.
        if (find_wrapped_array(pos_, buf_.size()) != std::string::npos)
          throw error(errc::parse_error, "the input page is cut off (its records array is not closed)",
                      base_ + buf_.size());
        shape_ = shape::ndjson;
        return;
      }
      std::size_t after = pos_ + len;
      for (;;) {  // white space up to the end of the input (reads may return it piecemeal)?
        while (after < buf_.size() && space(buf_[after])) ++after;
        if (after < buf_.size() || !fill()) break;
      }
      const std::size_t array_at = find_wrapped_array(pos_, pos_ + len);
      if (after == buf_.size() && eof_) {
        if (array_at != std::string::npos) {
          shape_ = shape::wrapped_array;
          pos_ = array_at + 1;
          return;
        }
        if (std::string_view(buf_.data() + pos_, len).find('\n') != std::string_view::npos) {
          shape_ = shape::single;  // one pretty-printed record
          return;
        }
      } else if (array_at != std::string::npos) {
        // A page followed by more data: an error, unless the page is the first line of NDJSON
        // (one line, and the data begins on a later line).
        const std::string_view page(buf_.data() + pos_, len);
        const std::string_view gap(buf_.data() + pos_ + len, after - pos_ - len);
        if (page.find('\n') != std::string_view::npos || gap.find('\n') == std::string_view::npos)
          throw error(errc::parse_error, "unexpected data after the input page", base_ + after);
      }
    }
    shape_ = shape::ndjson;
  }

  // Position of the '[' of a top-level "results" or "records" array inside the object
  // buf_[begin, end), or npos.
  std::size_t find_wrapped_array(std::size_t begin, std::size_t end) const {
    int depth = 0;
    bool in_string = false;
    std::size_t key_start = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const char c = buf_[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
          if (depth == 1) {
            std::string_view key(buf_.data() + key_start, i - key_start);
            std::size_t j = i + 1;
            while (j < end && space(buf_[j])) ++j;
            if (j < end && buf_[j] == ':' && (key == "results" || key == "records")) {
              ++j;
              while (j < end && space(buf_[j])) ++j;
              if (j < end && buf_[j] == '[') return j;
            }
          }
        }
      } else if (c == '"') {
        in_string = true;
        key_start = i + 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
      }
    }
    return std::string::npos;
  }

  // The next line holding more than white space. With `may_pause`, reading from a descriptor,
  // false also when no whole line is buffered and reading more would wait for the input.
  bool next_line(span& rec, bool may_pause) {
#ifndef SINCEHASH_INPUT_FD
    (void)may_pause;
#endif
    for (;;) {
      const std::size_t line_start = pos_;
      std::size_t nl = buf_.find('\n', pos_);
      // While a line is incomplete, the part of it already read is measured as a complete line
      // would be: without the white space around it, and with it against the looser bound; so a
      // line is refused alike however its bytes arrive.
      while (nl == std::string::npos) {
#ifdef SINCEHASH_INPUT_FD
        if (may_pause && fd_ >= 0 && !input_ready()) return false;
#endif
        const std::size_t searched = buf_.size();  // no newline before here: search only what is new
        std::size_t first = pos_;
        while (first < searched && space(buf_[first])) ++first;
        if (first < searched) {
          std::size_t last = searched;
          while (space(buf_[last - 1])) --last;
          if (last - first > max_record_) {
            throw error(errc::parse_error,
                        "line " + std::to_string(line_ + 1) + " is longer than " +
                            std::to_string(max_record_) + " bytes",
                        base_ + line_start);
          }
        }
        if (searched - pos_ > max_line_with_space()) throw_line_space(line_ + 1, line_start);
        if (!fill()) break;
        nl = buf_.find('\n', searched);
      }
      if (pos_ >= buf_.size()) return false;
      const std::size_t end = nl == std::string::npos ? buf_.size() : nl;
      std::size_t first = pos_;
      std::size_t last = end;
      pos_ = nl == std::string::npos ? buf_.size() : nl + 1;
      ++line_;
      while (last > first && space(buf_[last - 1])) --last;
      while (first < last && space(buf_[first])) ++first;
      if (last - first > max_record_) {
        throw error(
            errc::parse_error,
            "line " + std::to_string(line_) + " is longer than " + std::to_string(max_record_) + " bytes",
            base_ + line_start);
      }
      if (end - line_start > max_line_with_space()) throw_line_space(line_, line_start);
      if (first == last) continue;  // blank lines are not records, but they count as lines
      // Looked for while the line is still in the cache, so that writing the record on one line
      // needs no second look at its bytes.
      if (!carriage_return_ && std::memchr(buf_.data() + first, '\r', last - first) != nullptr)
        carriage_return_ = true;
      rec.offset = first;
      rec.length = last - first;
      rec.position = line_;
      return true;
    }
  }

  // How long a line may be with the white space around its record: the record's limit, plus as
  // much again (at least 4 KiB) for indentation and padding. Past it the line is refused, so that
  // white space alone cannot make the buffer grow without end.
  [[nodiscard]] std::size_t max_line_with_space() const noexcept {
    const std::size_t room = std::max<std::size_t>(max_record_, 4096);
    return max_record_ > std::numeric_limits<std::size_t>::max() - room ? max_record_ : max_record_ + room;
  }
  [[noreturn]] void throw_line_space(std::size_t line, std::size_t line_start) const {
    throw error(errc::parse_error,
                "line " + std::to_string(line) + " is longer than " + std::to_string(max_line_with_space()) +
                    " bytes with its white space (records may be " + std::to_string(max_record_) + " bytes)",
                base_ + line_start);
  }

  bool next_single(span& rec) {
    if (element_ > 0 || !skip_space()) return false;
    const std::size_t len = value_length(pos_);
    rec.offset = pos_;
    rec.length = len;
    rec.position = ++element_;
    pos_ = buf_.size();
    return true;
  }

  bool next_element(span& rec) {
    if (array_done_) return false;
    const char* what = shape_ == shape::wrapped_array ? "page's records array" : "array";
    if (!skip_space())
      throw error(errc::parse_error, std::string("the input ") + what + " is not closed",
                  base_ + buf_.size());
    if (element_ > 0) {
      if (buf_[pos_] == ',') {
        ++pos_;
        if (!skip_space())
          throw error(errc::parse_error, std::string("the input ") + what + " is not closed",
                      base_ + buf_.size());
      } else if (buf_[pos_] != ']') {
        throw error(errc::parse_error,
                    "expected ',' or ']' after element " + std::to_string(element_) + " of the input " + what,
                    base_ + pos_);
      }
    }
    if (buf_[pos_] == ']') {
      array_done_ = true;
      ++pos_;
      check_trailer();
      return false;
    }
    const std::size_t len = value_length(pos_);
    if (len == 0)
      throw error(errc::parse_error,
                  "the input " + std::string(what) + " is cut off in element " + std::to_string(element_ + 1),
                  base_ + pos_);
    rec.offset = pos_;
    rec.length = len;
    rec.position = ++element_;
    pos_ += len;
    return true;
  }

  // After the array: nothing but white space (plain array) or the rest of the wrapping object.
  void check_trailer() {
    if (shape_ == shape::wrapped_array) {
      pos_ = buf_.size();
      return;
    }
    if (skip_space()) throw error(errc::parse_error, "unexpected data after the input array", base_ + pos_);
  }
};

}  // namespace sincehash

#endif  // SINCEHASH_INPUT_HPP
