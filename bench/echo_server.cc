// echo_server: the loopback peer for gatebench's own benchmark (bench/gatebench_overhead.sh).
// Echoes every byte back, or with --discard reads and drops them (the sink for throughput
// mode, reading into a 128 KiB buffer as iperf3's server does). One io_context run by
// --threads threads; each connection is a coroutine that reads what is there and writes it back.
//
//   echo_server --listen 127.0.0.1:9100 [--threads 1] [--discard]
#include <csignal>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/signal_set.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"

namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kBufferBytes = size_t{128} * 1024;

asio::awaitable<void> Serve(tcp::socket socket, bool discard) {
  std::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::vector<char> buffer(kBufferBytes);
  while (true) {
    auto [read_error, bytes] = co_await socket.async_read_some(asio::buffer(buffer), kAsTuple);
    if (read_error) co_return;
    if (discard) continue;
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(buffer.data(), bytes), kAsTuple);
    if (write_error) co_return;
  }
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor, bool discard) {
  while (true) {
    auto [error, socket] = co_await acceptor.async_accept(kAsTuple);
    if (error) co_return;
    asio::co_spawn(acceptor.get_executor(), Serve(std::move(socket), discard), asio::detached);
  }
}

int Run(int argc, char** argv) {
  CLI::App app{"echo_server: loopback echo or discard server (gatebench benchmark)"};
  std::string listen = "127.0.0.1:9100";
  int threads = 1;
  bool discard = false;
  app.add_option("--listen", listen, "IP:PORT to accept on");
  app.add_option("--threads", threads, "threads running the io_context")->check(CLI::Range(1, 64));
  app.add_flag("--discard", discard, "read and drop instead of echoing");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);

  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "echo_server: --listen wants IP:PORT, got " << listen << "\n";
    return 2;
  }
  asio::io_context io;
  const tcp::endpoint endpoint(asio::ip::make_address(listen.substr(0, colon)),
                               static_cast<uint16_t>(std::stoi(listen.substr(colon + 1))));
  tcp::acceptor acceptor(io, endpoint, /*reuse_addr=*/true);
  asio::co_spawn(io, AcceptLoop(acceptor, discard), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code&, int) { io.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (std::thread& thread : pool) thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "echo_server: " << error.what() << "\n";
    return 1;
  }
}
