// AuthorizationPolicy: the deny-by-default answer to "may this identity do that".
//
// Two questions are answered:
//   MayUseApp(identity, app): the identity may open connections to load-balancer app `app`.
//   MayDoJobAction(identity, action, owner): the identity may start a job, or read the status of,
//   stream the output of, or stop a job owned by `owner`.
// Rules, in order:
//   1. An identity with an empty user is denied everything.
//   2. An identity with the admin role (PolicyRules::admin_role) may do every job action on
//      every job. The admin role grants no app access by itself: apps list who may use them.
//   3. Apps: allowed when the app's AccessRule matches; an app with no rule denies everyone.
//   4. Jobs: kStart is allowed when the job_start rule matches; kStatus, kStream and kStop are
//      allowed on the identity's own jobs (owner == user) only.
// An AccessRule matches when the user is listed in `users` (or `users` holds "*", meaning any
// authenticated user), or when the identity has a role listed in `roles`.
//
// The policy is data: built once from PolicyRules (usually from config) and never changed; a
// reload builds a new one. Immutable after Create, so thread-safe.
#ifndef GATEHOUSE_SECURITY_POLICY_H_
#define GATEHOUSE_SECURITY_POLICY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/identity.h"

namespace gatehouse::security {

// Who a rule lets in: listed users (or "*" for any authenticated user) and listed roles.
struct AccessRule {
  std::vector<std::string> users;
  std::vector<std::string> roles;
};

struct PolicyRules {
  std::string admin_role = "admin";
  // App name -> who may use it.
  std::map<std::string, AccessRule> apps;
  // Who may start jobs.
  AccessRule job_start;
};

enum class JobAction { kStart, kStatus, kStream, kStop };

absl::string_view JobActionName(JobAction action);

class AuthorizationPolicy {
 public:
  // InvalidArgument when a user, role, app name or the admin role is empty, or "*" appears in a
  // role list (wildcards are for users only).
  static absl::StatusOr<AuthorizationPolicy> Create(PolicyRules rules);

  bool MayUseApp(const Identity& identity, absl::string_view app) const;
  // `job_owner` is ignored for kStart.
  bool MayDoJobAction(const Identity& identity, JobAction action,
                      absl::string_view job_owner) const;
  // True when the identity holds the admin role (and has a user): it sees every job.
  bool IsAdmin(const Identity& identity) const;

  const PolicyRules& rules() const { return rules_; }

 private:
  explicit AuthorizationPolicy(PolicyRules rules) : rules_(std::move(rules)) {}
  static bool Matches(const AccessRule& rule, const Identity& identity);

  PolicyRules rules_;
};

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_POLICY_H_
