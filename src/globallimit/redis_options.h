// RedisOptions: where the Redis server that holds global rate-limit buckets lives and how long
// to wait for it. Plain data; thread-compatible.
#ifndef GATEHOUSE_GLOBALLIMIT_REDIS_OPTIONS_H_
#define GATEHOUSE_GLOBALLIMIT_REDIS_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace gatehouse::globallimit {

struct RedisOptions {
  // A numeric address or a host name; TCP only, no TLS (hiredis 0.14 has none).
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string password;  // empty: no AUTH
  // Bounds the connect and every read or write of a command (so also each pipelined reply).
  std::chrono::milliseconds timeout{200};
  // While lease requests wait, Redis counts as unreachable (limiters fall back) once no command
  // has succeeded for this long, even if the connection has not failed yet.
  std::chrono::milliseconds unreachable_after{1000};
};

}  // namespace gatehouse::globallimit

#endif  // GATEHOUSE_GLOBALLIMIT_REDIS_OPTIONS_H_
