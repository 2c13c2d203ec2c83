// Parsers for the scalar value forms of the config file: durations, byte sizes and addresses.
//
// Each takes the text of one YAML scalar and returns the typed value, or InvalidArgument with a
// message that quotes the input but carries no file position: the loader adds
// "<file>:<line>:<column>: <field>: " in front. They accept exactly the documented forms, with
// no surrounding spaces, signs or fractions, so a typo is an error rather than a surprise.
// Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_VALUE_PARSERS_H_
#define GATEHOUSE_CONFIG_VALUE_PARSERS_H_

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace gatehouse::config {

// A non-negative decimal integer followed by exactly one unit: ns, us, ms, s, m or h
// ("250ms", "2s", "5m"). InvalidArgument for an empty string, a missing or unknown unit, a sign,
// a fraction, compound forms ("1m30s"), or a value that overflows std::chrono::nanoseconds.
absl::StatusOr<std::chrono::nanoseconds> ParseDuration(absl::string_view text);

// A non-negative decimal integer of bytes, optionally followed by a unit: KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. "512MiB". InvalidArgument for
// an empty string, an unknown unit (units are case-sensitive), a fraction, or a value that
// overflows uint64_t.
absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text);

// A decimal integer from 0 to `max`, digits only ("8", not "+8", "8.0" or " 8").
// InvalidArgument naming the range otherwise.
absl::StatusOr<uint64_t> ParseCount(absl::string_view text, uint64_t max);

// A non-negative decimal number with an optional fraction ("2", "0.5"); no sign, exponent,
// leading or trailing point, or more than 15 integer digits. InvalidArgument otherwise.
absl::StatusOr<double> ParseDecimal(absl::string_view text);

// "HOST:PORT" where HOST is an IPv4 literal ("127.0.0.1:9901") or a bracketed IPv6 literal
// ("[::1]:9901") and PORT is decimal in 0-65535. Host names ("localhost:80"), a missing port,
// an empty host, unbracketed IPv6 and IPv6 zone ids are InvalidArgument.
absl::StatusOr<Address> ParseAddress(absl::string_view text);

// ParseAddress, or "HOST:FIRST-LAST" for the ports FIRST to LAST (1 <= FIRST <= LAST <= 65535;
// "HOST:20000-20000" is the one port 20000): what an lb app may listen on.
absl::StatusOr<Address> ParseListenAddress(absl::string_view text);

}  // namespace gatehouse::config

#endif  // GATEHOUSE_CONFIG_VALUE_PARSERS_H_
