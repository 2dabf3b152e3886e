// libFuzzer target for field paths: any text either parses or is refused with an error, never a
// crash; a parsed path re-parses from its canonical JSON Pointer form to an equal path, and
// `contains` agrees with itself.
// Run: ./fuzz_field_path -max_total_time=60 ../../tests/fuzz/corpus/field_path
#include <sincehash/field_path.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t split = text.find('\n');
  const std::string_view first = text.substr(0, split);
  const auto a = sincehash::field_path::parse(first);
  if (!a) {
    require(!a.error().message.empty());
    return 0;
  }
  const auto again = sincehash::field_path::parse(a->canonical());
  require(again.has_value() && *again == *a && again->canonical() == a->canonical());
  require(a->contains(*a));
  if (split != std::string_view::npos) {
    const auto b = sincehash::field_path::parse(text.substr(split + 1));
    if (b) {
      if (a->contains(*b) && b->contains(*a)) require(*a == *b);
      require((*a < *b) + (*b < *a) + (*a == *b) == 1);
    }
  }
  return 0;
}
