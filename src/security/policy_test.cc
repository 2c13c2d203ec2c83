#include "security/policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;

AuthorizationPolicy MakePolicy() {
  PolicyRules rules;
  rules.admin_role = "admin";
  rules.apps["web"] = AccessRule{.users = {"alice"}, .roles = {"web-dev"}};
  rules.apps["db"] = AccessRule{.users = {}, .roles = {"dba"}};
  rules.apps["public"] = AccessRule{.users = {"*"}, .roles = {}};
  rules.apps["nobody"] = AccessRule{};
  rules.job_start = AccessRule{.users = {"carol"}, .roles = {"dev"}};
  auto policy = AuthorizationPolicy::Create(std::move(rules));
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

struct AppCase {
  std::string name;
  Identity identity;
  std::string app;
  bool allowed;
};

class AppDecisionTest : public ::testing::TestWithParam<AppCase> {};

TEST_P(AppDecisionTest, MatchesTable) {
  const AppCase& c = GetParam();
  EXPECT_EQ(MakePolicy().MayUseApp(c.identity, c.app), c.allowed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AppDecisionTest,
    ::testing::Values(AppCase{"UserListed", {"alice", {}}, "web", true},
                      AppCase{"RoleListed", {"bob", {"web-dev"}}, "web", true},
                      AppCase{"RoleAmongSeveral", {"bob", {"x", "dba"}}, "db", true},
                      AppCase{"NeitherUserNorRole", {"bob", {"dev"}}, "web", false},
                      AppCase{"UnknownRole", {"bob", {"no-such-role"}}, "db", false},
                      AppCase{"UnknownApp", {"alice", {"web-dev"}}, "unknown", false},
                      AppCase{"AppWithoutRuleDeniesAll", {"alice", {"admin"}}, "nobody", false},
                      AppCase{"AdminRoleGrantsNoAppByItself", {"root", {"admin"}}, "web", false},
                      AppCase{"WildcardAdmitsAnyUser", {"zed", {}}, "public", true},
                      AppCase{"EmptyUserDeniedEvenByWildcard", {"", {"web-dev"}}, "public", false},
                      AppCase{"EmptyUserDeniedEvenWithRole", {"", {"web-dev"}}, "web", false},
                      AppCase{"NamesAreCaseSensitive", {"Alice", {}}, "web", false},
                      AppCase{"RoleIsNotAUser", {"web-dev", {}}, "web", false}),
    [](const ::testing::TestParamInfo<AppCase>& param_info) { return param_info.param.name; });

struct JobCase {
  std::string name;
  Identity identity;
  JobAction action;
  std::string owner;
  bool allowed;
};

class JobDecisionTest : public ::testing::TestWithParam<JobCase> {};

TEST_P(JobDecisionTest, MatchesTable) {
  const JobCase& c = GetParam();
  EXPECT_EQ(MakePolicy().MayDoJobAction(c.identity, c.action, c.owner), c.allowed);
}

INSTANTIATE_TEST_SUITE_P(
    Table, JobDecisionTest,
    ::testing::Values(
        JobCase{"StartByListedUser", {"carol", {}}, JobAction::kStart, "", true},
        JobCase{"StartByRole", {"dan", {"dev"}}, JobAction::kStart, "", true},
        JobCase{"StartByAdmin", {"root", {"admin"}}, JobAction::kStart, "", true},
        JobCase{"StartDeniedOtherwise", {"eve", {"web-dev"}}, JobAction::kStart, "", false},
        JobCase{"StartDeniedUnknownRole", {"eve", {"nope"}}, JobAction::kStart, "", false},
        JobCase{"StatusOwn", {"eve", {}}, JobAction::kStatus, "eve", true},
        JobCase{"StreamOwn", {"eve", {}}, JobAction::kStream, "eve", true},
        JobCase{"StopOwn", {"eve", {}}, JobAction::kStop, "eve", true},
        JobCase{"StatusOthers", {"eve", {"dev"}}, JobAction::kStatus, "carol", false},
        JobCase{"StreamOthers", {"eve", {"dev"}}, JobAction::kStream, "carol", false},
        JobCase{"StopOthers", {"eve", {"dev"}}, JobAction::kStop, "carol", false},
        JobCase{"AdminStopsOthers", {"root", {"admin"}}, JobAction::kStop, "carol", true},
        JobCase{"AdminStreamsOthers", {"root", {"admin"}}, JobAction::kStream, "carol", true},
        JobCase{"EmptyUserNoStart", {"", {"admin"}}, JobAction::kStart, "", false},
        JobCase{"EmptyUserNotOwnerOfEmpty", {"", {}}, JobAction::kStatus, "", false},
        JobCase{"EmptyOwnerMatchesNobody", {"eve", {}}, JobAction::kStop, "", false}),
    [](const ::testing::TestParamInfo<JobCase>& param_info) { return param_info.param.name; });

TEST(AuthorizationPolicyTest, IsAdminNeedsTheConfiguredRoleAndAUser) {
  PolicyRules rules;
  rules.admin_role = "ops";
  auto policy = AuthorizationPolicy::Create(rules);
  ASSERT_TRUE(policy.ok());
  EXPECT_TRUE(policy->IsAdmin({"root", {"ops"}}));
  EXPECT_FALSE(policy->IsAdmin({"root", {"admin"}}));
  EXPECT_FALSE(policy->IsAdmin({"", {"ops"}}));
}

TEST(AuthorizationPolicyTest, EmptyRulesDenyEverything) {
  auto policy = AuthorizationPolicy::Create(PolicyRules{});
  ASSERT_TRUE(policy.ok());
  EXPECT_FALSE(policy->MayUseApp({"alice", {"dev"}}, "web"));
  EXPECT_FALSE(policy->MayDoJobAction({"alice", {"dev"}}, JobAction::kStart, ""));
}

TEST(AuthorizationPolicyTest, RejectsMalformedRules) {
  PolicyRules empty_user;
  empty_user.apps["web"].users = {""};
  EXPECT_THAT(AuthorizationPolicy::Create(empty_user),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("app \"web\": empty user")));
  PolicyRules wildcard_role;
  wildcard_role.job_start.roles = {"*"};
  EXPECT_THAT(AuthorizationPolicy::Create(wildcard_role),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs.start")));
  PolicyRules no_admin_role;
  no_admin_role.admin_role.clear();
  EXPECT_THAT(AuthorizationPolicy::Create(no_admin_role),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admin role")));
  PolicyRules empty_app;
  empty_app.apps[""] = AccessRule{.users = {"a"}, .roles = {}};
  EXPECT_THAT(AuthorizationPolicy::Create(empty_app),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("app name")));
}

}  // namespace
}  // namespace gatehouse::security
