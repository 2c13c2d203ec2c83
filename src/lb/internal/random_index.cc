#include "lb/internal/random_index.h"

#include <sys/random.h>

#include <chrono>
#include <cstdint>

#include "absl/numeric/int128.h"

namespace gatehouse::lb::internal {
namespace {

uint64_t SeedFromOs() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == static_cast<ssize_t>(sizeof(seed))) {
    return seed;
  }
  // No entropy yet (early boot) or no getrandom: distinct threads and runs still get distinct
  // sequences, which is all balancing needs.
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         reinterpret_cast<uintptr_t>(&seed);
}

// SplitMix64 state of the calling thread.
uint64_t& ThreadRandomState() {
  thread_local uint64_t state = SeedFromOs();
  return state;
}

}  // namespace

size_t RandomIndex(size_t count) {
  // SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
  // a counter passed through a 64-bit mixer; fast, full period, passes BigCrush.
  uint64_t& state = ThreadRandomState();
  state += 0x9e3779b97f4a7c15U;
  uint64_t z = state;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9U;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebU;
  z ^= z >> 31U;
  // Lemire's multiply-shift ("Fast random integer generation in an interval", 2019): the high
  // half of z * count lies in [0, count), without the 64-bit division a modulo costs.
  return static_cast<size_t>(absl::Uint128High64(absl::uint128(z) * count));
}

void SeedRandomIndexForTest(uint64_t seed) { ThreadRandomState() = seed; }

}  // namespace gatehouse::lb::internal
