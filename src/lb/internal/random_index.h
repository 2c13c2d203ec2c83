// The balancers' source of random offsets and samples: one generator per thread (SplitMix64,
// seeded once per thread from getrandom(2)), so the pick path shares no state and takes no lock.
// It gives spread, not secrecy. Only the balancers use it.
#ifndef GATEHOUSE_LB_INTERNAL_RANDOM_INDEX_H_
#define GATEHOUSE_LB_INTERNAL_RANDOM_INDEX_H_

#include <cstddef>
#include <cstdint>

namespace gatehouse::lb::internal {

// A uniform index below `count` (> 0); the bias is below `count` / 2^64.
size_t RandomIndex(size_t count);
// Reseeds the calling thread's generator, so a single-threaded test sees a fixed sequence.
void SeedRandomIndexForTest(uint64_t seed);

}  // namespace gatehouse::lb::internal

#endif  // GATEHOUSE_LB_INTERNAL_RANDOM_INDEX_H_
