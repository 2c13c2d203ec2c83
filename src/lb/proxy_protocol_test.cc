#include "lb/proxy_protocol.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;

asio::ip::tcp::endpoint Endpoint(const char* address, uint16_t port) {
  return {asio::ip::make_address(address), port};
}

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int value : values) out.push_back(static_cast<char>(value));
  return out;
}

const std::string kSignatureAndCommand =
    Bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21});

TEST(ProxyProtocolTest, EncodesTwoIpv4EndpointsWithoutTlvs) {
  const absl::StatusOr<std::string> header = EncodeProxyV2Header(
      Endpoint("192.0.2.1", 51000), Endpoint("127.0.0.1", 8443), /*tls=*/nullptr);
  ASSERT_THAT(header, IsOk());
  const std::string expected =
      kSignatureAndCommand + Bytes({0x11, 0x00, 12, 192, 0, 2, 1, 127, 0, 0, 1, 51000 >> 8,
                                    51000 & 0xFF, 8443 >> 8, 8443 & 0xFF});
  EXPECT_EQ(*header, expected);
}

TEST(ProxyProtocolTest, MapsIpv4IntoIpv6WhenTheFamiliesDiffer) {
  const absl::StatusOr<std::string> header =
      EncodeProxyV2Header(Endpoint("192.0.2.1", 1), Endpoint("::1", 2), nullptr);
  ASSERT_THAT(header, IsOk());
  ASSERT_EQ(header->size(), 16U + 36U);
  EXPECT_EQ(header->substr(13, 3), Bytes({0x21, 0x00, 36}));
  // ::ffff:192.0.2.1
  EXPECT_EQ(header->substr(16, 16),
            Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1}));
}

TEST(ProxyProtocolTest, CarriesTheCommonNameAndRolesOfAVerifiedClient) {
  ProxyTlsInfo tls;
  tls.common_name = "alice";
  tls.roles = {"dev", "ops"};
  const absl::StatusOr<std::string> header =
      EncodeProxyV2Header(Endpoint("127.0.0.1", 1), Endpoint("127.0.0.1", 2), &tls);
  ASSERT_THAT(header, IsOk());
  const std::string ssl_value =
      Bytes({0x03, 0, 0, 0, 0}) + Bytes({0x21, 0, 7}) + "TLSv1.3" + Bytes({0x22, 0, 5}) + "alice";
  const std::string tlvs = Bytes({0x20, 0, static_cast<int>(ssl_value.size())}) + ssl_value +
                           Bytes({0xE0, 0, 3}) + "dev" + Bytes({0xE0, 0, 3}) + "ops";
  const size_t length = 12 + tlvs.size();
  EXPECT_EQ(header->substr(14, 2),
            Bytes({static_cast<int>(length >> 8), static_cast<int>(length & 0xFF)}));
  EXPECT_EQ(header->substr(16 + 12), tlvs);
}

TEST(ProxyProtocolTest, RefusesTlvsThatOverflowTheLength) {
  ProxyTlsInfo tls;
  tls.common_name = "alice";
  tls.roles.assign(300, std::string(300, 'r'));
  EXPECT_THAT(EncodeProxyV2Header(Endpoint("127.0.0.1", 1), Endpoint("127.0.0.1", 2), &tls),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceed 65535")));
}

}  // namespace
}  // namespace gatehouse::lb
