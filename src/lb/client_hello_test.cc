#include "lb/client_hello.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/testing/client_hello_bytes.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::lb::testing::OpenSslClientHello;
using ::testing::HasSubstr;

std::string BigEndian(uint32_t value, size_t width) {
  std::string out(width, '\0');
  for (size_t i = 0; i < width; ++i) {
    out[width - 1 - i] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  return out;
}

std::string WithLength(const std::string& body, size_t width) {
  return BigEndian(static_cast<uint32_t>(body.size()), width) + body;
}

std::string Extension(uint16_t type, const std::string& data) {
  return BigEndian(type, 2) + WithLength(data, 2);
}

// server_name extension data with these (type, name) entries.
std::string ServerNameData(const std::vector<std::pair<uint8_t, std::string>>& entries) {
  std::string list;
  for (const auto& [type, name] : entries) list += BigEndian(type, 1) + WithLength(name, 2);
  return WithLength(list, 2);
}

// A ClientHello record built by hand around `extensions` (already concatenated); nullopt-like
// "" extensions with `with_extensions` false omits the block, as TLS 1.2 clients may.
std::string HelloRecord(const std::string& extensions, bool with_extensions = true) {
  std::string body = BigEndian(0x0303, 2) + std::string(32, 'r');      // legacy_version, random
  body += WithLength(std::string(32, 's'), 1);                         // legacy_session_id
  body += WithLength(BigEndian(0x1301, 2) + BigEndian(0x1302, 2), 2);  // cipher_suites
  body += WithLength(std::string(1, '\0'), 1);                         // compression: null
  if (with_extensions) body += WithLength(extensions, 2);
  const std::string message = BigEndian(1, 1) + WithLength(body, 3);
  return std::string("\x16\x03\x01", 3) + WithLength(message, 2);
}

TEST(ClientHelloTest, ReadsTheServerNameOfARealOpenSslClientHelloInLowerCase) {
  const std::string hello = OpenSslClientHello("Tenant-A.Example.COM");
  ASSERT_FALSE(hello.empty());
  const absl::StatusOr<ClientHello> parsed = ParseClientHello(hello);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->server_name, "tenant-a.example.com");
}

TEST(ClientHelloTest, AClientHelloWithoutServerNameHasAnEmptyName) {
  const absl::StatusOr<ClientHello> parsed = ParseClientHello(OpenSslClientHello(""));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->server_name, "");
  const absl::StatusOr<ClientHello> no_extensions =
      ParseClientHello(HelloRecord("", /*with_extensions=*/false));
  ASSERT_TRUE(no_extensions.ok()) << no_extensions.status();
  EXPECT_EQ(no_extensions->server_name, "");
}

TEST(ClientHelloTest, EveryPrefixOfARecordAsksForMoreBytes) {
  const std::string hello = OpenSslClientHello("a.example");
  ASSERT_GT(hello.size(), 100U);
  for (size_t size = 0; size < hello.size(); ++size) {
    EXPECT_EQ(ParseClientHello(hello.substr(0, size)).status().code(),
              absl::StatusCode::kOutOfRange)
        << size;
  }
}

TEST(ClientHelloTest, BytesAfterTheRecordAreLeftAlone) {
  const std::string hello = OpenSslClientHello("a.example");
  const absl::StatusOr<ClientHello> parsed = ParseClientHello(hello + "\x17\x03\x03 and more");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->server_name, "a.example");
}

TEST(ClientHelloTest, FindsTheServerNameAmongOtherExtensions) {
  const std::string extensions = Extension(0x000a, BigEndian(0x001d, 4)) +
                                 Extension(0, ServerNameData({{0, "b.example"}})) +
                                 Extension(0x002b, "\x02\x03\x04");
  const absl::StatusOr<ClientHello> parsed = ParseClientHello(HelloRecord(extensions));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->server_name, "b.example");
}

struct BadHello {
  const char* name;
  std::string bytes;
  const char* error;
};

void PrintTo(const BadHello& bad, std::ostream* os) { *os << bad.name; }

class BadClientHelloTest : public ::testing::TestWithParam<BadHello> {};

