#include "admin/http_request.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatehouse::admin {
namespace {

constexpr size_t kMaxBytes = 256;

struct ParseCase {
  std::string name;
  std::string text;
  HttpParseOutcome outcome;
  std::string method = "";
  std::string path = "";
};

class ParseHttpRequestTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseHttpRequestTest, ParsesOrRejects) {
  const ParseCase& c = GetParam();
  const HttpParseResult result = ParseHttpRequest(c.text, kMaxBytes);
  EXPECT_EQ(HttpParseOutcomeName(result.outcome), HttpParseOutcomeName(c.outcome))
      << "error: " << result.error;
  if (c.outcome == HttpParseOutcome::kComplete) {
    EXPECT_EQ(result.request.method, c.method);
    EXPECT_EQ(result.request.path, c.path);
  } else if (c.outcome != HttpParseOutcome::kIncomplete) {
    EXPECT_FALSE(result.error.empty());
  }
}

const std::string kLongHeader = "X-Long: " + std::string(kMaxBytes, 'a') + "\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, ParseHttpRequestTest,
    ::testing::Values(
        // Complete requests.
        ParseCase{"Get", "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", HttpParseOutcome::kComplete,
                  "GET", "/healthz"},
        ParseCase{"QueryIsNotPartOfPath", "GET /metrics?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kComplete, "GET", "/metrics"},
        ParseCase{"Http10NeedsNoHost", "GET /readyz HTTP/1.0\r\n\r\n", HttpParseOutcome::kComplete,
                  "GET", "/readyz"},
        ParseCase{"BareLfLineEnds", "GET /x HTTP/1.1\nHost: a\n\n", HttpParseOutcome::kComplete,
                  "GET", "/x"},
        ParseCase{"LeadingEmptyLinesSkipped", "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kComplete, "GET", "/x"},
        ParseCase{"OtherMethodsParse", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
                  HttpParseOutcome::kComplete, "POST", "/x"},
        ParseCase{"HostCaseInsensitiveAndOws", "GET / HTTP/1.1\r\nhOsT:\t a \t\r\n\r\n",
                  HttpParseOutcome::kComplete, "GET", "/"},
        ParseCase{"LaterMinorVersion", "GET / HTTP/1.7\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kComplete, "GET", "/"},
        ParseCase{"ObsTextInValue", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
                  HttpParseOutcome::kComplete, "GET", "/"},
        // Incomplete.
        ParseCase{"Empty", "", HttpParseOutcome::kIncomplete},
        ParseCase{"PartialRequestLine", "GET /heal", HttpParseOutcome::kIncomplete},
        ParseCase{"NoBlankLine", "GET / HTTP/1.1\r\nHost: a\r\n", HttpParseOutcome::kIncomplete},
        ParseCase{"OnlyEmptyLines", "\r\n\r\n", HttpParseOutcome::kIncomplete},
        // 400.
        ParseCase{"Garbage", "garbage\r\n\r\n", HttpParseOutcome::kBadRequest},
        ParseCase{"TlsHelloRejectedBeforeHeadEnds", "\x16\x03\x01\x02\x01\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"NoVersion", "GET /\r\n\r\n", HttpParseOutcome::kBadRequest},
        ParseCase{"DoubleSpace", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"TrailingSpace", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"LowercaseHttpName", "GET / http/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"BadMethodChar", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"AbsoluteForm", "GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"AsteriskForm", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"Fragment", "GET /x#y HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"RawByteInTarget", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"BareCr", "GET / HTTP/1.1\rHost: a\r\n\r\n", HttpParseOutcome::kBadRequest},
        ParseCase{"NulInHeader", std::string("GET / HTTP/1.1\r\nHost: a") + '\0' + "b\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"ObsFold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"NoColon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"EmptyHeaderName", "GET / HTTP/1.1\r\n: a\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        ParseCase{"Http11WithoutHost", "GET / HTTP/1.1\r\n\r\n", HttpParseOutcome::kBadRequest},
        ParseCase{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                  HttpParseOutcome::kBadRequest},
        // 505.
        ParseCase{"Http2", "GET / HTTP/2.0\r\n\r\n", HttpParseOutcome::kVersionNotSupported},
        ParseCase{"Http09Style", "GET / HTTP/0.9\r\n\r\n", HttpParseOutcome::kVersionNotSupported},
        // 431.
        ParseCase{"UnterminatedOverLimit",
                  "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMaxBytes, 'a'),
                  HttpParseOutcome::kHeadersTooLarge},
        ParseCase{"LongHeaderLine", "GET / HTTP/1.1\r\nHost: a\r\n" + kLongHeader + "\r\n",
                  HttpParseOutcome::kHeadersTooLarge},
        ParseCase{"ManyEmptyLines", std::string(kMaxBytes + 2, '\n'),
                  HttpParseOutcome::kHeadersTooLarge}),
    [](const ::testing::TestParamInfo<ParseCase>& param_info) { return param_info.param.name; });

TEST(ParseHttpRequestTest, HeadBytesEndAtTheBlankLine) {
  const std::string head = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  const HttpParseResult result = ParseHttpRequest(head + "body", kMaxBytes);
  ASSERT_EQ(result.outcome, HttpParseOutcome::kComplete) << result.error;
  EXPECT_EQ(result.head_bytes, head.size());
  EXPECT_EQ(result.request.target, "/x");
  EXPECT_EQ(result.request.minor_version, 1);
}

TEST(ParseHttpRequestTest, HeadOfExactlyTheLimitIsAccepted) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
  head.insert(head.size() - 4, kMaxBytes - head.size(), 'a');
  ASSERT_EQ(head.size(), kMaxBytes);
  EXPECT_EQ(ParseHttpRequest(head, kMaxBytes).outcome, HttpParseOutcome::kComplete);
  EXPECT_EQ(ParseHttpRequest(head, kMaxBytes - 1).outcome, HttpParseOutcome::kHeadersTooLarge);
}

TEST(ParseHttpRequestTest, EveryPrefixOfAValidRequestIsIncomplete) {
  const std::string head =
      "GET /metrics?a=b HTTP/1.1\r\nHost: localhost:9901\r\nAccept: */*\r\n\r\n";
  for (size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(ParseHttpRequest(head.substr(0, n), kMaxBytes).outcome, HttpParseOutcome::kIncomplete)
        << "prefix of " << n << " bytes";
  }
  EXPECT_EQ(ParseHttpRequest(head, kMaxBytes).outcome, HttpParseOutcome::kComplete);
}

}  // namespace
}  // namespace gatehouse::admin
