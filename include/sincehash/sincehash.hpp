#ifndef SINCEHASH_SINCEHASH_HPP
#define SINCEHASH_SINCEHASH_HPP

// The umbrella header: includes every component that needs no optional dependency.
// Back ends with their own dependency (store/sqlite.hpp, store/redis.hpp, ...) are included
// separately, together with their CMake target (sincehash::sqlite, ...).

#include "sincehash/access.hpp"
#include "sincehash/digest.hpp"
#include "sincehash/error.hpp"
#include "sincehash/field_path.hpp"
#include "sincehash/hasher.hpp"
#include "sincehash/time.hpp"
#include "sincehash/time_pattern.hpp"
#include "sincehash/store.hpp"
#include "sincehash/store/memory.hpp"
#include "sincehash/version.hpp"

#endif  // SINCEHASH_SINCEHASH_HPP
