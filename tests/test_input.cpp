#include <sincehash/input.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <csignal>
#include <fstream>

namespace {

// A pipe whose reader gave up must not end the test process.
const bool sigpipe_ignored = (std::signal(SIGPIPE, SIG_IGN), true);

struct framed {
  std::string bytes;
  std::size_t position;
};

struct read_all_result {
  std::vector<framed> records;
  std::vector<std::size_t> batch_sizes;
  sincehash::record_reader::shape shape;
};

// With `keep`, the reader keeps the previous batch: its records must still hold their bytes
// after the next batch was read.
void collect(sincehash::record_reader& reader, read_all_result& out, bool keep = false) {
  reader.keep_previous_batch(keep);
  std::vector<sincehash::input_record> b, previous;
  std::size_t previous_from = 0;
  while (reader.next_batch(b)) {
    if (keep) {
      for (std::size_t i = 0; i < previous.size(); ++i) {
        CHECK(previous[i].bytes == out.records[previous_from + i].bytes);
        CHECK(previous[i].padding >= 64);
      }
      previous = b;
      previous_from = out.records.size();
    }
    out.batch_sizes.push_back(b.size());
    const bool one_line = reader.records_on_one_line();
    bool line_break = false;
    for (const auto& r : b) {
      out.records.push_back({std::string(r.bytes), r.position});
      line_break = line_break || r.bytes.find_first_of("\r\n") != std::string_view::npos;
      // Every record is followed by readable padding (read here, so a sanitizer sees a bad one).
      CHECK(r.padding >= 64);
      unsigned sum = 0;
      for (std::size_t i = 0; i < r.padding; ++i)
        sum += static_cast<unsigned char>(r.bytes.data()[r.bytes.size() + i]);
      CHECK(sum > 0);
    }
    // What the reader says of the batch's lines holds; of NDJSON it knows exactly.
    if (one_line) CHECK_FALSE(line_break);
    if (reader.input_shape() == sincehash::record_reader::shape::ndjson) CHECK(one_line == !line_break);
  }
  out.shape = reader.input_shape();
}

// The same input through a pipe, written in random pieces, read from the descriptor.
read_all_result read_through_pipe(const std::string& input, std::size_t batch, std::size_t limit,
                                  std::size_t batch_bytes) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::thread writer([&input, fd = fds[1]] {
    std::mt19937 rng(static_cast<unsigned>(input.size()));
    for (std::size_t at = 0; at < input.size();) {
      const std::size_t n = std::min<std::size_t>(input.size() - at, 1 + rng() % 5000);
      const ssize_t w = ::write(fd, input.data() + at, n);
      if (w <= 0) break;  // the reader gave up (an error): stop
      at += static_cast<std::size_t>(w);
    }
    ::close(fd);
  });
  read_all_result out;
  try {
    sincehash::record_reader reader(fds[0], batch, limit, batch_bytes);
    collect(reader, out, true);
  } catch (...) {
    ::close(fds[0]);
    writer.join();
    throw;
  }
  ::close(fds[0]);
  writer.join();
  return out;
}

// Reads `input` from memory: the records are views into it, each with what follows it as padding.
read_all_result read_in_memory(const std::string& input, std::size_t batch, std::size_t limit,
                               std::size_t batch_bytes) {
  // A copy in storage of its own, so that a sanitizer sees a read past its end.
  const std::unique_ptr<char[]> text(new char[input.size()]);
  std::memcpy(text.get(), input.data(), input.size());
  const char* const end = text.get() + input.size();
  sincehash::record_reader reader(std::string_view(text.get(), input.size()), batch, limit, batch_bytes);
  read_all_result out;
  std::vector<sincehash::input_record> b;
  while (reader.next_batch(b)) {
    out.batch_sizes.push_back(b.size());
    for (const auto& r : b) {
      out.records.push_back({std::string(r.bytes), r.position});
      REQUIRE(r.bytes.data() >= text.get());
      REQUIRE(r.bytes.data() + r.bytes.size() <= end);
      CHECK(r.padding == static_cast<std::size_t>(end - (r.bytes.data() + r.bytes.size())));
      unsigned sum = 0;
      for (std::size_t i = 0; i < r.padding; ++i)
        sum += static_cast<unsigned char>(r.bytes.data()[r.bytes.size() + i]);
      (void)sum;
    }
  }
  out.shape = reader.input_shape();
  return out;
}

