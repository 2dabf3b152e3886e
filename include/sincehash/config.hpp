#ifndef SINCEHASH_CONFIG_HPP
#define SINCEHASH_CONFIG_HPP

// Reads a Cloud Elements polling configuration, with sincehash's own keys, into resource
// settings. Three shapes are accepted:
//   - an instance body:            {"configuration": {"event.poller.configuration": ..., ...}, ...}
//   - its configuration object:    {"event.poller.configuration": ..., "event.poller.refresh_interval": "15"}
//   - the poller object itself:    {"contacts": {"url": ..., "idField": ..., ...}}
// `event.poller.configuration` may be an object or a JSON string holding one, as Cloud Elements
// sends it. Instance-level keys belong to Cloud Elements and are accepted as they are; a resource
// object and its "sincehash" object are strict: an unknown key there is an error naming it.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sincehash/cursor.hpp"
#include "sincehash/error.hpp"
#include "sincehash/field_path.hpp"
#include "sincehash/schedule.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"

namespace sincehash {

/// The former name of `invalid_config`, which now lives in error.hpp beside `errc::config_error`
/// (its code).
using config_error [[deprecated("use sincehash::invalid_config")]] = invalid_config;

/// A whole polling configuration: one settings object per resource, by name.
struct poller_config {
  std::map<std::string, resource_settings> resources;  ///< "contacts" → its settings
  std::optional<std::chrono::seconds> poll_interval;   ///< `event.poller.refresh_interval` (minutes)

  /// The settings of `name`; throws `invalid_config` naming the resources that exist when absent.
  [[nodiscard]] const resource_settings& resource(std::string_view name) const {
    auto it = resources.find(std::string(name));
    if (it != resources.end()) return it->second;
    std::string known;
    for (const auto& [key, value] : resources) known += (known.empty() ? "" : ", ") + key;
    throw invalid_config(
        {{"/" + std::string(name), "no such resource in the poller configuration (configured: " +
                                       (known.empty() ? std::string("none") : known) + ")"}});
  }
};

namespace detail {

// Parses `text` (a JSON string's contents when `in_string`) into `out`. On failure returns the
// problem: a syntax error names its byte; a number beyond the range of a double (valid JSON that
// no double holds) names where it is, as a JSON Pointer after `prefix`.
inline std::optional<config_problem> parse_config_json(std::string_view text, const std::string& prefix,
                                                       nlohmann::json& out, bool in_string) {
  struct level {
    bool array = false;
    long index = -1;  // arrays: the element being read
    std::string key;  // objects: the member being read
  };
  std::vector<level> path;
  const auto element = [&path] {  // a value starts: in an array, it is the next element
    if (!path.empty() && path.back().array) ++path.back().index;
  };
  using event = nlohmann::json::parse_event_t;
  const nlohmann::json::parser_callback_t track = [&](int, event e, nlohmann::json& parsed) {
    switch (e) {
      case event::object_start:
        element();
        path.push_back({false, -1, {}});
        break;
      case event::array_start:
        element();
        path.push_back({true, -1, {}});
        break;
      case event::object_end:
      case event::array_end:
        if (!path.empty()) path.pop_back();
        break;
      case event::key:
        if (!path.empty()) path.back().key = parsed.get<std::string>();
        break;
      case event::value:
        element();
        break;
    }
    return true;
  };
  try {
    out = nlohmann::json::parse(text.begin(), text.end(), track);
    return std::nullopt;
  } catch (const nlohmann::json::parse_error& e) {
    const std::string byte = std::to_string(e.byte);
    return config_problem{prefix,
                          (in_string ? "the string is not valid JSON (byte " + byte + " of the string): "
                                     : "not valid JSON at byte " + byte + ": ") +
                              e.what()};
  } catch (const nlohmann::json::exception& e) {
    // The value that failed is the next one at the innermost level.
    std::string where = prefix;
    for (std::size_t i = 0; i < path.size(); ++i) {
      where += '/';
      if (path[i].array) {
        where += std::to_string(path[i].index + (i + 1 == path.size() ? 1 : 0));
      } else {
        for (const char c : path[i].key)
          where += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
      }
    }
    std::string message = e.what();
    if (e.id == 406) {  // number overflow parsing 'LITERAL'
      const std::size_t open = message.find('\'');
      const std::size_t close = message.rfind('\'');
      const std::string literal = open != std::string::npos && close > open
                                      ? message.substr(open + 1, close - open - 1)
                                      : std::string();
      return config_problem{where, "the number " + literal +
                                       " is too large (beyond the range of a double, so it cannot be read)"};
    }
    return config_problem{where,
                          (in_string ? "the string is not valid JSON: " : "not valid JSON: ") + message};
  }
}

class config_reader {
 public:
  poller_config read(const nlohmann::json& doc) {
    poller_config out;
    if (!doc.is_object()) {
      add("", "the configuration must be a JSON object");
      finish();
    }
    if (auto it = doc.find("configuration"); it != doc.end()) {
      if (!it->is_object()) {
        add("/configuration", "must be an object");
      } else {
        read_instance_configuration(*it, "/configuration", out);
      }
    } else if (doc.contains("event.poller.configuration")) {
      read_instance_configuration(doc, "", out);
    } else {
      read_poller(doc, "", out);
    }
    finish();
    for (auto& entry : out.resources) entry.second.poll_interval = out.poll_interval;
    return out;
  }

