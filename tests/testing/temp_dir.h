// TempDir: a fresh private (0700) directory under $TMPDIR or /tmp, removed recursively on
// destruction. Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_TEMP_DIR_H_
#define GATEHOUSE_TESTS_TESTING_TEMP_DIR_H_

#include <filesystem>
#include <string>
#include <string_view>

namespace gatehouse::testing {

class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string.
  std::string File(std::string_view name) const;
  // Writes `contents` to path() / name (replacing it) and returns that path.
  std::string WriteFile(std::string_view name, std::string_view contents) const;

 private:
  std::filesystem::path path_;
};

// Permission bits of `path` (e.g. 0600); fails the current test if it cannot stat it.
unsigned FileMode(const std::string& path);

// Reads a whole file; fails the current test and returns "" if it cannot.
std::string ReadFileOrFail(const std::string& path);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_TEMP_DIR_H_