// Reads `input` through a C stream, and through a pipe from its descriptor: both must hand out
// the same records (batches may end earlier from a pipe) or fail with the same error.
read_all_result read_all(const std::string& input, std::size_t batch = 1000, std::size_t limit = 1 << 20,
                         std::size_t batch_bytes = std::size_t{16} << 20) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  std::fwrite(input.data(), 1, input.size(), f);
  std::rewind(f);
  read_all_result out;
  try {
    sincehash::record_reader reader(f, batch, limit, batch_bytes);
    collect(reader, out);
  } catch (const sincehash::error& e) {
    std::rewind(f);
    try {
      read_all_result mapped;
      sincehash::record_reader reader(fileno(f), batch, limit, batch_bytes);
      collect(reader, mapped);
      FAIL("the mapped reader accepted what the stream reader refused: " << e.what());
    } catch (const sincehash::error& again) {
      CHECK(again.code() == e.code());
      CHECK(again.position() == e.position());
    }
    std::fclose(f);
    try {
      (void)read_through_pipe(input, batch, limit, batch_bytes);
      FAIL("the descriptor reader accepted what the stream reader refused: " << e.what());
    } catch (const sincehash::error& again) {
      CHECK(again.code() == e.code());
      CHECK(again.position() == e.position());
    }
    try {
      (void)read_in_memory(input, batch, limit, batch_bytes);
      FAIL("the in-memory reader accepted what the stream reader refused: " << e.what());
    } catch (const sincehash::error& again) {
      CHECK(again.code() == e.code());
      CHECK(again.position() == e.position());
    }
    throw;
  }
  // From the descriptor of the same regular file, which is mapped: the same batches.
  std::rewind(f);
  {
    read_all_result mapped;
    sincehash::record_reader reader(fileno(f), batch, limit, batch_bytes);
    collect(reader, mapped, true);
    CHECK(mapped.batch_sizes == out.batch_sizes);
    REQUIRE(mapped.records.size() == out.records.size());
    for (std::size_t i = 0; i < out.records.size(); ++i) {
      CHECK(mapped.records[i].bytes == out.records[i].bytes);
      CHECK(mapped.records[i].position == out.records[i].position);
    }
    CHECK(mapped.shape == out.shape);
  }
  std::fclose(f);
  const read_all_result piped = read_through_pipe(input, batch, limit, batch_bytes);
  REQUIRE(piped.records.size() == out.records.size());
  for (std::size_t i = 0; i < out.records.size(); ++i) {
    CHECK(piped.records[i].bytes == out.records[i].bytes);
    CHECK(piped.records[i].position == out.records[i].position);
  }
  CHECK(piped.shape == out.shape);
  const read_all_result in_memory = read_in_memory(input, batch, limit, batch_bytes);
  CHECK(in_memory.batch_sizes == out.batch_sizes);
  REQUIRE(in_memory.records.size() == out.records.size());
  for (std::size_t i = 0; i < out.records.size(); ++i) {
    CHECK(in_memory.records[i].bytes == out.records[i].bytes);
    CHECK(in_memory.records[i].position == out.records[i].position);
  }
  CHECK(in_memory.shape == out.shape);
  return out;
}

}  // namespace

using shape = sincehash::record_reader::shape;

TEST_CASE("NDJSON: one record per line, positions are input lines, blank lines skipped but counted") {
  auto r = read_all("{\"id\":1}\n\n  {\"id\":2}  \r\nnot json\n{\"id\":4}");
  CHECK(r.shape == shape::ndjson);
  REQUIRE(r.records.size() == 4);
  CHECK(r.records[0].bytes == "{\"id\":1}");
  CHECK(r.records[0].position == 1);
  CHECK(r.records[1].bytes == "{\"id\":2}");
  CHECK(r.records[1].position == 3);
  CHECK(r.records[2].bytes == "not json");  // framing does not judge; the detector reports it
  CHECK(r.records[2].position == 4);
  CHECK(r.records[3].bytes == "{\"id\":4}");
  CHECK(r.records[3].position == 5);
}

