// LoopbackServer: a TCP server on 127.0.0.1 for tests, one thread per connection running a
// handler on a blocking socket (with 10 s timeouts so a broken test cannot hang forever).
// Destruction shuts every open connection down and joins all threads.
// Thread-safe.
#ifndef GATEHOUSE_TESTS_TESTING_LOOPBACK_SERVER_H_
#define GATEHOUSE_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "base/unique_fd.h"

namespace gatehouse::testing {

class LoopbackServer {
 public:
  // Runs for each connection; `fd` is borrowed and closed by the server when it returns.
  using Handler = std::function<void(int fd)>;

  // Echoes every byte back; on end-of-stream shuts down its sending side and returns.
  static Handler Echo();
  // Writes `line` and a newline, then closes: shows which upstream a connection reached.
  static Handler SayLine(std::string line);

  // Listens on 127.0.0.1:`port` (0 = any free port; a given port is reused with SO_REUSEADDR,
  // so a test can stop and restart an upstream on the same port).
  explicit LoopbackServer(Handler handler = Echo(), uint16_t port = 0);
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  LoopbackServer(LoopbackServer&&) = delete;
  LoopbackServer& operator=(LoopbackServer&&) = delete;
  ~LoopbackServer();

  uint16_t port() const { return port_; }
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t open_connections() const { return open_.load(); }

 private:
  void AcceptLoop();

  Handler handler_;
  base::UniqueFd listener_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  base::Mutex mu_;
  bool is_stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> connection_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connection_threads_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
};

// Writes all of `data`; false on error.
bool WriteAll(int fd, const void* data, size_t size);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_LOOPBACK_SERVER_H_
