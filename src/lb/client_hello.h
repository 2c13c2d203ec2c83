// The server name a TLS client asks for, read from its ClientHello before any TLS library sees
// the connection, so a listener can route by name: pass the connection through untouched to a
// server that terminates TLS itself, or terminate it with the name's own certificate.
//
// The parser reads bytes the caller has peeked (MSG_PEEK), so they stay in the socket for
// whoever handles the connection next. It reads one TLS record that must hold the whole
// ClientHello handshake message (TLS 1.0–1.3 record and handshake framing, RFC 8446 §4.1.2 and
// §5.1; server_name per RFC 6066 §3). Every length is checked against what encloses it before it
// is used; malformed, truncated or contradictory input is an error, never a read past `bytes`.
// Stateless and thread-safe.
#ifndef GATEHOUSE_LB_CLIENT_HELLO_H_
#define GATEHOUSE_LB_CLIENT_HELLO_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::lb {

// A TLS record's header and the largest plaintext fragment it may carry (RFC 8446 §5.1): the
// most a listener needs to peek to see a ClientHello that fits one record.
inline constexpr size_t kTlsRecordHeaderBytes = 5;
inline constexpr size_t kMaxTlsRecordPayloadBytes = 16384;
inline constexpr size_t kMaxClientHelloPeekBytes =
    kTlsRecordHeaderBytes + kMaxTlsRecordPayloadBytes;

struct ClientHello {
  // The host_name of the server_name extension, lower-cased; empty when the client sent none
  // (e.g. it connected to an IP address).
  std::string server_name;
};

// Parses the first TLS record of a connection.
// - OutOfRange: `bytes` end before the record does, and nothing seen so far is wrong: peek
//   more (up to the record's length, which is at most kMaxClientHelloPeekBytes).
// - InvalidArgument, saying what is wrong: not a TLS handshake record, not a ClientHello, a
//   ClientHello longer than its record, a length that overruns what encloses it, a
//   server_name that is malformed, repeated, or not a valid host name (letters, digits, '-'
//   and '.', labels of 1–63, at most 253 in all).
absl::StatusOr<ClientHello> ParseClientHello(absl::string_view bytes);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_CLIENT_HELLO_H_
