// libFuzzer target for the time parsers. The first byte picks what is fuzzed; the rest is input.
// Invariants: nothing crashes or hangs; whatever parses re-formats and re-parses to the same
// instant (ISO 8601, epoch numbers) or to the same text (compiled patterns).
#include <sincehash/time.hpp>
#include <sincehash/time_pattern.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void fuzz_iso(std::string_view text, std::uint8_t selector) {
  const auto r = sincehash::parse_iso8601(text);
  const auto with_default = sincehash::parse_iso8601(text, std::chrono::seconds{3600});
  if (r) require(with_default && *with_default == *r);
  if (!r) return;
  const int minutes = (static_cast<int>(selector) * 11) % (2 * 1439 + 1) - 1439;
  for (int offset : {0, minutes * 60}) {
    const std::string again = sincehash::format_rfc3339(*r, 9, std::chrono::seconds{offset});
    const auto back = sincehash::parse_iso8601(again);
    require(back.has_value() && *back == *r);
  }
}

void fuzz_epoch(std::string_view text, std::uint8_t selector) {
  const auto unit = static_cast<sincehash::epoch_unit>(selector % 4);
  const auto r = sincehash::parse_epoch(text, unit);
  if (!r) return;
  const std::int64_t ns = sincehash::to_epoch(*r, sincehash::epoch_unit::nanoseconds);
  require(*sincehash::from_epoch(ns, sincehash::epoch_unit::nanoseconds) == *r);
  const std::int64_t whole = sincehash::to_epoch(*r, unit);
  const auto floor = sincehash::parse_epoch(std::to_string(whole), unit);
  require(floor.has_value() && *floor <= *r);
}

void fuzz_duration(std::string_view text) {
  const auto r = sincehash::parse_duration(text);
  if (r) require(r->count() >= 0);
}

void fuzz_pattern(std::string_view text, std::uint8_t selector) {
  const std::size_t split = text.find('\n');
  if (split == std::string_view::npos) return;
  const std::string_view pattern = text.substr(0, split);
  const std::string_view data = text.substr(split + 1);
  const auto zone = sincehash::time_zone::fixed(std::chrono::seconds{((selector >> 1) % 9) * 1800 - 7200});
  const auto p = (selector & 1) ? sincehash::time_pattern::strftime(pattern, *zone)
                                : sincehash::time_pattern::java(pattern, *zone);
  if (!p) return;
  const auto t = p->parse(data);
  if (!t) return;
  const std::string once = p->format(*t);
  require(once.size() <= p->max_formatted_size());
  const auto t2 = p->parse(once);
  if (t2) require(p->format(*t2) == once);
}

void fuzz_zone(std::string_view bytes, std::uint8_t selector) {
  const auto z = (selector & 1) ? sincehash::time_zone::from_posix_rule(bytes)
                                : sincehash::time_zone::from_tzif("Fuzz/Zone", bytes);
  if (!z) return;
  for (std::int64_t s : {std::int64_t{-9223372036}, std::int64_t{-2208988800}, std::int64_t{0},
                         std::int64_t{1711846800}, std::int64_t{4102444800}, std::int64_t{9223372036}}) {
    const std::int32_t off = z->offset_at_seconds(s);
    require(off > -90000 && off < 94000);
    (void)z->local_to_utc(s + off);
  }
}

void fuzz_template(std::string_view text) {
  const auto r = sincehash::expand_url_template(text, sincehash::instant{std::chrono::seconds{1704103200}});
  (void)r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 4096) return 0;
  const std::uint8_t mode = data[0];
  const std::uint8_t selector = data[1];
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (mode % 6) {
    case 0:
      fuzz_iso(text, selector);
      break;
    case 1:
      fuzz_epoch(text, selector);
      break;
    case 2:
      fuzz_duration(text);
      break;
    case 3:
      fuzz_pattern(text, selector);
      break;
    case 4:
      fuzz_zone(text, selector);
      break;
    default:
      fuzz_template(text);
      break;
  }
  return 0;
}
