#include "testing/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "base/unique_fd.h"
#include "testing/loopback.h"

namespace gatehouse::testing {

HttpResponse HttpGet(uint16_t port, const std::string& path) {
  HttpResponse response;
  const sockaddr_in address = LoopbackAddress(port);
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SetSocketTimeouts(fd.get(), std::chrono::seconds(5));
  // No ConnectLoopback: a refused connection is an answer here (status 0), not a test failure.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return response;
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return response;
  }
  std::string raw;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), buffer, sizeof(buffer))) > 0) {
    raw.append(buffer, static_cast<size_t>(n));
  }
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return response;
  response.status = std::atoi(raw.c_str() + 9);
  response.headers = raw.substr(0, head_end);
  response.body = raw.substr(head_end + 4);
  return response;
}

}  // namespace gatehouse::testing
