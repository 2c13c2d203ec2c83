// Worker: one event-loop thread of the load balancer (thread-per-core). It owns an io_context,
// its own listening socket for every listen address (SO_REUSEPORT), the accept loops on them
// and every connection it accepts, from accept to close: connection state is confined to it and
// needs no lock.
//
// The control thread (LbServer) reaches a worker only through the posting methods below; each
// posts to the worker's io_context and returns at once. Thread-safe: those methods may be called
// from any thread; Stop must not be called from the worker's own thread.
#ifndef GATEHOUSE_LBSERVER_WORKER_H_
#define GATEHOUSE_LBSERVER_WORKER_H_

#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "asio/awaitable.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "base/metrics.h"
#include "base/unique_fd.h"
#include "lbserver/snapshot.h"

namespace gatehouse::lbserver {

// Counters shared by the accept loops of all workers.
struct AcceptMetrics {
  base::Counter* resource_errors = nullptr;  // EMFILE, ENFILE, ENOBUFS, ENOMEM: backed off
  base::Counter* other_errors = nullptr;
};

// A listening socket for one configured address, handed to a worker.
struct ListenerSocket {
  std::string address;  // as configured, e.g. "127.0.0.1:8443": the key into app_by_listener
  base::UniqueFd fd;
};

class Worker {
 public:
  // `count` and the metrics' counters are borrowed and must outlive the worker.
  Worker(ConnectionCount* count, AcceptMetrics metrics);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  Worker(Worker&&) = delete;
  Worker& operator=(Worker&&) = delete;
  // Stop().
  ~Worker();

  // Starts the thread.
  void Start();
  // Whether Start ran and Stop has not: only then do Apply's and StopAccepting's futures become
  // ready.
  bool is_running() const { return thread_.joinable(); }

  // From the next accepted connection on, serves with `snapshot`; starts accepting on `added`
  // and closes the listeners of `removed` (connections they accepted go on). The future is
  // ready once the worker has done so.
  std::future<void> Apply(std::shared_ptr<const LbSnapshot> snapshot,
                          std::vector<ListenerSocket> added, std::vector<std::string> removed);

  // Closes every listener; open connections go on. The future is ready once they are closed.
  std::future<void> StopAccepting();

  // Stops the event loop and joins the thread; connections still open are closed when their
  // coroutines are destroyed with the io_context. Idempotent.
  void Stop();

 private:
  struct Listener {
    Listener(asio::io_context& io, std::string address_key)
        : acceptor(io), address(std::move(address_key)) {}
    asio::ip::tcp::acceptor acceptor;
    const std::string address;
  };

  void AddListener(ListenerSocket socket);
  asio::awaitable<void> AcceptLoop(std::shared_ptr<Listener> listener);
  // Starts serving the accepted socket `fd` (owned from here on).
  void Adopt(int fd, const Listener& listener);

  ConnectionCount* const count_;
  const AcceptMetrics metrics_;
  asio::io_context io_{1};
  std::thread thread_;

  // Confined to the worker thread.
  std::shared_ptr<const LbSnapshot> snapshot_;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_WORKER_H_
