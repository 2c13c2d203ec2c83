#include "config/value_parsers.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace gatehouse::config {
namespace {

struct Unit {
  absl::string_view name;
  uint64_t multiplier = 1;
};

constexpr uint64_t kSecondNs = 1'000'000'000;
constexpr std::array<Unit, 6> kDurationUnits = {{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", kSecondNs},
    {"m", 60 * kSecondNs},
    {"h", 3600 * kSecondNs},
}};
constexpr absl::string_view kDurationUnitList = "ns, us, ms, s, m, h";

// The empty unit is plain bytes.
constexpr std::array<Unit, 9> kByteUnits = {{
    {"", 1},
    {"KB", 1'000},
    {"MB", 1'000'000},
    {"GB", 1'000'000'000},
    {"TB", 1'000'000'000'000},
    {"KiB", uint64_t{1} << 10},
    {"MiB", uint64_t{1} << 20},
    {"GiB", uint64_t{1} << 30},
    {"TiB", uint64_t{1} << 40},
}};
constexpr absl::string_view kByteUnitList = "KB, MB, GB, TB, KiB, MiB, GiB, TiB";

constexpr uint64_t kMaxPort = std::numeric_limits<uint16_t>::max();

// Quotes user text for a message. Escaping keeps control characters out of terminals and logs
// and keeps the quotes unambiguous.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), "\"");
}

// Splits "250ms" into the leading digits "250" and the rest "ms".
std::pair<absl::string_view, absl::string_view> SplitLeadingDigits(absl::string_view text) {
  size_t end = 0;
  while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) {
    ++end;
  }
  return {text.substr(0, end), text.substr(end)};
}

// Parses a run of ASCII digits; nullopt when it is empty, holds anything else or exceeds
// `limit`. Written out because absl::SimpleAtoi also accepts a sign and surrounding spaces.
std::optional<uint64_t> ParseDigits(absl::string_view digits, uint64_t limit) {
  if (digits.empty()) {
    return std::nullopt;
  }
  uint64_t value = 0;
  for (const char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (limit - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  return value;
}

const Unit* FindUnit(std::span<const Unit> units, absl::string_view name) {
  for (const Unit& unit : units) {
    if (unit.name == name) {
      return &unit;
    }
  }
  return nullptr;
}

// `digits` (already known to be non-empty digits) times `unit`, or nullopt past `limit`.
std::optional<uint64_t> Scale(absl::string_view digits, const Unit& unit, uint64_t limit) {
  const std::optional<uint64_t> number = ParseDigits(digits, limit);
  if (!number.has_value() || *number > limit / unit.multiplier) {
    return std::nullopt;
  }
  return *number * unit.multiplier;
}

bool IsIpv4Literal(absl::string_view host) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(host.data(), host.size()).c_str(), &addr) == 1;
}

bool IsIpv6Literal(absl::string_view host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(host.data(), host.size()).c_str(), &addr) == 1;
}

// Splits "HOST:PORT" or "[HOST]:PORT" into host and port text; nullopt when the shape or the
// host is wrong. The port is checked by the caller.
std::optional<std::pair<absl::string_view, absl::string_view>> SplitHostPort(
    absl::string_view text) {
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return std::nullopt;
    }
    const absl::string_view host = rest.substr(0, close);
    absl::string_view port = rest.substr(close + 1);
    if (!absl::ConsumePrefix(&port, ":") || !IsIpv6Literal(host)) {
      return std::nullopt;
    }
    return std::make_pair(host, port);
  }
  // Splitting at the first colon sends an unbracketed IPv6 literal ("::1:80") to the IPv4 check,
  // which rejects it: without brackets its port cannot be told apart from its last group.
  const size_t colon = rest.find(':');
  if (colon == absl::string_view::npos) {
    return std::nullopt;
  }
  const absl::string_view host = rest.substr(0, colon);
  if (!IsIpv4Literal(host)) {
    return std::nullopt;
  }
  return std::make_pair(host, rest.substr(colon + 1));
}

}  // namespace

