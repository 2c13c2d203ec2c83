#include "etcd/internal/json_codec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"

namespace gatehouse::etcd::internal {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;
using Json = nlohmann::json;

// Lines and bodies below were captured from etcd 3.4.23's gateway.

TEST(JsonCodecTest, EncodesRangeWithBase64Key) {
  EXPECT_EQ(Json::parse(EncodeRangeRequest(std::string("f\0o", 3))), Json({{"key", "ZgBv"}}));
}

TEST(JsonCodecTest, EncodesCompareAndPutAsTxnOnModRevision) {
  const Json txn = Json::parse(EncodeCompareAndPutRequest("foo", "bar", 7));
  EXPECT_EQ(txn["compare"][0],
            Json({{"key", "Zm9v"}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", "7"}}));
  EXPECT_EQ(txn["success"][0], Json({{"request_put", {{"key", "Zm9v"}, {"value", "YmFy"}}}}));
  EXPECT_EQ(txn["failure"][0], Json({{"request_range", {{"key", "Zm9v"}}}}));
}

TEST(JsonCodecTest, EncodesWatchFromRevisionOrFromNow) {
  EXPECT_EQ(Json::parse(EncodeWatchCreateRequest("foo", 5)),
            Json({{"create_request", {{"key", "Zm9v"}, {"start_revision", "5"}}}}));
  EXPECT_EQ(Json::parse(EncodeWatchCreateRequest("foo", 0)),
            Json({{"create_request", {{"key", "Zm9v"}}}}));
}

TEST(JsonCodecTest, DecodesRangeHitAndMiss) {
  const auto hit = DecodeRangeResponse(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"4","raft_term":"3"},)"
      R"("kvs":[{"key":"bmV3","create_revision":"4","mod_revision":"4","version":"1",)"
      R"("value":"YmF6"}],"count":"1"})");
  ASSERT_THAT(hit, IsOk());
  EXPECT_TRUE(hit->found);
  EXPECT_EQ(hit->value, "baz");
  EXPECT_EQ(hit->mod_revision, 4);
  EXPECT_EQ(hit->header_revision, 4);

  const auto miss = DecodeRangeResponse(R"({"header":{"revision":"1","raft_term":"3"}})");
  ASSERT_THAT(miss, IsOk());
  EXPECT_FALSE(miss->found);
  EXPECT_EQ(miss->header_revision, 1);
}

TEST(JsonCodecTest, DecodesEmptyValueLeftOutByProto3Json) {
  const auto hit = DecodeRangeResponse(
      R"({"header":{"revision":"7"},"kvs":[{"key":"Zm9v","mod_revision":"7"}],"count":"1"})");
  ASSERT_THAT(hit, IsOk());
  EXPECT_TRUE(hit->found);
  EXPECT_EQ(hit->value, "");
}

TEST(JsonCodecTest, DecodesTxnSuccessAndFailure) {
  const auto won =
      DecodeCompareAndPutResponse(R"({"header":{"revision":"3"},"succeeded":true,)"
                                  R"("responses":[{"response_put":{"header":{"revision":"3"}}}]})");
  ASSERT_THAT(won, IsOk());
  EXPECT_TRUE(won->succeeded);
  EXPECT_EQ(won->header_revision, 3);

  // "succeeded": false is left out.
  const auto lost = DecodeCompareAndPutResponse(
      R"({"header":{"revision":"3"},"responses":[{"response_range":{"header":{"revision":"3"},)"
      R"("kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2",)"
      R"("value":"YmF6"}],"count":"1"}}]})");
  ASSERT_THAT(lost, IsOk());
  EXPECT_FALSE(lost->succeeded);
  EXPECT_EQ(lost->current.mod_revision, 3);
  EXPECT_EQ(lost->current.value, "baz");
}

TEST(JsonCodecTest, DecodesWatchCreatedEventsAndDelete) {
  const auto created = DecodeWatchMessage(
      R"({"result":{"header":{"revision":"4","raft_term":"3"},"created":true}})");
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->header_revision, 4);

  const auto events = DecodeWatchMessage(
      R"({"result":{"header":{"revision":"6"},"events":[)"
      R"({"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"5","version":"3","value":"cXV4"}},)"
      R"({"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"6"}}]}})");
  ASSERT_THAT(events, IsOk());
  ASSERT_EQ(events->events.size(), 2U);
  EXPECT_FALSE(events->events[0].is_delete);
  EXPECT_EQ(events->events[0].value, "qux");
  EXPECT_EQ(events->events[0].mod_revision, 5);
  EXPECT_TRUE(events->events[1].is_delete);
  EXPECT_EQ(events->events[1].mod_revision, 6);
}

TEST(JsonCodecTest, DecodesCompactionAsCanceledWithCompactRevision) {
  const auto message = DecodeWatchMessage(
      R"({"result":{"header":{"raft_term":"3"},"canceled":true,"compact_revision":"6"}})");
  ASSERT_THAT(message, IsOk());
  EXPECT_TRUE(message->canceled);
  EXPECT_EQ(message->compact_revision, 6);
}

TEST(JsonCodecTest, DecodesStreamErrorAsStatus) {
  EXPECT_THAT(DecodeWatchMessage(R"({"error":{"grpc_code":13,"http_code":500,)"
                                 R"("message":"server closed the stream without sending trailers",)"
                                 R"("http_status":"Internal Server Error"}})"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("without sending trailers")));
}

const char* const kMalformedWatchLines[] = {
    "",
    "not json",
    "[]",
    R"({"result":{"events":[{"kv":{"value":"!!"}}]}})",
    R"({"result":{"header":{"revision":"x"}}})",
    R"({"result":{"events":[1]}})",
};
TEST(JsonCodecTest, RejectsMalformedInput) {
  for (const char* bad : kMalformedWatchLines) {
    EXPECT_THAT(DecodeWatchMessage(bad), StatusIs(absl::StatusCode::kInternal, ::testing::_))
        << bad;
  }
  EXPECT_THAT(DecodeRangeResponse(R"({"kvs":[{"value":5}]})"),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("base64")));
}

TEST(JsonCodecTest, MapsErrorBodiesToStatusCodes) {
  EXPECT_THAT(
      DecodeErrorResponse(400, R"({"error":"illegal base64 data at input byte 3",)"
                               R"("message":"illegal base64 data at input byte 3","code":3})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("illegal base64")));
  EXPECT_THAT(DecodeErrorResponse(503, R"({"error":"connection closed","code":14})"),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_THAT(DecodeErrorResponse(404, "Not Found"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("HTTP 404")));
}

}  // namespace
}  // namespace gatehouse::etcd::internal
