#include "security/dev_pki.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/certificate_builder.h"
#include "security/identity.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/tls_test_server.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::FileMode;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(DevPkiTest, InitWritesCaAndServerFilesWithSafeModes) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, /*force=*/false), IsOk());
  const DevPkiPaths paths = DevPkiPathsIn(dir);
  EXPECT_EQ(FileMode(dir), 0700U);
  EXPECT_EQ(FileMode(paths.ca_key), 0600U);
  EXPECT_EQ(FileMode(paths.server_key), 0600U);
  EXPECT_EQ(FileMode(paths.ca_cert), 0644U);
  EXPECT_EQ(FileMode(paths.server_cert), 0644U);
  EXPECT_THAT(ReadFileOrFail(paths.ca_key), HasSubstr("BEGIN PRIVATE KEY"));
}

TEST(DevPkiTest, ChainsVerifyWithTheOpensslBinaryForTheirPurpose) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  ASSERT_THAT(IssueDevClientCertificate(
                  dir, {.name = "alice", .roles = {"dev"}, .validity = kDevLeafValidity}, false),
              IsOk());
  const DevPkiPaths paths = DevPkiPathsIn(dir);
  auto server =
      RunProcess({"/usr/bin/openssl", "verify", "-CAfile", paths.ca_cert, "-purpose", "sslserver",
                  "-verify_hostname", "localhost", "-verify_ip", "::1", paths.server_cert});
  EXPECT_EQ(server.exit_code, 0) << server.output;
  EXPECT_THAT(server.output, HasSubstr(": OK"));
  auto client = RunProcess({"/usr/bin/openssl", "verify", "-CAfile", paths.ca_cert, "-purpose",
                            "sslclient", dir + "/alice.pem"});
  EXPECT_EQ(client.exit_code, 0) << client.output;
  // The client certificate must not pass as a server certificate, nor the reverse.
  auto wrong = RunProcess({"/usr/bin/openssl", "verify", "-CAfile", paths.ca_cert, "-purpose",
                           "sslserver", dir + "/alice.pem"});
  EXPECT_NE(wrong.exit_code, 0) << wrong.output;
  auto wrong_server = RunProcess({"/usr/bin/openssl", "verify", "-CAfile", paths.ca_cert,
                                  "-purpose", "sslclient", paths.server_cert});
  EXPECT_NE(wrong_server.exit_code, 0) << wrong_server.output;
}

TEST(DevPkiTest, IssuedCertificateCarriesNameAndRolesAsIdentity) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  ASSERT_THAT(
      IssueDevClientCertificate(
          dir, {.name = "bob", .roles = {"dev", "admin"}, .validity = kDevLeafValidity}, false),
      IsOk());
  EXPECT_EQ(FileMode(dir + "/bob.key"), 0600U);
  auto cert = ReadCertificateFile(dir + "/bob.pem");
  ASSERT_THAT(cert, IsOk());
  auto identity = IdentityFromCertificate(cert->get());
  ASSERT_THAT(identity, IsOk());
  EXPECT_EQ(identity->user, "bob");
  EXPECT_THAT(identity->roles, ElementsAre("dev", "admin"));
}

TEST(DevPkiTest, SerialNumbersAreRandomAndValidityIsBounded) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  ASSERT_THAT(IssueDevClientCertificate(
                  dir, {.name = "a", .roles = {}, .validity = kDevLeafValidity}, false),
              IsOk());
  ASSERT_THAT(IssueDevClientCertificate(
                  dir, {.name = "b", .roles = {}, .validity = kDevLeafValidity}, false),
              IsOk());
  auto a = ReadCertificateFile(dir + "/a.pem");
  auto b = ReadCertificateFile(dir + "/b.pem");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a->get()), X509_get0_serialNumber(b->get())),
            0);
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(a->get()), X509_get0_notAfter(a->get())),
      1);
  EXPECT_GE(days, 364);
  EXPECT_LE(days, 366);
}

TEST(DevPkiTest, ValidityOfExactlyTenYearsIsIssued) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  ASSERT_THAT(IssueDevClientCertificate(
                  dir, {.name = "long", .roles = {}, .validity = kMaxDevValidity}, false),
              IsOk());
  auto cert = ReadCertificateFile(dir + "/long.pem");
  ASSERT_THAT(cert, IsOk());
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert->get()),
                           X509_get0_notAfter(cert->get())),
            1);
  // notBefore is back-dated by a few minutes.
  EXPECT_EQ(days, kMaxDevValidityDays);
  EXPECT_LT(seconds, 3600);
}

