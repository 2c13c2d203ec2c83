#include "lbserver/access_log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gatehouse::lbserver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AccessRecord Sample() {
  AccessRecord record;
  record.app = "web";
  record.client = "127.0.0.1:51000";
  record.identity = "alice";
  record.upstream = "127.0.0.1:8080";
  record.client_to_upstream_bytes = 12;
  record.upstream_to_client_bytes = 345;
  record.duration = std::chrono::milliseconds(7);
  record.end = CloseReason::kClosed;
  return record;
}

TEST(AccessLogTest, TextIsOneLineOfKeyValuePairs) {
  EXPECT_EQ(FormatAccessRecord(Sample(), base::LogFormat::kText),
            "app=web client=127.0.0.1:51000 identity=alice upstream=127.0.0.1:8080 "
            "client_to_upstream_bytes=12 upstream_to_client_bytes=345 duration_us=7000 "
            "end=closed detail=- server_name=-");
}

TEST(AccessLogTest, ARoutedConnectionCarriesItsServerName) {
  AccessRecord record = Sample();
  record.server_name = "a.example";
  EXPECT_THAT(FormatAccessRecord(record, base::LogFormat::kText),
              HasSubstr(" server_name=a.example"));
  EXPECT_EQ(nlohmann::json::parse("{" + FormatAccessRecord(record, base::LogFormat::kJson) + "}")
                .at("server_name"),
            "a.example");
}

TEST(AccessLogTest, JsonMembersParseAsAnObject) {
  const std::string members = FormatAccessRecord(Sample(), base::LogFormat::kJson);
  const nlohmann::json object = nlohmann::json::parse("{" + members + "}");
  EXPECT_EQ(object.at("app"), "web");
  EXPECT_EQ(object.at("identity"), "alice");
  EXPECT_EQ(object.at("upstream_to_client_bytes"), 345);
  EXPECT_EQ(object.at("end"), "closed");
}

// A client controls its certificate's CN: it must not be able to forge a second line or field.
TEST(AccessLogTest, ClientTextCannotBreakTheLine) {
  AccessRecord record = Sample();
  record.identity = "mallory\nend=closed app=admin \"x\" \x1b[31m";
  const std::string text = FormatAccessRecord(record, base::LogFormat::kText);
  EXPECT_THAT(text, Not(HasSubstr("\n")));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, HasSubstr(R"(identity="mallory\nend=closed app=admin \"x\" \x1b[31m")"));
  const std::string json = FormatAccessRecord(record, base::LogFormat::kJson);
  EXPECT_THAT(json, Not(HasSubstr("\n")));
  EXPECT_EQ(nlohmann::json::parse("{" + json + "}").at("identity"), record.identity);
}

}  // namespace
}  // namespace gatehouse::lbserver
