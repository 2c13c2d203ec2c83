#include "lb/maglev_table.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gatehouse::lb {
namespace {

std::vector<std::string> Names(size_t count) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(absl::StrCat("10.0.0.", i + 1, ":8080"));
  return names;
}

std::vector<size_t> SlotCounts(const MaglevTable& table, size_t members) {
  std::vector<size_t> counts(members, 0);
  for (size_t slot = 0; slot < table.size(); ++slot) ++counts.at(table.MemberAt(slot));
  return counts;
}

TEST(StableHashTest, IsTheSameInEveryProcessAndDependsOnEveryByteAndTheSeed) {
  // Fixed values (FNV-1a 64 then MurmurHash3's fmix64, computed independently): a table built on
  // another node or after a restart must be the same.
  EXPECT_EQ(StableHash("alice"), 0x3507d047a67c08f4ULL);
  EXPECT_EQ(StableHash(""), 0xefd01f60ba992926ULL);
  EXPECT_NE(StableHash("alice"), StableHash("alicf"));
  EXPECT_NE(StableHash("alice"), StableHash("alice", 1));
  EXPECT_NE(StableHash("ab"), StableHash("ba"));
}

TEST(MaglevTableTest, SizeIsAPrimeOfAtLeastAHundredSlotsPerMember) {
  EXPECT_EQ(MaglevTable::SizeFor(1), 65'537U);
  EXPECT_EQ(MaglevTable::SizeFor(655), 65'537U);
  EXPECT_EQ(MaglevTable::SizeFor(656), 65'609U);  // the first prime >= 65,600
  EXPECT_EQ(MaglevTable::SizeFor(1000), 100'003U);
}

TEST(MaglevTableTest, EveryMemberGetsAnEqualShareOfTheSlots) {
  for (const size_t members : {1U, 2U, 3U, 10U, 100U}) {
    const MaglevTable table(Names(members));
    ASSERT_EQ(table.size(), 65'537U);
    const double fair = static_cast<double>(table.size()) / static_cast<double>(members);
    for (const size_t count : SlotCounts(table, members)) {
      // Maglev's turns give each member floor or ceil of a fair share.
      EXPECT_NEAR(static_cast<double>(count), fair, 1.0) << members << " members";
    }
  }
}

TEST(MaglevTableTest, DependsOnTheSetOfNamesNotTheirOrder) {
  const std::vector<std::string> names = Names(5);
  const std::vector<std::string> reversed(names.rbegin(), names.rend());
  const MaglevTable table(names);
  const MaglevTable other(reversed);
  for (size_t slot = 0; slot < table.size(); ++slot) {
    ASSERT_EQ(names[table.MemberAt(slot)], reversed[other.MemberAt(slot)]) << "slot " << slot;
  }
}

TEST(MaglevTableTest, AMemberLeavingMovesLittleMoreThanItsOwnSlots) {
  const std::vector<std::string> names = Names(10);
  std::vector<std::string> without_one = names;
  without_one.erase(without_one.begin() + 4);
  const MaglevTable before(names);
  const MaglevTable after(without_one);
  size_t moved = 0;
  for (size_t slot = 0; slot < before.size(); ++slot) {
    if (names[before.MemberAt(slot)] != without_one[after.MemberAt(slot)]) ++moved;
  }
  const double fraction = static_cast<double>(moved) / static_cast<double>(before.size());
  // The leaving member's own tenth must move; Maglev moves a little more, not a reshuffle (a
  // modulo hash would move 90 %).
  EXPECT_GE(fraction, 0.099);
  EXPECT_LE(fraction, 0.12);
}

TEST(MaglevTableTest, AnEmptyTableHasNoSlots) {
  const MaglevTable table({});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.size(), 0U);
}

}  // namespace
}  // namespace gatehouse::lb