TEST_CASE("NDJSON: a batch is known to lie on one line unless a record holds a carriage return") {
  // CRLF line ends are not part of the records; a carriage return inside one is (JSON white space).
  const std::string input = "{\"id\":1}\r\n{\"id\":\r2}\r\n{\"id\":3}\r\n";
  sincehash::record_reader reader(std::string_view(input), 1, 1 << 20, 1 << 20);
  std::vector<sincehash::input_record> b;
  std::vector<bool> one_line;
  while (reader.next_batch(b)) one_line.push_back(reader.records_on_one_line());
  CHECK(one_line == std::vector<bool>{true, false, true});
  // An array's elements may span lines: the reader does not vouch for them.
  sincehash::record_reader array(std::string_view("[{\"id\":1}]"), 10, 1 << 20, 1 << 20);
  REQUIRE(array.next_batch(b));
  CHECK_FALSE(array.records_on_one_line());
}

TEST_CASE("a JSON array: its elements with their exact bytes, strings holding brackets and quotes") {
  const std::string a = R"({"id":"a]","n":{"x":[1,2]}})";
  const std::string b = R"({"id":"b\"},{","v":null})";
  auto r = read_all("[\n " + a + " ,\n" + b + ", 42 ,\"s\"]\n");
  CHECK(r.shape == shape::array);
  REQUIRE(r.records.size() == 4);
  CHECK(r.records[0].bytes == a);
  CHECK(r.records[1].bytes == b);
  CHECK(r.records[2].bytes == "42");
  CHECK(r.records[3].bytes == "\"s\"");
  CHECK(r.records[3].position == 4);
}

TEST_CASE("an object wrapping the records under results or records") {
  for (const char* key : {"results", "records"}) {
    auto r = read_all(std::string("{\"paging\":{\"next\":{\"after\":\"2\"}},\"") + key +
                      "\":[{\"id\":1},{\"id\":2}],\"total\":2}\n");
    CHECK(r.shape == shape::wrapped_array);
    REQUIRE(r.records.size() == 2);
    CHECK(r.records[1].bytes == "{\"id\":2}");
    CHECK(r.records[1].position == 2);
  }
  // "results" nested deeper is not the wrapper: the object is one NDJSON record.
  auto nested = read_all("{\"a\":{\"results\":[1]}}\n");
  CHECK(nested.shape == shape::ndjson);
  REQUIRE(nested.records.size() == 1);
}

// The byte offset named by the error reading `input` fails with (npos if it does not fail).
static std::size_t error_offset(const std::string& input, std::size_t batch = 1000,
                                std::size_t limit = 1 << 20) {
  try {
    (void)read_all(input, batch, limit);
  } catch (const sincehash::error& e) {
    CHECK(e.code() == sincehash::errc::parse_error);
    return e.position();
  }
  return std::string::npos;
}

TEST_CASE("a page cut off or followed by more data is an error naming the byte offset") {
  const std::string page = "{\"total\":2,\"results\":[{\"id\":1},{\"id\":2}]}";
  CHECK(error_offset(page.substr(0, page.size() - 3)) == page.size() - 3);
  CHECK(error_offset(page.substr(0, 24)) == 24);
  CHECK(error_offset(page + " x\n") == page.size() + 1);
  CHECK(error_offset(page + page) == page.size());
  const std::string pretty = "{\n  \"records\": [\n    {\"id\": 1}\n  ]\n}";
  CHECK(error_offset(pretty + "\n{\"id\":2}\n") == pretty.size() + 1);
  CHECK(error_offset("{\"x\":1,\"results\":[{\"id\":1} {\"id\":2}]}") == 27);
  // a one-line page followed by more lines is NDJSON (each line a record), as is a cut-off
  // first line that is not a page
  CHECK(read_all(page + "\n{\"id\":3}\n").records.size() == 2);
  auto cut = read_all("{\"id\":1,\n{\"id\":2}\n");
  CHECK(cut.shape == shape::ndjson);
  CHECK(cut.records.size() == 2);
}

