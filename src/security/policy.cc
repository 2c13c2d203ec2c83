#include "security/policy.h"

#include "absl/strings/str_cat.h"

namespace gatehouse::security {
namespace {

constexpr absl::string_view kAnyUser = "*";

absl::Status ValidateRule(const AccessRule& rule, absl::string_view where) {
  for (const std::string& user : rule.users) {
    if (user.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty user name"));
  }
  for (const std::string& role : rule.roles) {
    if (role.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty role name"));
    if (role == kAnyUser) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"*\" is only allowed in users, not roles"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view JobActionName(JobAction action) {
  switch (action) {
    case JobAction::kStart:
      return "start";
    case JobAction::kStatus:
      return "status";
    case JobAction::kStream:
      return "stream";
    case JobAction::kStop:
      return "stop";
  }
  return "unknown";
}

absl::StatusOr<AuthorizationPolicy> AuthorizationPolicy::Create(PolicyRules rules) {
  if (rules.admin_role.empty()) return absl::InvalidArgumentError("admin role name is empty");
  for (const auto& [app, rule] : rules.apps) {
    if (app.empty()) return absl::InvalidArgumentError("app name is empty");
    if (absl::Status status = ValidateRule(rule, absl::StrCat("app \"", app, "\"")); !status.ok()) {
      return status;
    }
  }
  if (absl::Status status = ValidateRule(rules.job_start, "jobs.start"); !status.ok()) {
    return status;
  }
  return AuthorizationPolicy(std::move(rules));
}

bool AuthorizationPolicy::Matches(const AccessRule& rule, const Identity& identity) {
  for (const std::string& user : rule.users) {
    if (user == kAnyUser || user == identity.user) return true;
  }
  for (const std::string& role : rule.roles) {
    if (identity.HasRole(role)) return true;
  }
  return false;
}

bool AuthorizationPolicy::IsAdmin(const Identity& identity) const {
  return !identity.user.empty() && identity.HasRole(rules_.admin_role);
}

bool AuthorizationPolicy::MayUseApp(const Identity& identity, absl::string_view app) const {
  if (identity.user.empty()) return false;
  const auto it = rules_.apps.find(static_cast<std::string>(app));
  return it != rules_.apps.end() && Matches(it->second, identity);
}

bool AuthorizationPolicy::MayDoJobAction(const Identity& identity, JobAction action,
                                         absl::string_view job_owner) const {
  if (identity.user.empty()) return false;
  if (IsAdmin(identity)) return true;
  if (action == JobAction::kStart) return Matches(rules_.job_start, identity);
  return !job_owner.empty() && job_owner == identity.user;
}

}  // namespace gatehouse::security
