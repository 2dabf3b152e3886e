#ifndef SINCEHASH_SINCEHASH_HPP
#define SINCEHASH_SINCEHASH_HPP

// The umbrella header: includes every component that needs no optional dependency.
// Back ends with their own dependency (store/sqlite.hpp, access_simdjson.hpp, ...) are included
// separately, together with their CMake target (sincehash::sqlite, sincehash::simdjson, ...).

#include "sincehash/access.hpp"
#include "sincehash/config.hpp"
#include "sincehash/cursor.hpp"
#include "sincehash/detector.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/event_json.hpp"
#include "sincehash/field_path.hpp"
#include "sincehash/hasher.hpp"
#include "sincehash/input.hpp"
#include "sincehash/offset.hpp"
#include "sincehash/record.hpp"
#include "sincehash/schedule.hpp"
#include "sincehash/settings.hpp"
#include "sincehash/since.hpp"
#include "sincehash/store.hpp"
#include "sincehash/store/lease.hpp"
#include "sincehash/store/memory.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"
#include "sincehash/version.hpp"

#endif  // SINCEHASH_SINCEHASH_HPP