TEST_CASE("a UTF-8 byte order mark at the start is skipped, whatever the shape") {
  const std::string bom = "\xEF\xBB\xBF";
  auto nd = read_all(bom + "{\"id\":1}\n{\"id\":2}\n");
  REQUIRE(nd.records.size() == 2);
  CHECK(nd.records[0].bytes == "{\"id\":1}");
  CHECK(nd.records[0].position == 1);
  auto arr = read_all(bom + " [{\"id\":1}]");
  CHECK(arr.shape == shape::array);
  REQUIRE(arr.records.size() == 1);
  auto page = read_all(bom + "{\"results\":[{\"id\":1}]}");
  CHECK(page.shape == shape::wrapped_array);
  auto single = read_all(bom + "{\n\"id\": 1\n}");
  CHECK(single.shape == shape::single);
  REQUIRE(single.records.size() == 1);
  CHECK(single.records[0].bytes == "{\n\"id\": 1\n}");
  CHECK(read_all(bom).records.empty());
  CHECK(error_offset(bom + "[{\"id\":1} x]") == 13);  // offsets count the mark
  // only at the start: elsewhere it is part of a record
  auto later = read_all("{\"id\":1}\n" + bom + "{\"id\":2}\n");
  REQUIRE(later.records.size() == 2);
  CHECK(later.records[1].bytes == bom + "{\"id\":2}");
}

TEST_CASE("one pretty-printed record spanning lines is one record") {
  auto r = read_all("{\n  \"id\": 7,\n  \"name\": \"x\"\n}\n");
  CHECK(r.shape == shape::single);
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].position == 1);
  CHECK(r.records[0].bytes.find("\"name\": \"x\"") != std::string::npos);
}

TEST_CASE("batches are bounded and together hold every record in order") {
  std::string ndjson, array = "[";
  for (int i = 1; i <= 2500; ++i) {
    ndjson += "{\"id\":" + std::to_string(i) + ",\"pad\":\"" +
              std::string(static_cast<std::size_t>(i % 97), 'x') + "\"}\n";
    array += (i > 1 ? "," : "") + std::string("{\"id\":") + std::to_string(i) + "}";
  }
  array += "]";
  for (const auto& input : {ndjson, array}) {
    auto r = read_all(input, 1000);
    CHECK(r.batch_sizes == std::vector<std::size_t>{1000, 1000, 500});
    REQUIRE(r.records.size() == 2500);
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      CHECK(r.records[i].position == i + 1);
      const std::string head = "{\"id\":" + std::to_string(i + 1);
      REQUIRE(r.records[i].bytes.size() > head.size());
      CHECK(r.records[i].bytes.compare(0, head.size(), head) == 0);
      CHECK((r.records[i].bytes[head.size()] == ',' || r.records[i].bytes[head.size()] == '}'));
    }
  }
}

TEST_CASE("batches end once their bytes reach the byte limit; a record spanning many reads is whole") {
  std::string ndjson;
  for (int i = 0; i < 100; ++i)
    ndjson += "{\"id\":" + std::to_string(i) + ",\"p\":\"" + std::string(90, 'x') + "\"}\n";
  const std::size_t line = ndjson.find('\n');  // every record has this many bytes
  auto r = read_all(ndjson, 1000, 1 << 20, 10 * line);
  CHECK(r.batch_sizes == std::vector<std::size_t>(10, 10));
  auto one = read_all(ndjson, 1000, 1 << 20, 1);
  CHECK(one.batch_sizes == std::vector<std::size_t>(100, 1));
  // A 3 MiB line arrives over many reads of the input and comes out as one record.
  const std::string big = "{\"id\":1,\"p\":\"" + std::string(std::size_t{3} << 20, 'z') + "\"}";
  auto b = read_all(big + "\n{\"id\":2}\n", 1000, std::size_t{4} << 20);
  REQUIRE(b.records.size() == 2);
  CHECK(b.records[0].bytes == big);
  CHECK(b.records[1].position == 2);
}

