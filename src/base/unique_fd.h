// UniqueFd: sole owner of a file descriptor; closes it on destruction. Move-only.
// Thread-compatible.
#ifndef GATEHOUSE_BASE_UNIQUE_FD_H_
#define GATEHOUSE_BASE_UNIQUE_FD_H_

#include <utility>

namespace gatehouse::base {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd` (-1 means empty).
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool is_valid() const { return fd_ >= 0; }

  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor, if any, and owns `fd` instead.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_UNIQUE_FD_H_
