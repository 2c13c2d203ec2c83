// WriteFileAtomically: readers see the old file or the complete new one, never a partial write.
#ifndef GATEHOUSE_BASE_ATOMIC_FILE_H_
#define GATEHOUSE_BASE_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gatehouse::base {

enum class ExistingFile { kKeep, kReplace };

// Writes `contents` to a temporary file beside `path` with permissions exactly `mode`, syncs it,
// then moves it into place. With ExistingFile::kKeep an existing `path` is left untouched and the
// result is AlreadyExists (checked atomically with link(2), so two writers cannot both win).
// Other failures carry the path and errno text. Thread-safe (no shared state).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode,
                                 ExistingFile existing);

// Creates `path` and missing parents; the last component gets `mode` if it is created.
absl::Status MakeDirectories(const std::string& path, mode_t mode);

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_ATOMIC_FILE_H_
