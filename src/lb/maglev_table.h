// MaglevTable: the lookup table of Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast
// and Reliable Software Network Load Balancer", NSDI 2016). Each of `size` slots names one of
// the members; a key's member is the one in slot `key % size`.
//
// Every member fills slots in the order of its own permutation of the table (an offset and a
// skip derived from a hash of its name), the members taking turns in name order, so each gets
// ~size/N slots and the table depends only on the set of member names. When one of N members
// leaves, its slots go to the others and only a few more slots change hands: about 1/N of the keys
// move. The size is a prime at least 100 × N (65,537 for up to 655 members), so that the members'
// shares differ by at most ~1 %.
//
// Hashes are fixed (no per-process seed): every node and every restart builds the same table
// from the same member list, so a key sticks to the same member across nodes behind one VIP.
//
// Immutable once built: any number of threads may read it without a lock.
#ifndef GATEHOUSE_LB_MAGLEV_TABLE_H_
#define GATEHOUSE_LB_MAGLEV_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace gatehouse::lb {

// A fixed 64-bit hash of `bytes` (FNV-1a, then the MurmurHash3 finalizer to spread its bits),
// the same in every process. `seed` gives independent hashes of the same bytes.
uint64_t StableHash(absl::string_view bytes, uint64_t seed = 0);

class MaglevTable {
 public:
  // The smallest table size for `members`: 65,537, or the first prime at least 100 × members.
  static size_t SizeFor(size_t members);

  // A table over `member_names` (may be empty: then `MemberOf()` must not be called). Names
  // should differ: equal names get the same permutation and share their slots unevenly.
  explicit MaglevTable(absl::Span<const std::string> member_names);

  // The index (into the names given) of the member at `slot` (< size()).
  size_t MemberAt(size_t slot) const { return slots_[slot]; }
  // The slot of `key`.
  size_t SlotOf(uint64_t key) const { return static_cast<size_t>(key % slots_.size()); }
  size_t size() const { return slots_.size(); }
  bool empty() const { return slots_.empty(); }

 private:
  std::vector<uint32_t> slots_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_MAGLEV_TABLE_H_
