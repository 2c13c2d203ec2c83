#include "config/internal/document_reader.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace gatehouse::config::internal {
namespace {

absl::string_view KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Scalar:
      return "a string";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// "in admin", or "at the top level" for the document itself.
std::string InPath(absl::string_view path) {
  if (path.empty()) {
    return "at the top level";
  }
  return absl::StrCat("in ", path);
}

std::string JoinPath(absl::string_view parent, absl::string_view key) {
  if (parent.empty()) {
    return {key.data(), key.size()};
  }
  return absl::StrCat(parent, ".", key);
}

}  // namespace

Field DocumentField(const YAML::Node& root) {
  return Field{root, /*path=*/"", /*key=*/"", root.Mark(), root.Mark()};
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), "\"");
}

const Field* FindEntry(const std::vector<Field>& entries, absl::string_view key) {
  const auto it = std::find_if(entries.begin(), entries.end(),
                               [key](const Field& entry) { return entry.key == key; });
  return it == entries.end() ? nullptr : &*it;
}

absl::Status DocumentReader::ErrorAt(const YAML::Mark& mark, absl::string_view what) const {
  // yaml-cpp counts from 0 and uses -1 for "no position"; clamping makes that the file's start.
  const int line = std::max(mark.line, 0) + 1;
  const int column = std::max(mark.column, 0) + 1;
  return absl::InvalidArgumentError(absl::StrCat(source_name_, ":", line, ":", column, ": ", what));
}

absl::Status DocumentReader::FieldError(const Field& field, absl::string_view what) const {
  if (field.path.empty()) {
    return ErrorAt(field.mark, what);
  }
  return ErrorAt(field.mark, absl::StrCat(field.path, ": ", what));
}

absl::StatusOr<Field> DocumentReader::EntryField(const Field& parent, const YAML::Node& key,
                                                 const YAML::Node& value) const {
  if (!key.IsScalar()) {
    return ErrorAt(key.Mark(), absl::StrCat("expected a string key ", InPath(parent.path), ", got ",
                                            KindName(key)));
  }
  if (key.Scalar().empty()) {
    return ErrorAt(key.Mark(), absl::StrCat("empty key ", InPath(parent.path)));
  }
  const YAML::Mark value_mark = value.IsNull() ? key.Mark() : value.Mark();
  return Field{value, JoinPath(parent.path, key.Scalar()), key.Scalar(), key.Mark(), value_mark};
}

absl::StatusOr<std::vector<Field>> DocumentReader::ReadEntries(const Field& field) const {
  if (!field.node.IsMap()) {
    if (field.path.empty()) {
      return ErrorAt(field.mark, absl::StrCat("expected the document to be a mapping, got ",
                                              KindName(field.node)));
    }
    return FieldError(field, absl::StrCat("expected a mapping, got ", KindName(field.node)));
  }
  std::vector<Field> entries;
  for (const auto& entry : field.node) {
    GH_ASSIGN_OR_RETURN(Field child, EntryField(field, entry.first, entry.second));
    // yaml-cpp keeps both copies of a repeated key; which one wins would be an accident.
    const bool is_duplicate = std::any_of(entries.begin(), entries.end(),
                                          [&](const Field& seen) { return seen.key == child.key; });
    if (is_duplicate) {
      return ErrorAt(child.key_mark,
                     absl::StrCat("duplicate key ", Quote(child.key), " ", InPath(field.path)));
    }
    entries.push_back(std::move(child));
  }
  return entries;
}

absl::StatusOr<std::vector<Field>> DocumentReader::ReadEntries(
    const Field& field, std::span<const absl::string_view> allowed) const {
  GH_ASSIGN_OR_RETURN(std::vector<Field> entries, ReadEntries(field));
  for (const Field& entry : entries) {
    if (std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end()) {
      return ErrorAt(entry.key_mark,
                     absl::StrCat("unknown key ", Quote(entry.key), " ", InPath(field.path),
                                  "; expected one of: ", absl::StrJoin(allowed, ", ")));
    }
  }
  return entries;
}

absl::Status DocumentReader::RequireKeys(const Field& field, const std::vector<Field>& entries,
                                         std::span<const absl::string_view> required) const {
  for (const absl::string_view key : required) {
    if (FindEntry(entries, key) == nullptr) {
      // The mapping's own mark is its first entry; the key that opens it reads better.
      return ErrorAt(field.key_mark,
                     absl::StrCat(field.path, ": missing required key ", Quote(key)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> DocumentReader::ReadScalar(const Field& field) const {
  if (!field.node.IsScalar()) {
    return FieldError(field, absl::StrCat("expected a string, got ", KindName(field.node)));
  }
  return field.node.Scalar();
}

absl::StatusOr<std::string> DocumentReader::ReadString(const Field& field) const {
  GH_ASSIGN_OR_RETURN(std::string value, ReadScalar(field));
  if (value.empty()) {
    return FieldError(field, "must not be empty");
  }
  return value;
}

absl::StatusOr<std::vector<Field>> DocumentReader::ReadSequence(const Field& field) const {
  if (!field.node.IsSequence()) {
    return FieldError(field, absl::StrCat("expected a sequence, got ", KindName(field.node)));
  }
  std::vector<Field> items;
  for (const YAML::Node& item : field.node) {
    items.push_back(Field{item, absl::StrCat(field.path, "[", items.size(), "]"), /*key=*/"",
                          item.Mark(), item.Mark()});
  }
  return items;
}

}  // namespace gatehouse::config::internal
