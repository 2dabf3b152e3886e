// Everything sincehash offers in this build: the umbrella plus each optional back end present.
#include <sincehash/sincehash.hpp>
