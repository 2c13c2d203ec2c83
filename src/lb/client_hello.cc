#include "lb/client_hello.h"

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/host_name.h"
#include "base/status_macros.h"

namespace gatehouse::lb {
namespace {

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloMessage = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint8_t kHostNameType = 0;
constexpr size_t kRandomBytes = 32;
constexpr size_t kMaxSessionIdBytes = 32;

// Reads big-endian integers and length-prefixed blocks from a span, never past its end: every
// read that does not fit fails and leaves the reader where it was.
class BoundedReader {
 public:
  explicit BoundedReader(absl::string_view bytes) : bytes_(bytes) {}

  bool empty() const { return bytes_.empty(); }
  size_t size() const { return bytes_.size(); }

  std::optional<uint32_t> Integer(size_t width) {
    if (bytes_.size() < width) return std::nullopt;
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<uint8_t>(bytes_[i]);
    bytes_.remove_prefix(width);
    return value;
  }

  std::optional<absl::string_view> Bytes(size_t count) {
    if (bytes_.size() < count) return std::nullopt;
    const absl::string_view taken = bytes_.substr(0, count);
    bytes_.remove_prefix(count);
    return taken;
  }

  // A block whose length is a `width`-byte prefix.
  std::optional<absl::string_view> Block(size_t width) {
    BoundedReader attempt = *this;
    const std::optional<uint32_t> length = attempt.Integer(width);
    if (!length.has_value()) return std::nullopt;
    const std::optional<absl::string_view> block = attempt.Bytes(*length);
    if (block.has_value()) *this = attempt;
    return block;
  }

 private:
  absl::string_view bytes_;
};

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed TLS ClientHello: ", what));
}

// The extension_data of server_name: a list holding one host_name (RFC 6066 allows one name of
// each type, and host_name is the only type defined).
absl::StatusOr<std::string> ParseServerName(absl::string_view data) {
  BoundedReader extension(data);
  const std::optional<absl::string_view> list = extension.Block(2);
  if (!list.has_value() || !extension.empty()) return Malformed("server_name list length");
  BoundedReader entries(*list);
  std::optional<std::string> host_name;
  while (!entries.empty()) {
    const std::optional<uint32_t> type = entries.Integer(1);
    const std::optional<absl::string_view> name = entries.Block(2);
    if (!type.has_value() || !name.has_value()) return Malformed("server_name entry length");
    if (*type != kHostNameType) continue;  // unknown types are skipped, as RFC 6066 says
    if (host_name.has_value()) return Malformed("more than one host_name in server_name");
    if (!base::IsHostName(*name)) return Malformed("server_name is not a valid host name");
    host_name = absl::AsciiStrToLower(*name);
  }
  if (!host_name.has_value()) return Malformed("server_name without a host_name");
  return *host_name;
}

// The body of a ClientHello handshake message, up to and through its extensions.
absl::StatusOr<ClientHello> ParseClientHelloBody(absl::string_view body) {
  BoundedReader hello(body);
  if (!hello.Integer(2).has_value() || !hello.Bytes(kRandomBytes).has_value()) {
    return Malformed("shorter than its version and random");
  }
  const std::optional<absl::string_view> session_id = hello.Block(1);
  if (!session_id.has_value() || session_id->size() > kMaxSessionIdBytes) {
    return Malformed("legacy_session_id length");
  }
  const std::optional<absl::string_view> cipher_suites = hello.Block(2);
  if (!cipher_suites.has_value() || cipher_suites->empty() || cipher_suites->size() % 2 != 0) {
    return Malformed("cipher_suites length");
  }
  const std::optional<absl::string_view> compression = hello.Block(1);
  if (!compression.has_value() || compression->empty()) {
    return Malformed("legacy_compression_methods length");
  }
  ClientHello result;
  if (hello.empty()) return result;  // no extensions at all (before TLS 1.3): no name
  const std::optional<absl::string_view> extensions = hello.Block(2);
  if (!extensions.has_value() || !hello.empty()) return Malformed("extensions length");
  BoundedReader walk(*extensions);
  bool has_server_name = false;
  while (!walk.empty()) {
    const std::optional<uint32_t> type = walk.Integer(2);
    const std::optional<absl::string_view> data = walk.Block(2);
    if (!type.has_value() || !data.has_value()) return Malformed("extension length");
    if (*type != kServerNameExtension) continue;
    if (has_server_name) return Malformed("server_name extension sent twice");
    has_server_name = true;
    GH_ASSIGN_OR_RETURN(result.server_name, ParseServerName(*data));
  }
  return result;
}

}  // namespace

absl::StatusOr<ClientHello> ParseClientHello(absl::string_view bytes) {
  BoundedReader record(bytes);
  const std::optional<uint32_t> content_type = record.Integer(1);
  if (content_type.has_value() && *content_type != kHandshakeRecord) {
    return Malformed(absl::StrCat("not a handshake record (content type ", *content_type, ")"));
  }
  const std::optional<uint32_t> major_version = record.Integer(1);
  if (major_version.has_value() && *major_version != 3) {
    return Malformed(absl::StrCat("record version major ", *major_version, ", not 3"));
  }
  const std::optional<uint32_t> minor_version = record.Integer(1);
  const std::optional<uint32_t> length = record.Integer(2);
  if (!minor_version.has_value() || !length.has_value()) {
    return absl::OutOfRangeError("TLS record header incomplete");
  }
  if (*length == 0 || *length > kMaxTlsRecordPayloadBytes) {
    return Malformed(absl::StrCat("record length ", *length));
  }
  // The message header comes first, so a ClientHello that cannot fit its record is refused
  // without waiting for the rest of the record.
  BoundedReader payload(bytes.substr(kTlsRecordHeaderBytes, *length));
  const std::optional<uint32_t> message_type = payload.Integer(1);
  if (message_type.has_value() && *message_type != kClientHelloMessage) {
    return Malformed(absl::StrCat("first handshake message is type ", *message_type));
  }
  const std::optional<uint32_t> message_length = payload.Integer(3);
  if (message_length.has_value() && *message_length + 4 > *length) {
    return Malformed(absl::StrCat("ClientHello of ", *message_length,
                                  " bytes does not fit its record of ", *length));
  }
  if (record.size() < *length) {
    return absl::OutOfRangeError(
        absl::StrCat("TLS record incomplete: ", record.size(), " of ", *length, " bytes"));
  }
  // Bytes after the message in the same record would be a second handshake message: a
  // ClientHello must be alone, its record ends with it.
  if (*message_length + 4 != *length) return Malformed("bytes after the ClientHello in its record");
  return ParseClientHelloBody(*payload.Bytes(*message_length));
}

}  // namespace gatehouse::lb