TEST_CASE("a cut-off array, garbage after it and an oversized record are errors naming the byte offset") {
  CHECK(error_offset("[{\"id\":1},{\"id\":2") == 10);   // where the cut-off element begins
  CHECK(error_offset("[{\"id\":1},{\"id\":2}") == 18);  // not closed: the end of the input
  CHECK(error_offset("[{\"id\":1}] {\"id\":2}") == 11);
  CHECK(error_offset("[{\"id\":1} {\"id\":2}]") == 10);
  CHECK(error_offset("{\"id\":1}\n{\"id\":\"" + std::string(5000, 'y') + "\"}\n", 10, 1000) == 9);
  // past the first batch the offset still counts from the start of the input
  std::string many = "[";
  for (int i = 0; i < 30; ++i) many += "{\"id\":" + std::to_string(10 + i) + "},";
  CHECK(error_offset(many + "{\"id\":", 10) == many.size());
  CHECK(read_all("").records.empty());
  CHECK(read_all("[]").records.empty());
  CHECK(read_all(" \n ").records.empty());
}

TEST_CASE("from a descriptor, NDJSON written before a pause is handed out without waiting for more") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::promise<void> got_first;
  auto first_seen = got_first.get_future();
  std::thread writer([&] {
    const std::string head = "{\"id\":1}\n{\"id\":2}\n\n{\"id\":3}\n{\"id\":";  // the 4th is cut for now
    CHECK(::write(fds[1], head.data(), head.size()) == static_cast<ssize_t>(head.size()));
    // A reader waiting for a full batch would block here until the timeout; then the rest comes.
    (void)first_seen.wait_for(std::chrono::seconds(5));
    const std::string rest = "4}\n{\"id\":5}\n";
    CHECK(::write(fds[1], rest.data(), rest.size()) == static_cast<ssize_t>(rest.size()));
    ::close(fds[1]);
  });
  sincehash::record_reader reader(fds[0], 1000);
  std::vector<sincehash::input_record> b;
  REQUIRE(reader.next_batch(b));
  std::vector<std::string> first;
  for (const auto& r : b) first.emplace_back(r.bytes);
  got_first.set_value();
  std::vector<std::string> rest;
  while (reader.next_batch(b)) {
    for (const auto& r : b) rest.emplace_back(r.bytes);
  }
  writer.join();
  ::close(fds[0]);
  CHECK(first == std::vector<std::string>{"{\"id\":1}", "{\"id\":2}", "{\"id\":3}"});
  CHECK(rest == std::vector<std::string>{"{\"id\":4}", "{\"id\":5}"});
}

namespace {

// A file in the temporary directory, removed at the end of the test.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& bytes) {
    char name[] = "/tmp/sincehash-input-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    for (std::size_t at = 0; at < bytes.size();) {
      const ssize_t w = ::write(fd, bytes.data() + at, bytes.size() - at);
      REQUIRE(w > 0);
      at += static_cast<std::size_t>(w);
    }
    ::close(fd);
  }
  ~temp_file() { std::remove(path.c_str()); }
};

