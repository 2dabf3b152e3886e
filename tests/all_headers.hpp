// Everything sincehash offers in this build: the umbrella plus each optional back end present.
#include <sincehash/sincehash.hpp>
#ifdef SINCEHASH_HAS_SQLITE
#include <sincehash/store/sqlite.hpp>
#endif
#ifdef SINCEHASH_HAS_REDIS
#include <sincehash/store/redis.hpp>
#endif
#ifdef SINCEHASH_HAS_POSTGRES
#include <sincehash/store/postgres.hpp>
#endif
#ifdef SINCEHASH_HAS_SIMDJSON
#include <sincehash/access_simdjson.hpp>
#endif
#ifdef SINCEHASH_HAS_SODIUM
#include <sincehash/sodium.hpp>
#include <sincehash/store/encrypted.hpp>
#endif
