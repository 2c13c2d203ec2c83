#include "config/internal/field_readers.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "config/value_parsers.h"

namespace gatehouse::config::internal {

absl::StatusOr<Address> ReadAddress(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(field));
  absl::StatusOr<Address> address = ParseAddress(text);
  if (!address.ok()) return reader.FieldError(field, address.status().message());
  return address;
}

absl::StatusOr<std::chrono::nanoseconds> ReadPositiveDuration(const DocumentReader& reader,
                                                              const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(field));
  absl::StatusOr<std::chrono::nanoseconds> duration = ParseDuration(text);
  if (!duration.ok()) return reader.FieldError(field, duration.status().message());
  if (duration->count() == 0) return reader.FieldError(field, "must be above zero");
  return duration;
}

absl::StatusOr<uint64_t> ReadByteSize(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(field));
  absl::StatusOr<uint64_t> size = ParseByteSize(text);
  if (!size.ok() || *size == 0) {
    return reader.FieldError(field, absl::StrCat("expected a size above 0 such as 512MiB or 1GB, "
                                                 "got ",
                                                 Quote(text)));
  }
  return *size;
}

absl::StatusOr<uint32_t> ReadCount(const DocumentReader& reader, const Field& field, uint32_t min,
                                   uint32_t max) {
  GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(field));
  absl::StatusOr<uint64_t> count = ParseCount(text, max);
  if (!count.ok() || *count < min) {
    return reader.FieldError(field, absl::StrCat("expected a whole number from ", min, " to ", max,
                                                 ", got ", Quote(text)));
  }
  return static_cast<uint32_t>(*count);
}

absl::StatusOr<double> ReadDecimal(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(field));
  absl::StatusOr<double> value = ParseDecimal(text);
  if (!value.ok()) return reader.FieldError(field, value.status().message());
  return value;
}

}  // namespace gatehouse::config::internal
