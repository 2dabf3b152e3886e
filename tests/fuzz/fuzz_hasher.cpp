// Random bytes through both document-access policies, under several hasher configurations: no
// input crashes, hangs or leaks either of them, and whenever both accept a record they report
// the same digest, the same canonical message and the same extracted values.
// Run: ./fuzz_hasher -max_total_time=60 ../../tests/fuzz/corpus/hasher
#include <sincehash/access_simdjson.hpp>
#include <sincehash/hasher.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sincehash::field_hasher;
using sincehash::hasher_settings;

sincehash::field_path path(const char* text) { return sincehash::field_path::parse(text).value(); }

std::vector<hasher_settings> configurations() {
  std::vector<hasher_settings> out;
  hasher_settings watched;
  watched.watched = {"a", "b.c", "items[0]", "/d~1e", "\xc3\xa9"};
  watched.extract = {path("id"), path("a"), path("b.c"), path("items.1")};
  out.push_back(watched);
  hasher_settings whole;
  whole.ignored = {"x", "b.c", "items[1]"};
  whole.normalize["a"] = {sincehash::normalizer::trim, sincehash::normalizer::lower};
  whole.normalize["b"] = {sincehash::normalizer::instant};
  whole.extract = {path("id"), path("b")};
  out.push_back(whole);
  return out;
}

template <class A, class B>
void compare(A& a, B& b, std::string_view input) {
  auto ra = a.read(input);
  auto rb = b.read(input);
  if (!ra || !rb) return;
  if (ra->hash != rb->hash || a.last_message() != b.last_message() || ra->extra_count != rb->extra_count) {
    std::fprintf(stderr, "digests differ\n");
    std::abort();
  }
  for (std::size_t i = 0; i < ra->extra_count; ++i) {
    if (ra->extra(i).kind != rb->extra(i).kind || ra->extra(i).text != rb->extra(i).text) {
      std::fprintf(stderr, "extra %zu differs\n", i);
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<hasher_settings> settings = configurations();
  static std::vector<field_hasher<sincehash::xxh3_64>> nl(settings.begin(), settings.end());
  static std::vector<field_hasher<sincehash::xxh3_64, sincehash::simdjson_access>> sj(settings.begin(),
                                                                                      settings.end());
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (std::size_t i = 0; i < settings.size(); ++i) compare(nl[i], sj[i], input);
  return 0;
}
