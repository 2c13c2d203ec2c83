// Propagation macros for absl::Status / absl::StatusOr (Debian's Abseil 20220623 ships none).
//
//   GH_RETURN_IF_ERROR(DoThing());             // returns the Status if it is not OK
//   GH_ASSIGN_OR_RETURN(auto fd, OpenFile(p)); // returns the Status, or moves the value into fd
#ifndef GATEHOUSE_BASE_STATUS_MACROS_H_
#define GATEHOUSE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GH_STATUS_CONCAT_INNER_(a, b) a##b
#define GH_STATUS_CONCAT_(a, b) GH_STATUS_CONCAT_INNER_(a, b)

#define GH_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status gh_status_ = (expr);      \
    if (!gh_status_.ok()) return gh_status_; \
  } while (false)

// `lhs` is a declaration or an lvalue, so it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define GH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#define GH_ASSIGN_OR_RETURN(lhs, expr) \
  GH_ASSIGN_OR_RETURN_IMPL_(GH_STATUS_CONCAT_(gh_statusor_, __LINE__), lhs, expr)
// NOLINTEND(bugprone-macro-parentheses)

// Aborts with a message when an internal invariant is broken. Never for external input.
#define GH_CHECK(cond)                                                                \
  do {                                                                                \
    if (!(cond)) ::gatehouse::base::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace gatehouse::base::internal {
[[noreturn]] void CheckFailed(const char* condition, const char* file, int line);
}  // namespace gatehouse::base::internal

#endif  // GATEHOUSE_BASE_STATUS_MACROS_H_
