// libFuzzer target: lb::ParseClientHello on arbitrary bytes. ASan and UBSan turn a read past the
// input or an overflow into a crash; the checks below turn a wrong answer into one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lb/client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<gatehouse::lb::ClientHello> parsed = gatehouse::lb::ParseClientHello(bytes);
  if (parsed.ok()) {
    // A name is lower-case and of host-name length, and came from a whole record.
    if (parsed->server_name.size() > 253) std::abort();
    for (const char c : parsed->server_name) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
    if (size < gatehouse::lb::kTlsRecordHeaderBytes) std::abort();
  } else if (parsed.status().code() != absl::StatusCode::kOutOfRange &&
             parsed.status().code() != absl::StatusCode::kInvalidArgument) {
    std::abort();
  } else if (parsed.status().code() == absl::StatusCode::kOutOfRange &&
             size >= gatehouse::lb::kMaxClientHelloPeekBytes) {
    std::abort();  // "peek more" past the largest record would never end
  }
  return 0;
}
