#include "lb/proxy_protocol.h"

#include <array>
#include <limits>

#include "absl/strings/str_cat.h"

namespace gatehouse::lb {
namespace {

// The 12-byte signature that opens every v2 header.
constexpr std::array<uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr uint8_t kVersion2Proxy = 0x21;  // version 2, command PROXY
constexpr uint8_t kTcpOverIpv4 = 0x11;
constexpr uint8_t kTcpOverIpv6 = 0x21;
constexpr uint8_t kTypeSsl = 0x20;
constexpr uint8_t kSubtypeSslVersion = 0x21;
constexpr uint8_t kSubtypeSslCn = 0x22;
constexpr uint8_t kClientSsl = 0x01;
constexpr uint8_t kClientCertConn = 0x02;

void AppendU16(std::string& out, size_t value) {
  out.push_back(static_cast<char>((value >> 8) & 0xFF));
  out.push_back(static_cast<char>(value & 0xFF));
}

void AppendTlv(std::string& out, uint8_t type, const std::string& value) {
  out.push_back(static_cast<char>(type));
  AppendU16(out, value.size());
  out += value;
}

template <size_t N>
void AppendBytes(std::string& out, const std::array<unsigned char, N>& bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

asio::ip::address_v6 AsV6(const asio::ip::address& address) {
  return address.is_v6() ? address.to_v6()
                         : asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4());
}

}  // namespace

absl::StatusOr<std::string> EncodeProxyV2Header(const asio::ip::tcp::endpoint& source,
                                                const asio::ip::tcp::endpoint& destination,
                                                const ProxyTlsInfo* tls) {
  std::string addresses;
  uint8_t family = kTcpOverIpv4;
  if (source.address().is_v4() && destination.address().is_v4()) {
    AppendBytes(addresses, source.address().to_v4().to_bytes());
    AppendBytes(addresses, destination.address().to_v4().to_bytes());
  } else {
    family = kTcpOverIpv6;
    AppendBytes(addresses, AsV6(source.address()).to_bytes());
    AppendBytes(addresses, AsV6(destination.address()).to_bytes());
  }
  AppendU16(addresses, source.port());
  AppendU16(addresses, destination.port());

  std::string tlvs;
  if (tls != nullptr) {
    std::string ssl;
    ssl.push_back(static_cast<char>(kClientSsl | kClientCertConn));
    ssl.append(4, '\0');  // verify: 0, the certificate was verified
    AppendTlv(ssl, kSubtypeSslVersion, tls->version);
    AppendTlv(ssl, kSubtypeSslCn, tls->common_name);
    if (ssl.size() > std::numeric_limits<uint16_t>::max()) {
      return absl::InvalidArgumentError("PROXY v2 header: the client's CN is too long");
    }
    AppendTlv(tlvs, kTypeSsl, ssl);
    for (const std::string& role : tls->roles) AppendTlv(tlvs, kProxyTlvRole, role);
  }
  const size_t length = addresses.size() + tlvs.size();
  if (length > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PROXY v2 header: ", length, " bytes of addresses and TLVs exceed 65535"));
  }
  std::string header(reinterpret_cast<const char*>(kSignature.data()), kSignature.size());
  header.push_back(static_cast<char>(kVersion2Proxy));
  header.push_back(static_cast<char>(family));
  AppendU16(header, length);
  header += addresses;
  header += tlvs;
  return header;
}

}  // namespace gatehouse::lb