 private:
  std::vector<config_problem> problems_;

  void add(std::string where, std::string reason, bool unknown = false) {
    problems_.push_back({std::move(where), std::move(reason), unknown});
  }

  void finish() {
    if (problems_.empty()) return;
    std::stable_partition(problems_.begin(), problems_.end(),
                          [](const config_problem& p) { return p.unknown_key; });
    throw invalid_config(std::move(problems_));
  }

  static std::string at(const std::string& where, std::string_view key) {
    return where + "/" + pointer_token(key);
  }

  void read_instance_configuration(const nlohmann::json& conf, const std::string& where, poller_config& out) {
    if (auto it = conf.find("event.poller.refresh_interval"); it != conf.end()) {
      out.poll_interval = read_minutes(*it, at(where, "event.poller.refresh_interval"));
    }
    auto it = conf.find("event.poller.configuration");
    const std::string pwhere = at(where, "event.poller.configuration");
    if (it == conf.end()) {
      add(pwhere, "missing: the poller configuration is required");
      return;
    }
    if (it->is_string()) {
      const auto& text = it->get_ref<const std::string&>();
      nlohmann::json parsed;
      if (auto problem = parse_config_json(text, pwhere, parsed, true)) {
        add(std::move(problem->where), std::move(problem->reason));
        return;
      }
      read_poller(parsed, pwhere, out);
    } else {
      read_poller(*it, pwhere, out);
    }
  }

  std::optional<std::chrono::seconds> read_minutes(const nlohmann::json& v, const std::string& where) {
    long long minutes = -1;
    if (v.is_number_integer()) {
      minutes = v.get<long long>();
    } else if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (!s.empty() && s.size() < 10 &&
          std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        minutes = std::stoll(s);
    }
    if (minutes <= 0) {
      add(where, "must be a positive whole number of minutes, e.g. \"15\"");
      return std::nullopt;
    }
    return std::chrono::seconds(minutes * 60);
  }

  void read_poller(const nlohmann::json& poller, const std::string& where, poller_config& out) {
    if (!poller.is_object()) {
      add(where, "the poller configuration must be an object of resources");
      return;
    }
    if (poller.empty()) add(where, "the poller configuration names no resource");
    for (const auto& [name, body] : poller.items()) {
      resource_settings settings;
      settings.name = name;
      if (read_resource(body, at(where, name), settings)) out.resources.emplace(name, std::move(settings));
    }
  }

