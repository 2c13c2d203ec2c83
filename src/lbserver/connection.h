// ServeConnection: the life of one accepted client connection of the load balancer, on the
// worker that accepted it:
//
//   connection caps -> TLS 1.3 handshake under lb.handshake_timeout (TLS apps) -> identity from
//   the verified certificate -> per-client rate limiter (keyed on the user, or on the client's
//   IP for plain apps; before authorization, so denied attempts count too) -> app authorization
//   -> dial an upstream with failover -> optional PROXY v2 header -> forward both ways.
//
// A connection refused at any step is closed at once: the client learns nothing but the close
// (a failed handshake gets TLS's own alert). Every connection ends with one access log line
// (access_log.h) and its counters in the app's metrics. Confined to the worker whose executor
// runs the coroutine.
#ifndef GATEHOUSE_LBSERVER_CONNECTION_H_
#define GATEHOUSE_LBSERVER_CONNECTION_H_

#include <memory>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "lbserver/snapshot.h"

namespace gatehouse::lbserver {

// `snapshot` and `app` (an app of `snapshot`) are kept for the connection's life. `count` is
// borrowed and must outlive the coroutine.
asio::awaitable<void> ServeConnection(asio::ip::tcp::socket client,
                                      std::shared_ptr<const LbSnapshot> snapshot,
                                      std::shared_ptr<const App> app, ConnectionCount* count);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_CONNECTION_H_
