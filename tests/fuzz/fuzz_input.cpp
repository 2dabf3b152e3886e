// libFuzzer target for the input framer (input.hpp): the same bytes read four ways — from a C
// stream, from a regular file (mapped), from a pipe fed in pieces that the reader sees one at a
// time, and in memory — must give the same records, or the same error after a common prefix of
// them. Every record is a slice of the input, the records follow each other in the input,
// positions increase, a batch never exceeds its limit, and the padding promised after each
// record is there (read under AddressSanitizer); read in memory, each record is a view into the
// text and its padding is what follows it there. The first two bytes choose the limits, whether the pipe is
// read, and the piece sizes.
// Run: ./fuzz_input -max_total_time=60 ../../tests/fuzz/corpus/input
#include <sincehash/input.hpp>

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

struct outcome {
  std::vector<std::pair<std::string, std::size_t>> records;  // bytes, position
  std::optional<std::pair<sincehash::errc, std::size_t>> failure;
};

// Reads every batch, checking what holds for any one way of reading; `text`, when given, is what
// the reader reads in memory.
outcome read_all(sincehash::record_reader& reader, std::string_view input, std::size_t max_batch,
                 std::optional<std::string_view> text = std::nullopt) {
  outcome out;
  std::vector<sincehash::input_record> batch;
  std::size_t next_search = 0;
  std::size_t last_position = 0;
  try {
    while (reader.next_batch(batch)) {
      require(!batch.empty() && batch.size() <= max_batch);
      for (const auto& r : batch) {
        require(!r.bytes.empty());
        require(r.position > last_position);
        last_position = r.position;
        const std::size_t at = input.find(r.bytes, next_search);
        require(at != std::string_view::npos);
        next_search = at + r.bytes.size();
        if (text) {
          require(r.bytes.data() >= text->data());
          require(r.bytes.data() + r.bytes.size() + r.padding == text->data() + text->size());
        } else {
          require(r.padding >= 64);
        }
        if (r.padding > 0) {
          volatile char past = r.bytes.data()[r.bytes.size() + r.padding - 1];  // readable
          (void)past;
        }
        out.records.emplace_back(std::string(r.bytes), r.position);
      }
    }
    require(batch.empty());
  } catch (const sincehash::error& e) {
    require(e.code() == sincehash::errc::parse_error);
    require(!e.message().empty());
    require(e.position() <= input.size());
    out.failure.emplace(e.code(), e.position());
  }
  return out;
}

// True when `a` and `b` agree: the same records and the same ending, or, when both failed alike,
// one's records a prefix of the other's (a failing batch is not handed out, and batches end at
// different places when the input arrives in pieces).
bool agree(const outcome& a, const outcome& b) {
  if (a.failure != b.failure) return false;
  if (!a.failure) return a.records == b.records;
  const std::size_t n = std::min(a.records.size(), b.records.size());
  return std::equal(a.records.begin(), a.records.begin() + static_cast<std::ptrdiff_t>(n), b.records.begin());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::signal(SIGPIPE, SIG_IGN);  // a reader that stopped early closes the pipe under its writer
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 8192) return 0;
  static constexpr std::size_t record_limits[] = {std::size_t{64} << 20, 1, 3, 8, 17, 40, 100, 1000};
  const std::size_t max_batch = 1 + (data[0] & 7);
  const std::size_t max_record = record_limits[(data[0] >> 3) & 7];
  const std::size_t max_batch_bytes = (data[0] & 0x40) != 0 ? 16 : std::size_t{16} << 20;
  const std::size_t piece = 1 + data[1] % 97;
  const std::string input(reinterpret_cast<const char*>(data + 2), size - 2);

  // A C stream over the bytes.
  outcome from_stream;
  {
    std::string copy = input;
    std::FILE* f = copy.empty() ? std::tmpfile() : fmemopen(copy.data(), copy.size(), "rb");
    require(f != nullptr);
    sincehash::record_reader reader(f, max_batch, max_record, max_batch_bytes);
    from_stream = read_all(reader, input, max_batch);
    std::fclose(f);
  }

  // A regular file: mapped, records handed out in place.
  outcome from_file;
  {
    const int fd = memfd_create("fuzz_input", 0);
    require(fd >= 0);
    for (std::size_t off = 0; off < input.size();) {
      const ssize_t n = ::write(fd, input.data() + off, input.size() - off);
      require(n > 0);
      off += static_cast<std::size_t>(n);
    }
    require(::lseek(fd, 0, SEEK_SET) == 0);
    sincehash::record_reader reader(fd, max_batch, max_record, max_batch_bytes);
    from_file = read_all(reader, input, max_batch);
    ::close(fd);
  }

  // In memory: records handed out as views into the text (its own allocation, so that a read past
  // its end is seen).
  outcome in_memory;
  {
    const std::unique_ptr<char[]> text(new char[input.size() + 1]);
    std::memcpy(text.get(), input.data(), input.size());
    const std::string_view view(text.get(), input.size());
    sincehash::record_reader reader(view, max_batch, max_record, max_batch_bytes);
    in_memory = read_all(reader, input, max_batch, view);
  }

  // A pipe fed `piece` bytes at a time, each piece written only once the reader took the last
  // (for half of the inputs: a thread per run is slow).
  if ((data[0] & 0x80) != 0) {
    outcome from_pipe;
    int p[2];
    require(::pipe(p) == 0);
    std::atomic<bool> done{false};
    std::thread writer([&] {
      for (std::size_t off = 0; off < input.size() && !done.load();) {
        const std::size_t n = std::min(piece, input.size() - off);
        const ssize_t w = ::write(p[1], input.data() + off, n);
        if (w <= 0) break;
        off += static_cast<std::size_t>(w);
        int queued = 1;
        while (!done.load() && ::ioctl(p[1], FIONREAD, &queued) == 0 && queued > 0) std::this_thread::yield();
      }
      ::close(p[1]);
    });
    sincehash::record_reader reader(p[0], max_batch, max_record, max_batch_bytes);
    from_pipe = read_all(reader, input, max_batch);
    done.store(true);
    ::close(p[0]);
    writer.join();
    require(agree(from_stream, from_pipe));
  }
  require(agree(from_stream, from_file));
  require(agree(from_stream, in_memory));
  return 0;
}
