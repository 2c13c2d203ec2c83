// Deterministic test traffic: a byte stream fully defined by a seed, so a receiver can check
// every byte it gets (order, loss, duplication, corruption) without keeping a copy.
#ifndef GATEHOUSE_TESTS_TESTING_BYTE_PATTERN_H_
#define GATEHOUSE_TESTS_TESTING_BYTE_PATTERN_H_

#include <cstddef>
#include <cstdint>

namespace gatehouse::testing {

// The byte at `offset` of the stream for `seed`.
uint8_t PatternByte(uint64_t seed, uint64_t offset);

// Fills `size` bytes at `data` with the stream for `seed` from `offset`.
void FillPattern(uint64_t seed, uint64_t offset, uint8_t* data, size_t size);

// Checks received chunks against the stream for `seed`, in order.
class PatternChecker {
 public:
  explicit PatternChecker(uint64_t seed) : seed_(seed) {}
  // False (and false for ever after) at the first byte that differs.
  bool Check(const uint8_t* data, size_t size);
  uint64_t checked() const { return offset_; }
  bool ok() const { return ok_; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  bool ok_ = true;
};

// Blocking socket helpers. ReadAndVerify reads to end-of-stream and returns the byte count,
// -1 at the first wrong byte, -2 on a read error. WritePattern writes `total` bytes in writes
// of `write_size`; false on a write error.
int64_t ReadAndVerify(int fd, uint64_t seed);
bool WritePattern(int fd, uint64_t seed, uint64_t total, size_t write_size);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_BYTE_PATTERN_H_