  bool check_keys(const nlohmann::json& obj, const std::string& where,
                  std::initializer_list<std::string_view> known) {
    bool ok = true;
    for (const auto& [key, value] : obj.items()) {
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      add(at(where, key), "unknown key \"" + key + "\" (known here: " + list + ")", true);
      ok = false;
    }
    return ok;
  }

  const std::string* string_at(const nlohmann::json& obj, std::string_view key, const std::string& where,
                               bool required) {
    auto it = obj.find(std::string(key));
    if (it == obj.end()) {
      if (required) add(at(where, key), "missing: required");
      return nullptr;
    }
    if (!it->is_string()) {
      add(at(where, key), std::string("must be a string, not ") + it->type_name());
      return nullptr;
    }
    return &it->get_ref<const std::string&>();
  }

  std::optional<field_path> path_at(const nlohmann::json& obj, std::string_view key, const std::string& where,
                                    bool required) {
    const std::string* text = string_at(obj, key, where, required);
    if (text == nullptr) return std::nullopt;
    auto path = field_path::parse(*text);
    if (!path) {
      add(at(where, key), "bad field path \"" + *text + "\": " + path.error().describe());
      return std::nullopt;
    }
    return std::move(*path);
  }

  std::optional<date_field> date_at(const nlohmann::json& dates, std::string_view prefix,
                                    const std::string& where) {
    const std::string field_key = std::string(prefix) + "DateField";
    const std::string format_key = std::string(prefix) + "DateFormat";
    const std::string zone_key = std::string(prefix) + "DateTimezone";
    auto path = path_at(dates, field_key, where, false);
    const std::string* format = string_at(dates, format_key, where, false);
    const std::string* zone_name = string_at(dates, zone_key, where, false);
    if (!path) {
      if (format != nullptr || zone_name != nullptr)
        add(at(where, field_key),
            "missing: " + format_key + " or " + zone_key + " is given without the field");
      return std::nullopt;
    }
    time_zone zone = time_zone::utc();
    if (zone_name != nullptr) {
      auto z = time_zone::locate(*zone_name);
      if (!z) {
        add(at(where, zone_key), "unknown time zone \"" + *zone_name + "\": " + z.error().message);
        return std::nullopt;
      }
      zone = std::move(*z);
    }
    auto f = date_format::compile(format != nullptr ? *format : std::string(), zone);
    if (!f) {
      add(at(where, format_key), "bad date format \"" + *format + "\": " + f.error().describe());
      return std::nullopt;
    }
    return date_field{std::move(*path), std::move(*f)};
  }

  std::vector<std::string> string_list(const nlohmann::json& obj, std::string_view key,
                                       const std::string& where) {
    std::vector<std::string> out;
    auto it = obj.find(std::string(key));
    if (it == obj.end()) return out;
    if (!it->is_array()) {
      add(at(where, key), "must be an array of field paths");
      return out;
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& v = (*it)[i];
      if (!v.is_string()) {
        add(at(where, key) + "/" + std::to_string(i), "must be a string field path");
        continue;
      }
      out.push_back(v.get<std::string>());
    }
    auto compiled = compile_paths(out);
    if (!compiled) add(at(where, key), compiled.error().message);
    return out;
  }

  // `also` completes the list of what is accepted, in the error message.
  std::optional<std::chrono::nanoseconds> duration_at(const nlohmann::json& obj, std::string_view key,
                                                      const std::string& where, std::string_view also = {}) {
    auto it = obj.find(std::string(key));
    if (it == obj.end()) return std::nullopt;
    if (it->is_number_integer() && it->get<long long>() >= 0)
      return std::chrono::seconds(it->get<long long>());
    if (it->is_string()) {
      auto d = parse_duration(it->get_ref<const std::string&>());
      if (d) return *d;
      add(at(where, key), "bad duration \"" + it->get<std::string>() + "\": " + d.error().message +
                              " (use ISO 8601 such as \"P30D\", \"PT5M\", or whole seconds" +
                              std::string(also) + ")");
      return std::nullopt;
    }
    add(at(where, key), "must be an ISO 8601 duration string such as \"PT5M\" or a whole number of seconds" +
                            std::string(also));
    return std::nullopt;
  }