TEST(DevPkiTest, RefusesToOverwriteWithoutForce) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  const std::string ca_before = ReadFileOrFail(DevPkiPathsIn(dir).ca_cert);
  EXPECT_THAT(InitDevPki(dir, false),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("--force")));
  EXPECT_EQ(ReadFileOrFail(DevPkiPathsIn(dir).ca_cert), ca_before);
  ASSERT_THAT(IssueDevClientCertificate(
                  dir, {.name = "alice", .roles = {}, .validity = kDevLeafValidity}, false),
              IsOk());
  EXPECT_THAT(IssueDevClientCertificate(
                  dir, {.name = "alice", .roles = {}, .validity = kDevLeafValidity}, false),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("alice.")));
  EXPECT_THAT(
      IssueDevClientCertificate(dir, {.name = "alice", .roles = {}, .validity = kDevLeafValidity},
                                /*force=*/true),
      IsOk());
  EXPECT_THAT(InitDevPki(dir, /*force=*/true), IsOk());
  EXPECT_NE(ReadFileOrFail(DevPkiPathsIn(dir).ca_cert), ca_before);
}

struct BadRequest {
  std::string name;
  DevClientRequest request;
  std::string error;
};

class BadRequestTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(BadRequestTest, IsRejectedBeforeWritingAnything) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  ASSERT_THAT(InitDevPki(dir, false), IsOk());
  EXPECT_THAT(IssueDevClientCertificate(dir, GetParam().request, /*force=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().error)));
  EXPECT_EQ(FileMode(DevPkiPathsIn(dir).ca_key), 0600U) << "CA untouched";
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadRequestTest,
    ::testing::Values(
        BadRequest{"EmptyName",
                   {.name = "", .roles = {}, .validity = kDevLeafValidity},
                   "must be 1 to 64"},
        BadRequest{
            "ReservedCa", {.name = "ca", .roles = {}, .validity = kDevLeafValidity}, "reserved"},
        BadRequest{"ReservedServer",
                   {.name = "server", .roles = {}, .validity = kDevLeafValidity},
                   "reserved"},
        BadRequest{"PathTraversal",
                   {.name = "../etc/passwd", .roles = {}, .validity = kDevLeafValidity},
                   "must not start"},
        BadRequest{"Slash",
                   {.name = "a/b", .roles = {}, .validity = kDevLeafValidity},
                   "may only contain"},
        BadRequest{"LeadingDash",
                   {.name = "-rf", .roles = {}, .validity = kDevLeafValidity},
                   "must not start"},
        BadRequest{"TooLong",
                   {.name = std::string(65, 'a'), .roles = {}, .validity = kDevLeafValidity},
                   "must be 1 to 64"},
        BadRequest{"BadRole",
                   {.name = "ok", .roles = {"a b"}, .validity = kDevLeafValidity},
                   "role \"a b\""},
        BadRequest{
            "EmptyRole", {.name = "ok", .roles = {""}, .validity = kDevLeafValidity}, "role \"\""},
        BadRequest{"ZeroValidity",
                   {.name = "ok", .roles = {}, .validity = std::chrono::hours(0)},
                   "validity must be between 1 hour and 3650 days, got 0 hours"},
        BadRequest{"NegativeValidity",
                   {.name = "ok", .roles = {}, .validity = std::chrono::hours(-24)},
                   "validity must be between 1 hour and 3650 days, got -24 hours"},
        BadRequest{
            "ValidityOfADayOverTenYears",
            {.name = "ok", .roles = {}, .validity = kMaxDevValidity + std::chrono::hours(24)},
            "validity must be between 1 hour and 3650 days, got 87624 hours"},
        // Would overflow system_clock's nanoseconds when added to now.
        BadRequest{"ValidityOfThreeHundredYears",
                   {.name = "ok", .roles = {}, .validity = std::chrono::hours(24 * 365 * 300)},
                   "validity must be between 1 hour and 3650 days"},
        BadRequest{"LargestValidity",
                   {.name = "ok", .roles = {}, .validity = std::chrono::hours::max()},
                   "validity must be between 1 hour and 3650 days"}),
    [](const ::testing::TestParamInfo<BadRequest>& param_info) { return param_info.param.name; });

TEST(DevPkiTest, IssueWithoutCaIsNotFound) {
  TempDir tmp;
  EXPECT_THAT(
      IssueDevClientCertificate(
          tmp.path().string(), {.name = "alice", .roles = {}, .validity = kDevLeafValidity}, false),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("certs init")));
}

TEST(DevPkiTest, EnsureCreatesOnceThenReusesAndRefusesPartialState) {
  TempDir tmp;
  const std::string dir = tmp.File("state/pki");
  auto created = EnsureDevPki(dir);
  ASSERT_THAT(created, IsOk());
  EXPECT_TRUE(*created);
  EXPECT_EQ(FileMode(dir + "/admin.key"), 0600U);
  auto again = EnsureDevPki(dir);
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(*again);
  ASSERT_EQ(::unlink(DevPkiPathsIn(dir).server_key.c_str()), 0);
  EXPECT_THAT(EnsureDevPki(dir),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("incomplete")));
}

}  // namespace
}  // namespace gatehouse::security
