// lb_forward_server: the lb library as a bare TCP forwarder, for side-by-side throughput runs
// against HAProxy and nginx (bench/forwarder_throughput.sh). One listener, one upstream, N
// worker threads each with its own io_context; accepted connections are spread round-robin over
// the workers and live on one worker for their whole life.
//
//   lb_forward_server --listen 127.0.0.1:9000 --upstream 127.0.0.1:5201 [--workers 1]
//                     [--splice auto|always|never]  # lb::SpliceMode; default auto
//                     [--copy]           # the same as --splice never
//                     [--pipe-bytes N]   # pipe capacity on the splice path
//                     [--buffer-bytes N] # buffer on the copy path
//                     [--tls-cert F --tls-key F --tls-ca F]  # terminate mTLS (client
//                                        # certificates from the CA), then forward plain
// On SIGINT or SIGTERM it stops and prints the bytes each path moved, summed over the
// connections that ended (a check that a mode did what it says).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <map>
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
#include "net/tls_stream.h"
#include "security/tls_context.h"

namespace {

using asio::ip::tcp;
using gatehouse::lb::Balancer;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Bytes moved by each path over all ended connections; workers add, main reads after they stop.
std::atomic<uint64_t> spliced_bytes{0};
std::atomic<uint64_t> copied_bytes{0};
std::atomic<uint64_t> path_switches{0};

tcp::endpoint ParseEndpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  return {asio::ip::make_address(text.substr(0, colon)),
          static_cast<uint16_t>(std::stoi(text.substr(colon + 1)))};
}

// Adds what a connection's directions moved to the totals printed at exit.
void Count(const gatehouse::lb::ForwardResult& result) {
  // Relaxed: plain counters, read only after the workers have been joined.
  for (const gatehouse::lb::DirectionStats& stats :
       {result.client_to_upstream, result.upstream_to_client}) {
    spliced_bytes.fetch_add(stats.spliced_bytes, std::memory_order_relaxed);
    copied_bytes.fetch_add(stats.copied_bytes, std::memory_order_relaxed);
    path_switches.fetch_add(stats.splice_switches + stats.copy_switches, std::memory_order_relaxed);
  }
}

asio::awaitable<void> Serve(tcp::socket client, Balancer& balancer,
                            gatehouse::lb::ForwarderOptions options) {
  std::error_code ignored;
  client.set_option(tcp::no_delay(true), ignored);
  auto dialed = co_await gatehouse::lb::Dial(balancer, gatehouse::lb::DialOptions{});
  if (!dialed.ok()) co_return;
  Count(co_await gatehouse::lb::Forward(std::move(client), std::move(dialed->socket), options));
}

asio::awaitable<void> ServeTls(tcp::socket client, Balancer& balancer,
                               gatehouse::lb::ForwarderOptions options, SSL_CTX* tls) {
  std::error_code ignored;
  client.set_option(tcp::no_delay(true), ignored);
  auto stream = std::make_unique<gatehouse::net::TlsStream>(std::move(client), tls);
  if (co_await stream->Handshake(std::chrono::seconds(10))) co_return;
  auto dialed = co_await gatehouse::lb::Dial(balancer, gatehouse::lb::DialOptions{});
  if (!dialed.ok()) co_return;
  Count(co_await gatehouse::lb::Forward(std::move(stream), std::move(dialed->socket), options));
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor,
                                 std::vector<std::unique_ptr<asio::io_context>>& workers,
                                 Balancer& balancer, gatehouse::lb::ForwarderOptions options,
                                 SSL_CTX* tls) {
  for (size_t next = 0;; ++next) {
    asio::io_context& worker = *workers[next % workers.size()];
    auto [error, client] = co_await acceptor.async_accept(worker, kAsTuple);
    if (error) co_return;
    if (tls != nullptr) {
      asio::co_spawn(worker, ServeTls(std::move(client), balancer, options, tls), asio::detached);
    } else {
      asio::co_spawn(worker, Serve(std::move(client), balancer, options), asio::detached);
    }
  }
}

