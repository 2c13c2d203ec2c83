// HttpGet: a blocking HTTP/1.1 GET against 127.0.0.1 for tests of the admin endpoint, with
// socket timeouts so a broken server fails the test instead of hanging it.
#ifndef GATEHOUSE_TESTS_TESTING_HTTP_GET_H_
#define GATEHOUSE_TESTS_TESTING_HTTP_GET_H_

#include <cstdint>
#include <string>

namespace gatehouse::testing {

struct HttpResponse {
  int status = 0;  // 0 when no response arrived
  std::string headers;
  std::string body;
};

HttpResponse HttpGet(uint16_t port, const std::string& path);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_HTTP_GET_H_
