// lb_forward_server: the lb library as a bare TCP forwarder, for side-by-side throughput runs
// against HAProxy and nginx (bench/forwarder_throughput.sh). One listener, one upstream, N
// worker threads each with its own io_context; accepted connections are spread round-robin over
// the workers and live on one worker for their whole life.
//
//   lb_forward_server --listen 127.0.0.1:9000 --upstream 127.0.0.1:5201 [--workers 1]
//                     [--copy]   # read/write through a buffer instead of splice(2)
//                     [--pipe-bytes N]  # pipe capacity per direction on the splice path
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/signal_set.hpp"
#include "asio/use_awaitable.hpp"
#include "lb/balancer.h"
#include "lb/dialer.h"
#include "lb/forwarder.h"

namespace {

using asio::ip::tcp;
using gatehouse::lb::Balancer;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

tcp::endpoint ParseEndpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  return {asio::ip::make_address(text.substr(0, colon)),
          static_cast<uint16_t>(std::stoi(text.substr(colon + 1)))};
}

asio::awaitable<void> Serve(tcp::socket client, Balancer& balancer,
                            gatehouse::lb::ForwarderOptions options) {
  auto dialed = co_await gatehouse::lb::Dial(balancer, gatehouse::lb::DialOptions{});
  if (!dialed.ok()) co_return;
  std::error_code ignored;
  client.set_option(tcp::no_delay(true), ignored);
  co_await gatehouse::lb::Forward(std::move(client), std::move(dialed->socket), options);
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor,
                                 std::vector<std::unique_ptr<asio::io_context>>& workers,
                                 Balancer& balancer, gatehouse::lb::ForwarderOptions options) {
  for (size_t next = 0;; ++next) {
    asio::io_context& worker = *workers[next % workers.size()];
    auto [error, client] = co_await acceptor.async_accept(worker, kAsTuple);
    if (error) co_return;
    asio::co_spawn(worker, Serve(std::move(client), balancer, options), asio::detached);
  }
}

int Run(int argc, char** argv) {
  CLI::App app{"lb_forward_server: the gatehouse lb forwarder as a bare TCP proxy (benchmarks)"};
  std::string listen = "127.0.0.1:9000";
  std::string upstream = "127.0.0.1:5201";
  int workers_count = 1;
  bool copy = false;
  uint32_t pipe_bytes = gatehouse::lb::ForwarderOptions{}.pipe_bytes;
  app.add_option("--listen", listen, "IP:PORT to accept on");
  app.add_option("--upstream", upstream, "IP:PORT to forward to");
  app.add_option("--workers", workers_count, "worker threads")->check(CLI::Range(1, 64));
  app.add_flag("--copy", copy, "copy through a user-space buffer instead of splice(2)");
  app.add_option("--pipe-bytes", pipe_bytes, "pipe capacity per direction (splice)")
      ->check(CLI::Range(4096U, 16U << 20U));
  CLI11_PARSE(app, argc, argv);
  // Required by lb::Forward: splice(2) to a closed peer raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  auto balancer = gatehouse::lb::MakeBalancer(
      gatehouse::lb::BalancingAlgorithm::kRoundRobin,
      {std::make_shared<gatehouse::lb::Upstream>(ParseEndpoint(upstream))});
  gatehouse::lb::ForwarderOptions options;
  options.use_splice = !copy;
  options.pipe_bytes = pipe_bytes;

  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (int i = 0; i < workers_count; ++i) {
    workers.push_back(std::make_unique<asio::io_context>(1));
    guards.push_back(asio::make_work_guard(*workers.back()));
  }
  tcp::acceptor acceptor(*workers[0], ParseEndpoint(listen));
  asio::signal_set signals(*workers[0], SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) {
    for (auto& worker : workers) worker->stop();
  });
  asio::co_spawn(*workers[0], AcceptLoop(acceptor, workers, *balancer, options), asio::detached);
  std::cout << "forwarding " << listen << " -> " << upstream << " on " << workers_count
            << " worker(s), " << (copy ? "copy" : "splice") << std::endl;
  std::vector<std::thread> threads;
  for (int i = 1; i < workers_count; ++i) threads.emplace_back([&, i] { workers[i]->run(); });
  workers[0]->run();
  for (auto& thread : threads) thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& error) {  // bad addresses from the command line
    std::cerr << "lb_forward_server: " << error.what() << "\n";
    return 1;
  }
}