int Run(int argc, char** argv) {
  CLI::App app{"lb_forward_server: the gatehouse lb forwarder as a bare TCP proxy (benchmarks)"};
  std::string listen = "127.0.0.1:9000";
  std::string upstream = "127.0.0.1:5201";
  int workers_count = 1;
  bool copy = false;
  gatehouse::lb::SpliceMode splice = gatehouse::lb::SpliceMode::kAuto;
  const std::map<std::string, gatehouse::lb::SpliceMode> splice_modes = {
      {"auto", gatehouse::lb::SpliceMode::kAuto},
      {"always", gatehouse::lb::SpliceMode::kAlways},
      {"never", gatehouse::lb::SpliceMode::kNever}};
  uint32_t pipe_bytes = gatehouse::lb::ForwarderOptions{}.pipe_bytes;
  uint32_t buffer_bytes = gatehouse::lb::ForwarderOptions{}.buffer_bytes;
  gatehouse::security::TlsFiles tls_files;
  app.add_option("--listen", listen, "IP:PORT to accept on");
  app.add_option("--upstream", upstream, "IP:PORT to forward to");
  app.add_option("--workers", workers_count, "worker threads")->check(CLI::Range(1, 64));
  app.add_option("--splice", splice, "auto: per direction by traffic; always; never")
      ->transform(CLI::CheckedTransformer(splice_modes, CLI::ignore_case));
  app.add_flag("--copy", copy, "the same as --splice never");
  app.add_option("--pipe-bytes", pipe_bytes, "pipe capacity (splice path)")
      ->check(
          CLI::Range(gatehouse::lb::kMinForwarderPipeBytes, gatehouse::lb::kMaxForwarderPipeBytes));
  app.add_option("--buffer-bytes", buffer_bytes, "buffer size (copy path)")
      ->check(CLI::Range(gatehouse::lb::kMinForwarderBufferBytes,
                         gatehouse::lb::kMaxForwarderBufferBytes));
  app.add_option("--tls-cert", tls_files.cert_file, "server certificate (PEM): terminate mTLS");
  app.add_option("--tls-key", tls_files.key_file, "server key (PEM)");
  app.add_option("--tls-ca", tls_files.ca_file, "CA that signs client certificates (PEM)");
  CLI11_PARSE(app, argc, argv);
  gatehouse::security::SslCtxPtr tls;
  if (!tls_files.cert_file.empty()) {
    auto context =
        gatehouse::security::BuildTlsContext(gatehouse::security::TlsRole::kServer, tls_files);
    if (!context.ok()) {
      std::cerr << "lb_forward_server: " << context.status() << "\n";
      return 1;
    }
    tls = std::move(*context);
  }
  // Required by lb::Forward: splice(2) to a closed peer raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  auto balancer = gatehouse::lb::MakeBalancer(
      gatehouse::lb::BalancingAlgorithm::kRoundRobin,
      {std::make_shared<gatehouse::lb::Upstream>(ParseEndpoint(upstream))});
  gatehouse::lb::ForwarderOptions options;
  options.splice = copy ? gatehouse::lb::SpliceMode::kNever : splice;
  options.pipe_bytes = pipe_bytes;
  options.buffer_bytes = buffer_bytes;

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
  asio::co_spawn(*workers[0], AcceptLoop(acceptor, workers, *balancer, options, tls.get()),
                 asio::detached);
  std::cout << "forwarding " << listen << " -> " << upstream << " on " << workers_count
            << " worker(s), splice " << gatehouse::lb::SpliceModeName(options.splice)
            << (tls != nullptr ? ", terminating mTLS" : "") << std::endl;
  std::vector<std::thread> threads;
  for (int i = 1; i < workers_count; ++i) threads.emplace_back([&, i] { workers[i]->run(); });
  workers[0]->run();
  for (auto& thread : threads) thread.join();
  std::cout << "ended connections moved " << spliced_bytes.load() << " bytes by splice, "
            << copied_bytes.load() << " by copy, with " << path_switches.load() << " path switches"
            << std::endl;
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
