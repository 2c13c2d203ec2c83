#include "config/value_parsers.h"

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::Eq;
using ::testing::HasSubstr;

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

struct GoodDuration {
  const char* text;
  nanoseconds expected;
};

TEST(ParseDurationTest, AcceptsIntegerWithOneUnit) {
  const GoodDuration cases[] = {
      {"0s", nanoseconds(0)},
      {"1ns", nanoseconds(1)},
      {"7us", microseconds(7)},
      {"250ms", milliseconds(250)},
      {"2s", seconds(2)},
      {"5m", minutes(5)},
      {"3h", hours(3)},
      {"0090s", seconds(90)},
      {"9223372036854775807ns", nanoseconds::max()},
      {"2562047h", hours(2562047)},
  };
  for (const GoodDuration& c : cases) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<nanoseconds> parsed = ParseDuration(c.text);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, c.expected);
  }
}

struct BadValue {
  const char* text;
  const char* error;
};

TEST(ParseDurationTest, RejectsMalformedDurations) {
  const BadValue cases[] = {
      {"", R"(duration "" is not a non-negative integer followed by a unit, such as "250ms")"},
      {"-5s",
       R"(duration "-5s" is not a non-negative integer followed by a unit, such as "250ms")"},
      {"+5s",
       R"(duration "+5s" is not a non-negative integer followed by a unit, such as "250ms")"},
      {" 5s",
       R"(duration " 5s" is not a non-negative integer followed by a unit, such as "250ms")"},
      {"ms", R"(duration "ms" is not a non-negative integer followed by a unit, such as "250ms")"},
      {"250", R"(duration "250" has no unit; expected one of: ns, us, ms, s, m, h)"},
      {"1.5s", R"(duration "1.5s" has unknown unit ".5s"; expected one of: ns, us, ms, s, m, h)"},
      {"1m30s",
       R"(duration "1m30s" has unknown unit "m30s"; expected one of: ns, us, ms, s, m, h)"},
      {"5d", R"(duration "5d" has unknown unit "d"; expected one of: ns, us, ms, s, m, h)"},
      {"5S", R"(duration "5S" has unknown unit "S"; expected one of: ns, us, ms, s, m, h)"},
      {"5s ", R"(duration "5s " has unknown unit "s "; expected one of: ns, us, ms, s, m, h)"},
      {"9223372036854775808ns", R"(duration "9223372036854775808ns" is too large)"},
      {"2562048h", R"(duration "2562048h" is too large)"},
      {"99999999999999999999999s", R"(duration "99999999999999999999999s" is too large)"},
  };
  for (const BadValue& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_THAT(ParseDuration(c.text), StatusIs(absl::StatusCode::kInvalidArgument, Eq(c.error)));
  }
}

struct GoodByteSize {
  const char* text;
  uint64_t expected;
};

TEST(ParseByteSizeTest, AcceptsPlainBytesAndUnits) {
  const GoodByteSize cases[] = {
      {"0", 0},
      {"512", 512},
      {"1KB", 1000},
      {"1KiB", 1024},
      {"3MB", 3'000'000},
      {"512MiB", uint64_t{512} << 20},
      {"2GB", 2'000'000'000},
      {"2GiB", uint64_t{2} << 30},
      {"5TB", 5'000'000'000'000},
      {"5TiB", uint64_t{5} << 40},
      {"18446744073709551615", UINT64_MAX},
      {"16777215TiB", uint64_t{16777215} << 40},
  };
  for (const GoodByteSize& c : cases) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<uint64_t> parsed = ParseByteSize(c.text);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, c.expected);
  }
}

TEST(ParseByteSizeTest, RejectsMalformedSizes) {
  constexpr const char* kNoNumber =
      " is not a non-negative integer followed by an optional unit, such as \"512MiB\"";
  constexpr const char* kUnits =
      "; expected a whole number of bytes or one of: KB, MB, GB, TB, "
      "KiB, MiB, GiB, TiB";
  const std::string cases[][2] = {
      {"", absl::StrCat(R"(byte size "")", kNoNumber)},
      {"-1", absl::StrCat(R"(byte size "-1")", kNoNumber)},
      {"MiB", absl::StrCat(R"(byte size "MiB")", kNoNumber)},
      {"1.5GiB", absl::StrCat(R"(byte size "1.5GiB" has unknown unit ".5GiB")", kUnits)},
      {"10B", absl::StrCat(R"(byte size "10B" has unknown unit "B")", kUnits)},
      {"10kb", absl::StrCat(R"(byte size "10kb" has unknown unit "kb")", kUnits)},
      {"10 MiB", absl::StrCat(R"(byte size "10 MiB" has unknown unit " MiB")", kUnits)},
      {"10PiB", absl::StrCat(R"(byte size "10PiB" has unknown unit "PiB")", kUnits)},
      {"18446744073709551616", R"(byte size "18446744073709551616" is too large)"},
      {"16777216TiB", R"(byte size "16777216TiB" is too large)"},
      {"18446744073709552KB", R"(byte size "18446744073709552KB" is too large)"},
  };
  for (const auto& [text, error] : cases) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseByteSize(text), StatusIs(absl::StatusCode::kInvalidArgument, Eq(error)));
  }
}