absl::StatusOr<std::chrono::nanoseconds> ParseDuration(absl::string_view text) {
  const auto [digits, unit_name] = SplitLeadingDigits(text);
  if (digits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("duration ", Quote(text),
                     " is not a non-negative integer followed by a unit, such as \"250ms\""));
  }
  if (unit_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "duration ", Quote(text), " has no unit; expected one of: ", kDurationUnitList));
  }
  const Unit* unit = FindUnit(kDurationUnits, unit_name);
  if (unit == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("duration ", Quote(text), " has unknown unit ",
                                                   Quote(unit_name),
                                                   "; expected one of: ", kDurationUnitList));
  }
  constexpr auto kLimit = static_cast<uint64_t>(std::chrono::nanoseconds::max().count());
  const std::optional<uint64_t> nanos = Scale(digits, *unit, kLimit);
  if (!nanos.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("duration ", Quote(text), " is too large"));
  }
  return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(*nanos));
}

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  const auto [digits, unit_name] = SplitLeadingDigits(text);
  if (digits.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "byte size ", Quote(text),
        " is not a non-negative integer followed by an optional unit, such as \"512MiB\""));
  }
  const Unit* unit = FindUnit(kByteUnits, unit_name);
  if (unit == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("byte size ", Quote(text), " has unknown unit ",
                                                   Quote(unit_name), "; expected a whole number ",
                                                   "of bytes or one of: ", kByteUnitList));
  }
  const std::optional<uint64_t> bytes = Scale(digits, *unit, std::numeric_limits<uint64_t>::max());
  if (!bytes.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("byte size ", Quote(text), " is too large"));
  }
  return *bytes;
}

absl::StatusOr<uint64_t> ParseCount(absl::string_view text, uint64_t max) {
  const std::optional<uint64_t> count = ParseDigits(text, max);
  if (!count.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a whole number from 0 to ", max, ", got ", Quote(text)));
  }
  return *count;
}

absl::StatusOr<double> ParseDecimal(absl::string_view text) {
  const auto [whole, rest] = SplitLeadingDigits(text);
  absl::string_view fraction = rest;
  const bool has_point = absl::ConsumePrefix(&fraction, ".");
  const bool is_digits_only = std::all_of(fraction.begin(), fraction.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
  // Digits on both sides of an optional point: "2", "0.5"; not ".5", "5.", "1e3" or "-1".
  if (whole.empty() || (has_point && fraction.empty()) || (!has_point && !rest.empty()) ||
      !is_digits_only || whole.size() > 15) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a non-negative decimal number such as \"0.5\", got ", Quote(text)));
  }
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat("number ", Quote(text), " is out of range"));
  }
  return value;
}

absl::StatusOr<Address> ParseAddress(absl::string_view text) {
  const auto host_port = SplitHostPort(text);
  if (!host_port.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT with an IP address host, got ", Quote(text)));
  }
  const std::optional<uint64_t> port = ParseDigits(host_port->second, kMaxPort);
  if (!port.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT with a port in 0-65535, got ", Quote(text)));
  }
  const absl::string_view host = host_port->first;
  return Address{std::string(host.data(), host.size()), static_cast<uint16_t>(*port)};
}

absl::StatusOr<Address> ParseListenAddress(absl::string_view text) {
  const auto host_port = SplitHostPort(text);
  const size_t dash = host_port.has_value() ? host_port->second.find('-') : absl::string_view::npos;
  if (dash == absl::string_view::npos) return ParseAddress(text);
  const std::optional<uint64_t> first = ParseDigits(host_port->second.substr(0, dash), kMaxPort);
  const std::optional<uint64_t> last = ParseDigits(host_port->second.substr(dash + 1), kMaxPort);
  if (!first.has_value() || !last.has_value() || *first == 0 || *first > *last) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected HOST:FIRST-LAST with ports 1 <= FIRST <= LAST <= 65535, got ", Quote(text)));
  }
  const absl::string_view host = host_port->first;
  return Address{std::string(host.data(), host.size()), static_cast<uint16_t>(*first),
                 static_cast<uint16_t>(*last)};
}

}  // namespace gatehouse::config
