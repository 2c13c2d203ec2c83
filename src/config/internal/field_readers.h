// Typed readers for single config values: each reads one scalar field through DocumentReader,
// parses it with config/value_parsers.h and turns a parse error into a positioned
// "<source>:<line>:<column>: <path>: <what>" error. Shared by the sections of the loader.
// Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_INTERNAL_FIELD_READERS_H_
#define GATEHOUSE_CONFIG_INTERNAL_FIELD_READERS_H_

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {

absl::StatusOr<Address> ReadAddress(const DocumentReader& reader, const Field& field);

// A duration above zero ("250ms", "2s").
absl::StatusOr<std::chrono::nanoseconds> ReadPositiveDuration(const DocumentReader& reader,
                                                              const Field& field);

// A size above zero with an optional unit ("512MiB", "1GB"; config/value_parsers.h).
absl::StatusOr<uint64_t> ReadByteSize(const DocumentReader& reader, const Field& field);

// A whole number from `min` to `max`.
absl::StatusOr<uint32_t> ReadCount(const DocumentReader& reader, const Field& field, uint32_t min,
                                   uint32_t max);

// A non-negative decimal number ("0.5", "20").
absl::StatusOr<double> ReadDecimal(const DocumentReader& reader, const Field& field);

// One of a fixed set of names, mapped to its value; the error lists the names.
template <typename Enum>
using NamedValue = std::pair<absl::string_view, Enum>;

template <typename Enum>
absl::StatusOr<Enum> ReadChoice(const DocumentReader& reader, const Field& field,
                                std::span<const NamedValue<Enum>> choices) {
  auto text = reader.ReadScalar(field);
  if (!text.ok()) return text.status();
  std::string names;
  for (const auto& [name, value] : choices) {
    if (name == *text) return value;
    if (!names.empty()) names += ", ";
    names.append(name.data(), name.size());
  }
  return reader.FieldError(field, Quote(*text) + " is not one of: " + names);
}

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_FIELD_READERS_H_
