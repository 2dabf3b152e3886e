#ifndef SINCEHASH_DETAIL_XXHASH_HPP
#define SINCEHASH_DETAIL_XXHASH_HPP

// xxHash, used header-only: every function is static inline in the including translation unit,
// so sincehash needs no compiled xxHash library and cannot clash with one the program links.
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#define SINCEHASH_DEFINED_XXH_INLINE_ALL
#endif
#include <xxhash.h>
#ifdef SINCEHASH_DEFINED_XXH_INLINE_ALL
#undef XXH_INLINE_ALL
#undef SINCEHASH_DEFINED_XXH_INLINE_ALL
#endif

#endif  // SINCEHASH_DETAIL_XXHASH_HPP
