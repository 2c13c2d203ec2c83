// AccessRecord: what the load balancer logs once per client connection when it ends, in the
// format of the daemon's log (`log.format`): text "key=value" pairs or a JSON object (see
// base::AccessLogger). Client-supplied text (the certificate's user name) is escaped in both,
// so it can neither forge a log line nor smuggle terminal escapes.
#ifndef GATEHOUSE_LBSERVER_ACCESS_LOG_H_
#define GATEHOUSE_LBSERVER_ACCESS_LOG_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "base/logging.h"
#include "lbserver/close_reason.h"

namespace gatehouse::lbserver {

struct AccessRecord {
  std::string app;
  std::string client;    // "192.0.2.1:51000"
  std::string identity;  // the user, "" for none (plain TCP, or before the handshake)
  std::string upstream;  // "" when none was reached
  uint64_t client_to_upstream_bytes = 0;
  uint64_t upstream_to_client_bytes = 0;
  std::chrono::nanoseconds duration{0};
  CloseReason end = CloseReason::kClosed;
  std::string detail;  // the handshake failure or error, when there is one
  // tls: sni apps: the server name the client asked for ("" when none, or not read); `app` is
  // then the route's app once one was found.
  std::string server_name;
};

// The fields of one line, for `format` (see base::AccessLogger for where they go).
std::string FormatAccessRecord(const AccessRecord& record, base::LogFormat format);

// Formats `record` for the current log format and writes it to the access log.
void WriteAccessLog(const AccessRecord& record);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_ACCESS_LOG_H_
