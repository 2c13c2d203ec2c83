#include "base/host_name.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace gatehouse::base {
namespace {

TEST(HostNameTest, AcceptsDnsNamesOfAnyCase) {
  for (const char* name : {"a", "a.example", "Tenant-B.Example.COM", "xn--bcher-kva.example",
                           "0.example", "a1-b2.c3"}) {
    EXPECT_TRUE(IsHostName(name)) << name;
  }
  EXPECT_TRUE(IsHostName(absl::StrCat(std::string(63, 'a'), ".example")));
  // 253 bytes: three labels of 63 and one of 61, joined by three dots.
  const std::string label(63, 'a');
  EXPECT_TRUE(IsHostName(absl::StrCat(label, ".", label, ".", label, ".", std::string(61, 'a'))));
}

TEST(HostNameTest, RefusesWhatIsNotAHostName) {
  const std::string label(63, 'a');
  for (const std::string& name :
       {std::string(""), std::string("."), std::string("a."), std::string(".a"),
        std::string("a..b"), std::string("-a"), std::string("a-"), std::string("a_b"),
        std::string("a b"), std::string("*.example"), std::string("a\0b", 3),
        std::string("caf\xc3\xa9.example"), std::string(64, 'a'),
        absl::StrCat(label, ".", label, ".", label, ".", std::string(62, 'a'))}) {
    EXPECT_FALSE(IsHostName(name)) << name;
  }
}

}  // namespace
}  // namespace gatehouse::base
