// RedisServer: a private redis-server for one test, on 127.0.0.1 and a free port, with a fresh
// random password (requirepass), no persistence (`--save ''`, `--appendonly no`) and its working
// directory in a TempDir. Start-up waits until the server says it accepts connections. `Kill()`
// simulates a crash (SIGKILL); `Restart()` brings a new, empty server up on the same port with
// the same password. The destructor kills and reaps it. Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_REDIS_SERVER_H_
#define GATEHOUSE_TESTS_TESTING_REDIS_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse::testing {

class RedisServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/redis-server";

  // False when redis-server is not installed: tests then GTEST_SKIP().
  static bool IsInstalled();

  // Starts the server; on failure the test fails and `is_running()` is false.
  RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  RedisServer(RedisServer&&) = delete;
  RedisServer& operator=(RedisServer&&) = delete;
  ~RedisServer();

  uint16_t port() const { return port_; }
  const std::string& password() const { return password_; }
  bool is_running() const { return process_ != nullptr; }

  // SIGKILL and reap. The port is free again afterwards.
  void Kill();
  // Kill (if running), then start again on the same port; true when it is accepting connections.
  bool Restart();

 private:
  // Starts on `port_`; true when ready. On failure the process is gone and `output` says why.
  bool StartOnPort(std::string* output);

  TempDir dir_;
  std::string password_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_REDIS_SERVER_H_