std::string numbered_lines(std::size_t from, std::size_t count, std::size_t width) {
  std::string s;
  for (std::size_t i = from; i < from + count; ++i) {
    std::string rec = "{\"id\":" + std::to_string(i) + ",\"pad\":\"";
    rec.append(width > rec.size() + 3 ? width - rec.size() - 3 : 0, 'x');
    s += rec + "\"}\n";
  }
  return s;
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("a mapped file: records ending at a page boundary, and reading from the descriptor's offset") {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  // Every line is a quarter page, so the file ends exactly at a page boundary, without padding.
  const std::string input = numbered_lines(0, 4 * 8, page / 4);
  REQUIRE(input.size() == 8 * page);
  temp_file file(input);
  const int fd = ::open(file.path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  {
    sincehash::record_reader reader(fd, 5);
    read_all_result out;
    collect(reader, out);
    REQUIRE(out.records.size() == 32);
    CHECK(out.records.back().bytes == numbered_lines(31, 1, page / 4).substr(0, page / 4 - 1));
    CHECK(::lseek(fd, 0, SEEK_CUR) == static_cast<off_t>(input.size()));  // read to the end, as read() would
  }
  // A descriptor already read part of the way: the records from there on, not from the start.
  const std::size_t skip = 3 * (page / 4) + 100;  // inside line 4: the rest of it is line 1 now
  REQUIRE(::lseek(fd, static_cast<off_t>(skip), SEEK_SET) == static_cast<off_t>(skip));
  sincehash::record_reader reader(fd, 1000);
  read_all_result out;
  collect(reader, out);
  ::close(fd);
  REQUIRE(out.records.size() == 29);
  CHECK(out.records[0].bytes == input.substr(skip, page / 4 - 100 - 1));
  CHECK(out.records[1].bytes.rfind("{\"id\":4,", 0) == 0);
  CHECK(out.records[1].position == 2);
}

TEST_CASE("a mapped file: lines appended while it is read are read too") {
  temp_file file(numbered_lines(0, 100, 300));
  const int fd = ::open(file.path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  sincehash::record_reader reader(fd, 30);
  std::vector<sincehash::input_record> b;
  std::vector<std::string> ids;
  REQUIRE(reader.next_batch(b));
  for (const auto& r : b) ids.emplace_back(r.bytes.substr(0, r.bytes.find(',')));
  {
    std::ofstream more(file.path, std::ios::app | std::ios::binary);
    more << numbered_lines(100, 50, 300);
  }
  while (reader.next_batch(b))
    for (const auto& r : b) ids.emplace_back(r.bytes.substr(0, r.bytes.find(',')));
  ::close(fd);
  REQUIRE(ids.size() == 150);
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == "{\"id\":" + std::to_string(i));
}

TEST_CASE("a mapped file: the pages of records handed out are given back") {
  // 64 MiB of records in batches of at most 1 MiB: the resident memory grows by a few batches,
  // not by the file's size.
  temp_file file(numbered_lines(0, 64 * 1024, 1024));
  const int fd = ::open(file.path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  sincehash::record_reader reader(fd, 100000, std::size_t{1} << 20, std::size_t{1} << 20);
  bool keep = false;
  SUBCASE("handing out one batch at a time") {}
  SUBCASE("keeping the previous batch") { keep = true; }
  reader.keep_previous_batch(keep);
  std::vector<sincehash::input_record> b;
  const std::size_t before = resident_bytes();
  std::size_t peak = before, records = 0, checksum = 0;
  while (reader.next_batch(b)) {
    records += b.size();
    for (const auto& r : b)
      checksum += static_cast<unsigned char>(r.bytes[r.bytes.size() / 2]);  // touch them
    peak = std::max(peak, resident_bytes());
  }
  ::close(fd);
  CHECK(records == 64 * 1024);
  CHECK(checksum == 64 * 1024 * static_cast<std::size_t>('x'));
  CHECK(peak - before < (std::size_t{16} << 20));
}

namespace {

// Lines written to a pipe one by one, `gap` apart; the sizes of the batches read from it.
std::vector<std::size_t> batches_of_a_trickle(int lines, std::chrono::milliseconds gap,
                                              std::chrono::milliseconds pause_wait) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::thread writer([&] {
    for (int i = 0; i < lines; ++i) {
      const std::string line = "{\"id\":" + std::to_string(i) + "}\n";
      CHECK(::write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()));
      std::this_thread::sleep_for(gap);
    }
    ::close(fds[1]);
  });
  sincehash::record_reader reader(fds[0], 100000);
  reader.set_pause_wait(pause_wait);
  std::vector<sincehash::input_record> b;
  std::vector<std::size_t> sizes;
  std::size_t total = 0;
  while (reader.next_batch(b)) {
    sizes.push_back(b.size());
    total += b.size();
  }
  writer.join();
  ::close(fds[0]);
  CHECK(total == static_cast<std::size_t>(lines));
  return sizes;
}

}  // namespace

TEST_CASE("with a pause wait, records streamed in pieces fill a batch; a trickle is still handed out") {
  using std::chrono::milliseconds;
  // Without a wait, every line that finds the reader idle ends a batch.
  CHECK(batches_of_a_trickle(20, milliseconds(3), milliseconds(0)).size() >= 10);
  // Lines 3 ms apart, a pause being 300 ms without input: one batch (or very few, on a machine
  // so loaded that a 3 ms sleep takes longer).
  CHECK(batches_of_a_trickle(20, milliseconds(3), milliseconds(300)).size() <= 3);
  // Lines 5 ms apart for a second, a pause being 20 ms: a batch waits 200 ms in all, so the
  // trickle comes out in several batches, not in one at its end.
  CHECK(batches_of_a_trickle(200, milliseconds(5), milliseconds(20)).size() >= 3);
}

#ifdef F_GETPIPE_SZ
TEST_CASE("reading a pipe enlarges its buffer, so that the writer waits less") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int before = ::fcntl(fds[0], F_GETPIPE_SZ);
  {
    sincehash::record_reader reader(fds[0]);
    CHECK(::fcntl(fds[0], F_GETPIPE_SZ) >= 4 * before);
  }
  ::close(fds[0]);
  ::close(fds[1]);
}
#endif

