#include "globallimit/internal/lease_script.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatehouse::globallimit::internal {
namespace {

// Numbers travel as decimal strings; Lua's tonumber reads them back. `%.17g` round-trips doubles.
constexpr absl::string_view kScript = R"lua(
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local debt = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local state = redis.call('HMGET', key, 'tokens', 'ts_ms')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
tokens = tokens - debt
local granted = math.floor(tokens)
if granted < 0 then granted = 0 end
if granted > want then granted = want end
tokens = tokens - granted
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'ts_ms', string.format('%.17g', ts))
redis.call('PEXPIRE', key, ttl_ms)
return granted
)lua";

}  // namespace

absl::string_view LeaseScript() { return kScript; }

std::string BucketKey(absl::string_view app, absl::string_view identity) {
  return absl::StrCat("gatehouse:rl:{", app, "}:", identity);
}

std::chrono::milliseconds BucketTtl(double rate, uint32_t burst) {
  const double refill_ms = static_cast<double>(burst) / rate * 1000.0;
  // Capped at a day: a tiny rate would otherwise overflow the conversion.
  const double ttl_ms = std::min(2.0 * refill_ms + 1000.0, 86400000.0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(ttl_ms)));
}

std::vector<std::string> LeaseCommand(absl::string_view sha, absl::string_view key, double rate,
                                      uint32_t burst, uint64_t debt, uint32_t want,
                                      std::chrono::milliseconds ttl) {
  return {"EVALSHA",
          static_cast<std::string>(sha),
          "1",
          static_cast<std::string>(key),
          absl::StrFormat("%.17g", rate),
          absl::StrCat(burst),
          absl::StrCat(debt),
          absl::StrCat(want),
          absl::StrCat(ttl.count())};
}

}  // namespace gatehouse::globallimit::internal
