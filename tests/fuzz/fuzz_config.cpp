// libFuzzer target for the Cloud Elements configuration reader: any bytes either give settings
// or throw sincehash::error (a config_error listing problems that each name a key); nothing
// crashes, hangs or escapes as another exception. Every resource read builds a detector.
// Run: ./fuzz_config -max_total_time=60 ../../tests/fuzz/corpus/config
#include <sincehash/config.hpp>
#include <sincehash/detector.hpp>
#include <sincehash/store/memory.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const sincehash::poller_config config = sincehash::read_config_text(text);
    sincehash::memory_store store;
    for (const auto& entry : config.resources) {
      try {
        sincehash::change_detector<sincehash::memory_store> d(store, "fuzz/" + entry.first, entry.second);
        (void)d.since();
        (void)d.since_url();
      } catch (const sincehash::error& e) {
        require(e.code() == sincehash::errc::config_error);
      }
    }
  } catch (const sincehash::invalid_config& e) {
    require(!e.problems().empty());
    for (const auto& p : e.problems()) require(!p.describe().empty());
  } catch (const sincehash::error& e) {
    require(e.code() != sincehash::errc::ok);
  }
  return 0;
}
