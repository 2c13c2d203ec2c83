#include "base/escape_for_log.h"

#include <string>

#include "gtest/gtest.h"

namespace gatehouse::base {
namespace {

struct EscapeCase {
  std::string name;
  std::string input;
  std::string escaped;
};

class EscapeForLogTest : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(EscapeForLogTest, EscapesEverythingButPrintableAscii) {
  EXPECT_EQ(EscapeForLog(GetParam().input), GetParam().escaped);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EscapeForLogTest,
    ::testing::Values(
        EscapeCase{"Empty", "", ""},
        EscapeCase{"PlainNameIsUnchanged", "alice.smith-01_x", "alice.smith-01_x"},
        EscapeCase{"SpacesAndPunctuationAreUnchanged", "a b (c): d, e=f!", "a b (c): d, e=f!"},
        EscapeCase{"NewlineCannotForgeALogLine", "bob\n[info] admin logged in",
                   "bob\\x0a[info] admin logged in"},
        EscapeCase{"CarriageReturn", "a\rb", "a\\x0db"}, EscapeCase{"Tab", "a\tb", "a\\x09b"},
        EscapeCase{"Nul", std::string("a\0b", 3), "a\\x00b"},
        EscapeCase{"Delete", "a\x7f", "a\\x7f"},
        EscapeCase{"TerminalEscapeSequence", "\x1b[2J\x1b]0;pwned\x07",
                   "\\x1b[2J\\x1b]0;pwned\\x07"},
        EscapeCase{"QuoteCannotCloseAField", "x\" role=\"admin", "x\\\" role=\\\"admin"},
        EscapeCase{"BackslashIsDoubledSoEscapesStayUnambiguous", "a\\x0a", "a\\\\x0a"},
        EscapeCase{"NonAsciiUtf8", "zo\xc3\xab", "zo\\xc3\\xab"},
        EscapeCase{"C1ControlCsi",
                   "\xc2\x9b"
                   "31m",
                   "\\xc2\\x9b31m"},
        EscapeCase{"BidiOverride",
                   "\xe2\x80\xae"
                   "txt.exe",
                   "\\xe2\\x80\\xaetxt.exe"},
        EscapeCase{"ZeroWidthSpace", "ad\xe2\x80\x8bmin", "ad\\xe2\\x80\\x8bmin"},
        EscapeCase{"InvalidUtf8", "\xff\xfe", "\\xff\\xfe"}),
    [](const ::testing::TestParamInfo<EscapeCase>& param_info) { return param_info.param.name; });

TEST(EscapeForLogTest, OutputIsPrintableAsciiForEveryByte) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const std::string escaped = EscapeForLog(every_byte);
  for (const char c : escaped) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f)
        << "byte " << static_cast<int>(static_cast<unsigned char>(c));
  }
  // 95 printable bytes, two of them doubled; 161 others as four characters each.
  EXPECT_EQ(escaped.size(), 95U + 2U + 161U * 4U);
}

}  // namespace
}  // namespace gatehouse::base
