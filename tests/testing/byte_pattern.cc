#include "testing/byte_pattern.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "testing/loopback_server.h"

namespace gatehouse::testing {

uint8_t PatternByte(uint64_t seed, uint64_t offset) {
  // A SplitMix64-style mix of (seed, offset / 8), one output byte per offset.
  uint64_t x = seed ^ (offset / 8 + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((offset % 8) * 8));
}

void FillPattern(uint64_t seed, uint64_t offset, uint8_t* data, size_t size) {
  for (size_t i = 0; i < size; ++i) data[i] = PatternByte(seed, offset + i);
}

bool PatternChecker::Check(const uint8_t* data, size_t size) {
  for (size_t i = 0; ok_ && i < size; ++i, ++offset_) {
    ok_ = data[i] == PatternByte(seed_, offset_);
  }
  return ok_;
}

int64_t ReadAndVerify(int fd, uint64_t seed) {
  std::vector<uint8_t> buffer(size_t{128} * 1024);
  PatternChecker checker(seed);
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -2;
    if (n == 0) return static_cast<int64_t>(checker.checked());
    if (!checker.Check(buffer.data(), static_cast<size_t>(n))) return -1;
  }
}

bool WritePattern(int fd, uint64_t seed, uint64_t total, size_t write_size) {
  std::vector<uint8_t> buffer(write_size);
  for (uint64_t offset = 0; offset < total;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(write_size, total - offset));
    FillPattern(seed, offset, buffer.data(), n);
    if (!WriteAll(fd, buffer.data(), n)) return false;
    offset += n;
  }
  return true;
}

}  // namespace gatehouse::testing
