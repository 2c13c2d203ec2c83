#include "testing/temp_dir.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

#include "gtest/gtest.h"

namespace gatehouse::testing {

TempDir::TempDir() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests never modify the environment.
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/gatehouse-test-XXXXXX";
  // mkdtemp creates the directory 0700.
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << " failed";
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;  // best effort: a test's leftovers must not fail another test
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(std::string_view name) const { return (path_ / name).string(); }

std::string TempDir::WriteFile(std::string_view name, std::string_view contents) const {
  std::string file = File(name);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) ADD_FAILURE() << "cannot write " << file;
  return file;
}

unsigned FileMode(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    ADD_FAILURE() << "cannot stat " << path;
    return 0;
  }
  return info.st_mode & 07777;
}

std::string ReadFileOrFail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace gatehouse::testing