struct GoodAddress {
  const char* text;
  const char* host;
  uint16_t port;
};

TEST(ParseAddressTest, AcceptsIpLiteralsWithPortsAndRoundTrips) {
  const GoodAddress cases[] = {
      {"127.0.0.1:9901", "127.0.0.1", 9901},
      {"0.0.0.0:0", "0.0.0.0", 0},
      {"10.1.2.3:65535", "10.1.2.3", 65535},
      {"[::1]:9901", "::1", 9901},
      {"[::]:443", "::", 443},
      {"[2001:db8::42]:8080", "2001:db8::42", 8080},
      {"[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1", 80},
  };
  for (const GoodAddress& c : cases) {
    SCOPED_TRACE(c.text);
    const absl::StatusOr<Address> parsed = ParseAddress(c.text);
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(parsed->host, c.host);
    EXPECT_EQ(parsed->port, c.port);
    EXPECT_EQ(parsed->ToString(), c.text);
  }
}

TEST(ParseAddressTest, RejectsNamesMissingPortsAndBadPorts) {
  constexpr absl::string_view kBadHost = "expected HOST:PORT with an IP address host, got ";
  constexpr absl::string_view kBadPort = "expected HOST:PORT with a port in 0-65535, got ";
  const std::string cases[][2] = {
      {"", absl::StrCat(kBadHost, R"("")")},
      {"localhost:1", absl::StrCat(kBadHost, R"("localhost:1")")},
      {"1.2.3.4", absl::StrCat(kBadHost, R"("1.2.3.4")")},
      {":80", absl::StrCat(kBadHost, R"(":80")")},
      {"[::1]", absl::StrCat(kBadHost, R"("[::1]")")},
      {"[::1]80", absl::StrCat(kBadHost, R"("[::1]80")")},
      {"[::1:80", absl::StrCat(kBadHost, R"("[::1:80")")},
      {"::1:80", absl::StrCat(kBadHost, R"("::1:80")")},
      {"[1.2.3.4]:80", absl::StrCat(kBadHost, R"("[1.2.3.4]:80")")},
      {"[fe80::1%eth0]:80", absl::StrCat(kBadHost, R"("[fe80::1%eth0]:80")")},
      {"1.2.3:80", absl::StrCat(kBadHost, R"("1.2.3:80")")},
      {"1.2.3.256:80", absl::StrCat(kBadHost, R"("1.2.3.256:80")")},
      {" 1.2.3.4:80", absl::StrCat(kBadHost, R"(" 1.2.3.4:80")")},
      {"1.2.3.4:", absl::StrCat(kBadPort, R"("1.2.3.4:")")},
      {"1.2.3.4:65536", absl::StrCat(kBadPort, R"("1.2.3.4:65536")")},
      {"1.2.3.4:99999999999999999999", absl::StrCat(kBadPort, R"("1.2.3.4:99999999999999999999")")},
      {"1.2.3.4:-1", absl::StrCat(kBadPort, R"("1.2.3.4:-1")")},
      {"1.2.3.4:+80", absl::StrCat(kBadPort, R"("1.2.3.4:+80")")},
      {"1.2.3.4:80 ", absl::StrCat(kBadPort, R"("1.2.3.4:80 ")")},
      {"1.2.3.4:http", absl::StrCat(kBadPort, R"("1.2.3.4:http")")},
      {"1.2.3.4:80:81", absl::StrCat(kBadPort, R"("1.2.3.4:80:81")")},
      {"[::1]:70000", absl::StrCat(kBadPort, R"("[::1]:70000")")},
      {"1.2.3.4:8\n", absl::StrCat(kBadPort, R"("1.2.3.4:8\n")")},
  };
  for (const auto& [text, error] : cases) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseAddress(text), StatusIs(absl::StatusCode::kInvalidArgument, Eq(error)));
  }
}

TEST(ParseCountTest, AcceptsDigitsUpToTheMaximum) {
  EXPECT_EQ(ParseCount("0", 10).value_or(99), 0U);
  EXPECT_EQ(ParseCount("10", 10).value_or(99), 10U);
  for (const char* text : {"11", "", "-1", "+1", "1.0", " 1", "1 ", "1e3", "0x1"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseCount(text, 10), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("expected a whole number from 0 to 10")));
  }
}

TEST(ParseDecimalTest, AcceptsNonNegativeDecimals) {
  EXPECT_DOUBLE_EQ(ParseDecimal("0.5").value_or(-1), 0.5);
  EXPECT_DOUBLE_EQ(ParseDecimal("20").value_or(-1), 20.0);
  EXPECT_DOUBLE_EQ(ParseDecimal("0").value_or(-1), 0.0);
  for (const char* text :
       {"", "-1", "+1", ".5", "5.", "1e3", "nan", "inf", "1.2.3", " 1", "1234567890123456"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseDecimal(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("non-negative decimal number")));
  }
}

}  // namespace
}  // namespace gatehouse::config
