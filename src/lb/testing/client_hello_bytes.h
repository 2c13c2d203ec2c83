// Real ClientHellos for tests and the fuzzer's seeds: what OpenSSL's client sends first, made
// in memory without a socket.
#ifndef GATEHOUSE_LB_TESTING_CLIENT_HELLO_BYTES_H_
#define GATEHOUSE_LB_TESTING_CLIENT_HELLO_BYTES_H_

#include <string>

namespace gatehouse::lb::testing {

// The first flight of an OpenSSL 3 TLS client (one record holding the ClientHello) that asks
// for `server_name`; no server_name extension when it is empty. Empty on an OpenSSL failure.
std::string OpenSslClientHello(const std::string& server_name);

}  // namespace gatehouse::lb::testing

#endif  // GATEHOUSE_LB_TESTING_CLIENT_HELLO_BYTES_H_