  void bool_at(const nlohmann::json& obj, std::string_view key, const std::string& where, bool& target) {
    auto it = obj.find(std::string(key));
    if (it == obj.end()) return;
    if (!it->is_boolean()) {
      add(at(where, key), "must be true or false");
      return;
    }
    target = it->get<bool>();
  }

  bool read_resource(const nlohmann::json& body, const std::string& where, resource_settings& s) {
    if (!body.is_object()) {
      add(where, "a resource must be an object with at least \"idField\"");
      return false;
    }
    const std::size_t before = problems_.size();
    check_keys(body, where, {"url", "idField", "datesConfiguration", "validationData", "sincehash"});
    s.cursor = peek_cursor(body);  // a bad value is reported by read_own
    const bool dated = s.cursor == cursor_kind::instant;
    if (const std::string* url = string_at(body, "url", where, false)) {
      s.url = *url;
      auto probe = dated ? expand_since_placeholder(s.url, "0") : expand_cursor_url_template(s.url, "0");
      if (probe && dated) probe = expand_url_template(*probe, instant{});
      if (!probe) add(at(where, "url"), "bad URL template: " + probe.error().describe() + cursor_note(s));
    }
    if (auto id = path_at(body, "idField", where, true)) s.id_field = std::move(*id);

    if (auto it = body.find("datesConfiguration"); it != body.end()) {
      const std::string dwhere = at(where, "datesConfiguration");
      if (!it->is_object()) {
        add(dwhere, "must be an object");
      } else {
        check_keys(*it, dwhere,
                   {"updatedDateField", "updatedDateFormat", "updatedDateTimezone", "createdDateField",
                    "createdDateFormat", "createdDateTimezone"});
        if (!dated) {
          for (const char* key : {"updatedDateFormat", "updatedDateTimezone", "createdDateField",
                                  "createdDateFormat", "createdDateTimezone"}) {
            if (it->contains(key))
              add(at(dwhere, key), "a date setting needs an instant cursor" + cursor_note(s));
          }
        }
        s.updated = date_at(*it, "updated", dwhere);
        if (dated) s.created = date_at(*it, "created", dwhere);
      }
    }
    if (auto it = body.find("validationData"); it != body.end()) {
      const std::string vwhere = at(where, "validationData");
      if (!it->is_object()) {
        add(vwhere, "must be an object with \"fields\"");
      } else {
        check_keys(*it, vwhere, {"fields"});
        if (!it->contains("fields"))
          add(at(vwhere, "fields"), "missing: the watched field paths are required");
        s.watched = string_list(*it, "fields", vwhere);
      }
    }
    if (auto it = body.find("sincehash"); it != body.end()) read_own(*it, at(where, "sincehash"), s);
    if (s.report_changes && s.watched.empty())
      add(at(at(where, "sincehash"), "reportChanges"),
          "needs watched fields (\"validationData\": {\"fields\": [...]}): the whole-record hash has no "
          "fields to name");
    if (problems_.size() == before) check_hashing(s, where);
    return problems_.size() == before;
  }

  // What only the lists together can get wrong (a watched path inside another, an ignored path
  // holding a watched one, two spellings of one normalize path), placed in the document.
  void check_hashing(const resource_settings& s, const std::string& where) {
    hasher_settings h;
    h.watched = s.watched;
    h.ignored = s.ignored;
    h.normalize = s.normalize;
    for (const config_problem& p : hasher_settings_problems(h)) {
      std::string place = where;
      if (p.where.rfind("/watched", 0) == 0) {
        place = at(at(where, "validationData"), "fields") + p.where.substr(8);
      } else if (p.where.rfind("/ignored", 0) == 0) {
        place = at(at(where, "sincehash"), "ignoreFields") + p.where.substr(8);
      } else if (p.where.rfind("/normalize", 0) == 0) {
        place = at(where, "sincehash") + p.where;
      }
      add(place, p.reason);
    }
  }

