#include "lb/maglev_table.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "base/status_macros.h"

namespace gatehouse::lb {
namespace {

constexpr size_t kMinimumSize = 65'537;
constexpr size_t kSlotsPerMember = 100;
// Seeds of the two independent hashes of a member's name: its first slot and its stride.
constexpr uint64_t kOffsetSeed = 0x6f66667365740001;
constexpr uint64_t kSkipSeed = 0x736b697000000002;

bool IsPrime(size_t n) {
  if (n < 2) return false;
  for (size_t divisor = 2; divisor * divisor <= n; ++divisor) {
    if (n % divisor == 0) return false;
  }
  return true;
}

}  // namespace

uint64_t StableHash(absl::string_view bytes, uint64_t seed) {
  constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325;
  constexpr uint64_t kFnvPrime = 0x100000001b3;
  uint64_t hash = kFnvOffsetBasis ^ seed;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  // FNV-1a's low bits, which `key % size` uses, depend weakly on the last bytes; the finalizer
  // makes every output bit depend on every input bit.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccd;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53;
  hash ^= hash >> 33;
  return hash;
}

size_t MaglevTable::SizeFor(size_t members) {
  GH_CHECK(members <= std::numeric_limits<uint32_t>::max() / kSlotsPerMember);
  size_t size = members * kSlotsPerMember;
  if (size <= kMinimumSize) return kMinimumSize;
  while (!IsPrime(size)) ++size;
  return size;
}

MaglevTable::MaglevTable(absl::Span<const std::string> member_names) {
  const size_t members = member_names.size();
  if (members == 0) return;
  const size_t size = SizeFor(members);
  // Member i's permutation visits slot (offset[i] + j × skip[i]) % size for j = 0, 1, ...: every
  // slot exactly once, since size is prime and 0 < skip < size. `position[i]` is its next one.
  std::vector<uint64_t> position(members);
  std::vector<uint64_t> skip(members);
  for (size_t i = 0; i < members; ++i) {
    position[i] = StableHash(member_names[i], kOffsetSeed) % size;
    skip[i] = StableHash(member_names[i], kSkipSeed) % (size - 1) + 1;
  }
  // Turns go in name order, so that the table depends on the set of names, not on the order
  // the configuration lists them in.
  std::vector<size_t> turn_order(members);
  std::iota(turn_order.begin(), turn_order.end(), 0);
  std::sort(turn_order.begin(), turn_order.end(),
            [&](size_t a, size_t b) { return member_names[a] < member_names[b]; });
  constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();
  slots_.assign(size, kEmpty);
  size_t filled = 0;
  // Ends: every turn fills one empty slot, and a member's permutation reaches every slot.
  while (true) {
    for (const size_t i : turn_order) {
      while (slots_[position[i]] != kEmpty) position[i] = (position[i] + skip[i]) % size;
      slots_[position[i]] = static_cast<uint32_t>(i);
      position[i] = (position[i] + skip[i]) % size;
      if (++filled == size) return;
    }
  }
}

}  // namespace gatehouse::lb
