// DocumentReader: strict, position-aware access to a parsed YAML document for the config loader.
//
// It checks node kinds, mapping keys and string values, and builds every error as
// InvalidArgument "<source>:<line>:<column>: <what>" with 1-based positions. It knows nothing of
// the config schema: config_loader.cc says which keys exist and what they mean. yaml-cpp's
// node accessors used here (Type, Scalar, Mark, iteration) do not throw on the valid nodes a
// parsed document holds, so nothing here throws. Thread-compatible.
#ifndef GATEHOUSE_CONFIG_INTERNAL_DOCUMENT_READER_H_
#define GATEHOUSE_CONFIG_INTERNAL_DOCUMENT_READER_H_

#include <span>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::config::internal {

// One node of the document and what an error about it needs.
struct Field {
  YAML::Node node;
  // Dotted path from the top, e.g. "authorization.apps.web.users[1]"; empty for the document.
  std::string path;
  // The key this node sits under in its parent mapping; empty for sequence items and the top.
  std::string key;
  // Where the key is (or the node itself when there is no key).
  YAML::Mark key_mark;
  // Where errors about the value point: the node itself, except for an empty value, which
  // yaml-cpp marks at the token after it (often the next line), so the key is used instead.
  YAML::Mark mark;
};

// The field for a whole document.
Field DocumentField(const YAML::Node& root);

// Quotes text from the document for a message, escaping control characters and quotes.
std::string Quote(absl::string_view text);

// The entry named `key` among `entries` (as ReadEntries returns them); nullptr when none is.
const Field* FindEntry(const std::vector<Field>& entries, absl::string_view key);

class DocumentReader {
 public:
  // `source_name` starts every message: a file path, or a name like "<embedded default config>".
  explicit DocumentReader(absl::string_view source_name) : source_name_(source_name) {}

  // InvalidArgument "<source>:<line>:<column>: <what>".
  absl::Status ErrorAt(const YAML::Mark& mark, absl::string_view what) const;
  // ErrorAt(field.mark, "<field.path>: <what>").
  absl::Status FieldError(const Field& field, absl::string_view what) const;

  // The entries of the mapping `field`, in document order. InvalidArgument unless `field` is a
  // mapping whose keys are distinct, non-empty strings.
  absl::StatusOr<std::vector<Field>> ReadEntries(const Field& field) const;
  // As ReadEntries, and every key must be one of `allowed`.
  absl::StatusOr<std::vector<Field>> ReadEntries(const Field& field,
                                                 std::span<const absl::string_view> allowed) const;
  // InvalidArgument naming the first of `required` that no entry has, pointing at `field`.
  absl::Status RequireKeys(const Field& field, const std::vector<Field>& entries,
                           std::span<const absl::string_view> required) const;

  // The value of a scalar; InvalidArgument for any other kind. May be empty.
  absl::StatusOr<std::string> ReadScalar(const Field& field) const;
  // As ReadScalar, and the value must not be empty.
  absl::StatusOr<std::string> ReadString(const Field& field) const;
  // The items of the sequence `field`, in order, with paths "<path>[<index>]". InvalidArgument
  // unless `field` is a sequence (an empty one gives no items).
  absl::StatusOr<std::vector<Field>> ReadSequence(const Field& field) const;

 private:
  absl::StatusOr<Field> EntryField(const Field& parent, const YAML::Node& key,
                                   const YAML::Node& value) const;

  std::string source_name_;
};

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_DOCUMENT_READER_H_