TEST_CASE("a mapped file truncated while it is read is an error, not a bus error") {
  temp_file file(numbered_lines(0, 3000, 200));
  const int fd = ::open(file.path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  sincehash::record_reader reader(fd, 1000);
  std::vector<sincehash::input_record> b;
  REQUIRE(reader.next_batch(b));
  CHECK(b.size() == 1000);
  REQUIRE(::truncate(file.path.c_str(), 100 * 200) == 0);
  try {
    (void)reader.next_batch(b);
    FAIL("no error");
  } catch (const sincehash::error& e) {
    CHECK(e.code() == sincehash::errc::io_error);
    CHECK(std::string(e.what()).find("truncated") != std::string::npos);
  }
  ::close(fd);
}

TEST_CASE("white space around a line's record does not count against the record limit, however it arrives") {
  // Each record is exactly at the 17-byte limit, indented and padded more on every line: read
  // whole from a file or in pieces from a pipe, every line is accepted alike.
  std::string input;
  std::vector<std::string> expect;
  for (int i = 0; i < 40; ++i) {
    const std::string record = "{\"id\":" + std::to_string(1000000000 + i) + "}";
    REQUIRE(record.size() == 17);
    input += std::string(static_cast<std::size_t>(50 * i), ' ') + record +
             std::string(static_cast<std::size_t>(30 * i), '\t') + "\r\n";
    expect.push_back(record);
  }
  const read_all_result r = read_all(input, 1000, 17);
  REQUIRE(r.records.size() == expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i) {
    CHECK(r.records[i].bytes == expect[i]);
    CHECK(r.records[i].position == i + 1);
  }
  // Through a pipe fed 7 bytes at a time, each piece once the reader took the last: every line
  // is read while incomplete, its blanks first.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::atomic<bool> done{false};
  std::thread writer([&input, &done, fd = fds[1]] {
    for (std::size_t at = 0; at < input.size() && !done.load();) {
      const ssize_t w = ::write(fd, input.data() + at, std::min<std::size_t>(7, input.size() - at));
      if (w <= 0) break;
      at += static_cast<std::size_t>(w);
      int queued = 1;
      while (!done.load() && ::ioctl(fd, FIONREAD, &queued) == 0 && queued > 0) std::this_thread::yield();
    }
    ::close(fd);
  });
  std::vector<std::string> trickled;
  try {
    sincehash::record_reader reader(fds[0], 1000, 17);
    std::vector<sincehash::input_record> batch;
    while (reader.next_batch(batch)) {
      for (const auto& rec : batch) trickled.emplace_back(rec.bytes);
    }
  } catch (const sincehash::error& e) {
    FAIL_CHECK("read in pieces: " << e.what());
  }
  done.store(true);
  ::close(fds[0]);
  writer.join();
  CHECK(trickled == expect);
  // A record one byte over is refused, with its indentation or without.
  CHECK(error_offset("{\"id\":1}\n   {\"id\":10000000000}\n", 1000, 17) == 9);
  // White space is bounded too (the limit plus as much again, at least 4 KiB), so that a line of
  // blanks cannot grow the buffer without end; past it the line is refused alike.
  const std::string blanks = "{\"id\":1}\n" + std::string(5000, ' ') + "{\"id\":2}\n";
  CHECK(error_offset(blanks, 1000, 17) == 9);
  CHECK(read_all("{\"id\":1}\n" + std::string(4000, ' ') + "{\"id\":2}\n", 1000, 17).records.size() == 2);
  try {
    (void)read_all(blanks, 1000, 17);
    FAIL("a line of 5,000 blanks was read");
  } catch (const sincehash::error& e) {
    CHECK(std::string(e.what()).find("line 2 is longer than 4113 bytes with its white space") !=
          std::string::npos);
  }
}