  // The cursor kind a resource body asks for; instant when absent or bad (read_own reports it).
  static cursor_kind peek_cursor(const nlohmann::json& body) {
    auto own = body.find("sincehash");
    if (own == body.end() || !own->is_object()) return cursor_kind::instant;
    auto it = own->find("cursor");
    if (it == own->end() || !it->is_string()) return cursor_kind::instant;
    return cursor_kind_from(it->get_ref<const std::string&>()).value_or(cursor_kind::instant);
  }

  // Why a date-only setting is refused: the cursor configured.
  static std::string cursor_note(const resource_settings& s) {
    if (s.cursor == cursor_kind::instant) return std::string();
    return std::string(" (the cursor is \"") + to_string(s.cursor) + "\")";
  }

  void read_own(const nlohmann::json& own, const std::string& where, resource_settings& s) {
    if (!own.is_object()) {
      add(where, "must be an object");
      return;
    }
    check_keys(own, where,
               {"cursor", "ttl", "lookback", "maxFutureSkew", "chronological", "detectDeletes", "strict",
                "rescan", "initialSince", "ignoreFields", "normalize", "reportChanges"});
    if (auto it = own.find("cursor"); it != own.end()) {
      const auto kind = it->is_string() ? cursor_kind_from(it->get_ref<const std::string&>()) : std::nullopt;
      if (!kind) add(at(where, "cursor"), "must be \"instant\", \"integer\" or \"string\"");
    }
    s.ttl = duration_at(own, "ttl", where);
    if (s.ttl && s.ttl->count() == 0)
      add(at(where, "ttl"), "must be longer than zero (leave it out for no expiry)");
    if (auto it = own.find("lookback"); it != own.end()) {
      if (s.cursor == cursor_kind::instant) {
        s.lookback = duration_at(own, "lookback", where);
      } else if (s.cursor == cursor_kind::integer && it->is_number_unsigned() &&
                 it->get<std::uint64_t>() <=
                     static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        s.integer_lookback = static_cast<std::int64_t>(it->get<std::uint64_t>());
      } else if (s.cursor == cursor_kind::integer) {
        add(at(where, "lookback"),
            "with an integer cursor, must be a whole non-negative number to subtract from it" +
                cursor_note(s));
      } else {
        add(at(where, "lookback"), "a string cursor takes no lookback" + cursor_note(s));
      }
    }
    if (auto it = own.find("maxFutureSkew"); it != own.end()) {  // absent: the default (15 minutes)
      if (s.cursor != cursor_kind::instant) {
        add(at(where, "maxFutureSkew"), "applies only to an instant cursor" + cursor_note(s));
      } else if (it->is_string() && it->get_ref<const std::string&>() == "none") {
        s.max_future_skew.reset();
      } else {
        s.max_future_skew = duration_at(own, "maxFutureSkew", where, ", or \"none\" to turn the guard off");
      }
    }
    bool_at(own, "chronological", where, s.chronological);
    bool_at(own, "detectDeletes", where, s.detect_deletes);
    bool_at(own, "strict", where, s.strict);
    bool_at(own, "reportChanges", where, s.report_changes);
    if (const std::string* rescan = string_at(own, "rescan", where, false)) {
      auto sched = rescan_schedule::parse(*rescan);
      if (!sched) {
        add(at(where, "rescan"), "bad schedule \"" + *rescan + "\": " + sched.error().describe());
      } else {
        s.rescan.emplace(std::move(*sched));
        s.rescan_text = *rescan;
      }
    }
    if (const std::string* initial = string_at(own, "initialSince", where, false)) {
      if (s.cursor == cursor_kind::instant) {
        auto t = parse_iso8601(*initial);
        if (!t) {
          add(at(where, "initialSince"), "must be an ISO 8601 date with an offset: " + t.error().describe());
        } else {
          s.initial_since = *initial;
        }
      } else if (s.cursor == cursor_kind::integer) {
        auto n = parse_cursor_integer(*initial);
        if (!n) {
          add(at(where, "initialSince"),
              "with an integer cursor, must be a decimal integer: " + n.error().message);
        } else {
          s.initial_since = *initial;
        }
      } else {
        s.initial_since = *initial;
      }
    }
    s.ignored = string_list(own, "ignoreFields", where);
    if (auto it = own.find("normalize"); it != own.end()) {
      const std::string nwhere = at(where, "normalize");
      if (!it->is_object()) {
        add(nwhere, "must be an object: field path → list of \"trim\", \"lower\", \"instant\"");
        return;
      }
      for (const auto& [path, list] : it->items()) {
        const std::string pwhere = at(nwhere, path);
        if (auto p = field_path::parse(path); !p) add(pwhere, "bad field path: " + p.error().describe());
        if (!list.is_array()) {
          add(pwhere, "must be an array of \"trim\", \"lower\", \"instant\"");
          continue;
        }
        std::vector<normalizer> steps;
        for (std::size_t i = 0; i < list.size(); ++i) {
          const auto& v = list[i];
          const std::string name = v.is_string() ? v.get<std::string>() : std::string();
          if (name == "trim") {
            steps.push_back(normalizer::trim);
          } else if (name == "lower") {
            steps.push_back(normalizer::lower);
          } else if (name == "instant") {
            steps.push_back(normalizer::instant);
          } else {
            add(pwhere + "/" + std::to_string(i), "unknown normalizer (known: trim, lower, instant)", true);
          }
        }
        s.normalize[path] = std::move(steps);
      }
    }
  }
};

}  // namespace detail

/// The partition key of an (instance, resource) pair: `INSTANCE/RESOURCE`, with '%' in either
/// name written as "%25" and '/' as "%2F". Distinct pairs never share a key, and a pair whose
/// names hold neither character keeps its plain key (`default/contacts`), as before escaping.
[[nodiscard]] inline std::string partition_key(std::string_view instance, std::string_view resource) {
  std::string key;
  key.reserve(instance.size() + resource.size() + 1);
  const auto put = [&key](std::string_view name) {
    for (const char c : name) {
      if (c == '%') {
        key += "%25";
      } else if (c == '/') {
        key += "%2F";
      } else {
        key += c;
      }
    }
  };
  put(instance);
  key += '/';
  put(resource);
  return key;
}

/// The (instance, resource) pair whose `partition_key` is `key`; nullopt when no pair has it.
[[nodiscard]] inline std::optional<std::pair<std::string, std::string>> split_partition_key(
    std::string_view key) {
  const std::size_t slash = key.find('/');
  if (slash == std::string_view::npos || key.find('/', slash + 1) != std::string_view::npos)
    return std::nullopt;
  const auto get = [](std::string_view part, std::string& name) {
    for (std::size_t i = 0; i < part.size(); ++i) {
      if (part[i] != '%') {
        name += part[i];
      } else if (part.substr(i, 3) == "%25") {
        name += '%';
        i += 2;
      } else if (part.substr(i, 3) == "%2F") {
        name += '/';
        i += 2;
      } else {
        return false;
      }
    }
    return true;
  };
  std::pair<std::string, std::string> out;
  if (!get(key.substr(0, slash), out.first) || !get(key.substr(slash + 1), out.second)) return std::nullopt;
  return out;
}

/// Reads a configuration document. Throws `config_error` listing every problem (unknown keys
/// first) when anything is wrong; never returns a partially read configuration.
[[nodiscard]] inline poller_config read_config(const nlohmann::json& document) {
  return detail::config_reader{}.read(document);
}

/// Reads a configuration from JSON text; a syntax error is a `config_error` naming its byte, and
/// a number too large for a double one naming where it is.
[[nodiscard]] inline poller_config read_config_text(std::string_view json_text) {
  nlohmann::json doc;
  if (auto problem = detail::parse_config_json(json_text, "", doc, false))
    throw invalid_config({std::move(*problem)});
  return read_config(doc);
}

}  // namespace sincehash

#endif  // SINCEHASH_CONFIG_HPP
