// The `gatehouse certs` commands as a user runs them.
#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::FileMode;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::testing::HasSubstr;

ProcessResult Gatehouse(std::vector<std::string> args) {
  args.insert(args.begin(), BuiltProgram("gatehouse"));
  return RunProcess(args);
}

TEST(GatehouseCertsTest, InitAndIssueWriteVerifiableFilesWithPrivateKeys) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ProcessResult init = Gatehouse({"certs", "init", "--dir", dir});
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_THAT(init.output, HasSubstr(dir + "/ca.key"));
  ProcessResult issue = Gatehouse({"certs", "issue", "--dir", dir, "--name", "alice", "--role",
                                   "dev", "--role", "ops", "--days", "30"});
  ASSERT_EQ(issue.exit_code, 0) << issue.output;
  for (const char* key : {"ca.key", "server.key", "alice.key"}) {
    EXPECT_EQ(FileMode(dir + "/" + key), 0600U) << key;
  }
  ProcessResult verify = RunProcess({"/usr/bin/openssl", "verify", "-CAfile", dir + "/ca.pem",
                                     "-purpose", "sslclient", dir + "/alice.pem"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  ProcessResult subject = RunProcess(
      {"/usr/bin/openssl", "x509", "-in", dir + "/alice.pem", "-noout", "-subject", "-enddate"});
  EXPECT_THAT(subject.output, HasSubstr("OU = dev, OU = ops, CN = alice"));
}

TEST(GatehouseCertsTest, IssuesForTheLongestAllowedValidity) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_EQ(Gatehouse({"certs", "init", "--dir", dir}).exit_code, 0);
  ProcessResult issue =
      Gatehouse({"certs", "issue", "--dir", dir, "--name", "long", "--days", "3650"});
  ASSERT_EQ(issue.exit_code, 0) << issue.output;
  // Ten years on the certificate, not a date wrapped around by an overflow.
  ProcessResult check = RunProcess({"/usr/bin/openssl", "x509", "-in", dir + "/long.pem", "-noout",
                                    "-checkend", std::to_string(3649 * 24 * 3600)});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  check = RunProcess({"/usr/bin/openssl", "x509", "-in", dir + "/long.pem", "-noout", "-checkend",
                      std::to_string(3651 * 24 * 3600)});
  EXPECT_NE(check.exit_code, 0) << check.output;
}

TEST(GatehouseCertsTest, RefusesToOverwriteWithoutForce) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_EQ(Gatehouse({"certs", "init", "--dir", dir}).exit_code, 0);
  const std::string ca = ::gatehouse::testing::ReadFileOrFail(dir + "/ca.pem");
  ProcessResult again = Gatehouse({"certs", "init", "--dir", dir});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("already exists (use --force"));
  EXPECT_EQ(::gatehouse::testing::ReadFileOrFail(dir + "/ca.pem"), ca);
  ASSERT_EQ(Gatehouse({"certs", "issue", "--dir", dir, "--name", "bob"}).exit_code, 0);
  EXPECT_EQ(Gatehouse({"certs", "issue", "--dir", dir, "--name", "bob"}).exit_code, 1);
  EXPECT_EQ(Gatehouse({"certs", "issue", "--dir", dir, "--name", "bob", "--force"}).exit_code, 0);
}

struct BadInvocation {
  std::string name;
  std::vector<std::string> args;
  int exit_code;
  std::string message;
};

class BadInvocationTest : public ::testing::TestWithParam<BadInvocation> {};

TEST_P(BadInvocationTest, FailsWithAClearMessage) {
  TempDir tmp;
  ASSERT_EQ(Gatehouse({"certs", "init", "--dir", tmp.File("pki")}).exit_code, 0);
  std::vector<std::string> args = GetParam().args;
  for (std::string& arg : args) {
    if (arg == "PKI") arg = tmp.File("pki");
    if (arg == "EMPTY") arg = tmp.File("empty");
  }
  ProcessResult result = Gatehouse(args);
  EXPECT_EQ(result.exit_code, GetParam().exit_code) << result.output;
  EXPECT_THAT(result.output, HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadInvocationTest,
    ::testing::Values(
        BadInvocation{"NoCommand", {}, 2, "subcommand"},
        BadInvocation{"MissingName", {"certs", "issue", "--dir", "PKI"}, 2, "--name is required"},
        BadInvocation{"UnknownFlag", {"certs", "init", "--dir", "PKI", "--bogus"}, 2, "--bogus"},
        BadInvocation{
            "ReservedName", {"certs", "issue", "--dir", "PKI", "--name", "ca"}, 1, "reserved"},
        BadInvocation{"TraversalName",
                      {"certs", "issue", "--dir", "PKI", "--name", "../../x"},
                      1,
                      "must not start"},
        BadInvocation{"BadRole",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--role", "x y"},
                      1,
                      "role \"x y\""},
        BadInvocation{"NegativeDays",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--days", "-1"},
                      2,
                      "--days must be between 1 and 3650"},
        BadInvocation{"ZeroDays",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--days", "0"},
                      2,
                      "--days must be between 1 and 3650"},
        BadInvocation{"DaysOverTenYears",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--days", "3651"},
                      2,
                      "--days must be between 1 and 3650"},
        // 24 * days overflows int; the hours then overflow system_clock's nanoseconds.
        BadInvocation{"DaysOverflowingInt",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--days", "100000000"},
                      2,
                      "--days must be between 1 and 3650"},
        BadInvocation{"DaysBeyondIntRange",
                      {"certs", "issue", "--dir", "PKI", "--name", "a", "--days", "99999999999"},
                      2,
                      "--days"},
        BadInvocation{
            "NoCa", {"certs", "issue", "--dir", "EMPTY", "--name", "a"}, 1, "certs init"}),
    [](const ::testing::TestParamInfo<BadInvocation>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace gatehouse