TEST_P(BadClientHelloTest, IsRefusedWithAReason) {
  const absl::StatusOr<ClientHello> parsed = ParseClientHello(GetParam().bytes);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  EXPECT_THAT(parsed.status().message(), HasSubstr(GetParam().error));
}

std::string WithSni(const std::vector<std::pair<uint8_t, std::string>>& entries) {
  return HelloRecord(Extension(0, ServerNameData(entries)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadClientHelloTest,
    ::testing::Values(
        BadHello{"PlainHttp", "GET / HTTP/1.1\r\n", "not a handshake record (content type 71)"},
        BadHello{"SslV2", std::string("\x80\x2e\x01\x00\x02", 5), "content type 128"},
        BadHello{"RecordVersionMajor", std::string("\x16\x02\x00\x00\x10", 5),
                 "record version major 2"},
        BadHello{"EmptyRecord", std::string("\x16\x03\x01\x00\x00", 5), "record length 0"},
        BadHello{"OversizedRecord", std::string("\x16\x03\x01\x40\x01", 5), "record length 16385"},
        // Known to be wrong from the message header alone, before the record is complete.
        BadHello{"NotAClientHello", std::string("\x16\x03\x01\x00\x40\x02", 6),
                 "first handshake message is type 2"},
        BadHello{"MessageLongerThanItsRecord",
                 std::string("\x16\x03\x01\x00\x40\x01\x00\x01\x00", 9),
                 "ClientHello of 256 bytes does not fit its record of 64"},
        BadHello{"TrailingBytesInTheRecord",
                 std::string("\x16\x03\x01\x00\x05\x01\x00\x00\x00x", 10),
                 "bytes after the ClientHello"},
        BadHello{"TruncatedBody", std::string("\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", 11),
                 "shorter than its version and random"},
        BadHello{"TwoServerNameExtensions",
                 HelloRecord(Extension(0, ServerNameData({{0, "a.example"}})) +
                             Extension(0, ServerNameData({{0, "b.example"}}))),
                 "server_name extension sent twice"},
        BadHello{"TwoHostNames", WithSni({{0, "a.example"}, {0, "b.example"}}),
                 "more than one host_name"},
        BadHello{"NoHostName", WithSni({{7, "x"}}), "server_name without a host_name"},
        BadHello{"Underscore", WithSni({{0, "a_b.example"}}), "not a valid host name"},
        BadHello{"LeadingHyphen", WithSni({{0, "-a.example"}}), "not a valid host name"},
        BadHello{"EmptyLabel", WithSni({{0, "a..example"}}), "not a valid host name"},
        BadHello{"TrailingDot", WithSni({{0, "a.example."}}), "not a valid host name"},
        BadHello{"LabelOf64", WithSni({{0, std::string(64, 'a') + ".example"}}),
                 "not a valid host name"},
        BadHello{"NulInName", WithSni({{0, std::string("a\0b", 3)}}), "not a valid host name"},
        BadHello{"ServerNameListOverruns",
                 HelloRecord(Extension(0, BigEndian(40, 2) + BigEndian(0, 1) +
                                              WithLength("a.example", 2))),
                 "server_name list length"},
        BadHello{"ExtensionOverruns", HelloRecord(BigEndian(0, 2) + BigEndian(500, 2) + "abc"),
                 "extension length"}),
    [](const ::testing::TestParamInfo<BadHello>& param_info) { return param_info.param.name; });

TEST(ClientHelloTest, NoSingleByteChangeOfARealClientHelloReadsOutOfBounds) {
  // Every byte of a real ClientHello, set to each of a few telling values: whatever the answer,
  // the parser stays inside its input (the sanitizer builds turn any stray read into a failure).
  const std::string hello = OpenSslClientHello("mutated.example");
  ASSERT_FALSE(hello.empty());
  int parsed = 0;
  for (size_t i = 0; i < hello.size(); ++i) {
    for (const int value : {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}) {
      std::string mutated = hello;
      mutated[i] = static_cast<char>(value);
      if (ParseClientHello(mutated).ok()) ++parsed;
    }
  }
  EXPECT_GT(parsed, 0);  // bytes such as the random may take any value
}

}  // namespace
}  // namespace gatehouse::lb
