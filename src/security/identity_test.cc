#include "security/identity.h"

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/certificate_builder.h"
#include "testing/status_matchers.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A certificate whose subject is exactly `entries` (NID, value), in order, stored raw as
// UTF8String so that lengths a lax CA might allow can be tested. Only the subject
// matters to identity extraction, so it is not signed.
X509Ptr CertWithSubject(const std::vector<std::pair<int, std::string>>& entries) {
  X509Ptr cert(X509_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [nid, value] : entries) {
    EXPECT_EQ(X509_NAME_add_entry_by_NID(name, nid, V_ASN1_UTF8STRING,
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), -1, 0),
              1);
  }
  return cert;
}

TEST(IdentityTest, UserFromCommonNameRolesFromEveryOrganizationalUnit) {
  X509Ptr cert = CertWithSubject({{NID_organizationName, "Example"},
                                  {NID_organizationalUnitName, "dev"},
                                  {NID_organizationalUnitName, "admin"},
                                  {NID_commonName, "alice"}});
  auto identity = IdentityFromCertificate(cert.get());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->user, "alice");
  EXPECT_THAT(identity->roles, ElementsAre("dev", "admin"));
  EXPECT_TRUE(identity->HasRole("admin"));
  EXPECT_FALSE(identity->HasRole("ops"));
  EXPECT_EQ(identity->ToString(), "alice (roles: dev, admin)");
}

TEST(IdentityTest, NoRolesIsFine) {
  auto identity = IdentityFromCertificate(CertWithSubject({{NID_commonName, "bob"}}).get());
  ASSERT_TRUE(identity.ok());
  EXPECT_TRUE(identity->roles.empty());
  EXPECT_EQ(identity->ToString(), "bob");
}

TEST(IdentityTest, UnicodeNamesArePreserved) {
  auto identity = IdentityFromCertificate(CertWithSubject({{NID_commonName, "zoë"}}).get());
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(identity->user, "zoë");
}

struct BadSubject {
  std::string name;
  std::vector<std::pair<int, std::string>> entries;
  std::string error;
};

class BadSubjectTest : public ::testing::TestWithParam<BadSubject> {};

TEST_P(BadSubjectTest, IsRejected) {
  X509Ptr cert = CertWithSubject(GetParam().entries);
  EXPECT_THAT(IdentityFromCertificate(cert.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().error)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadSubjectTest,
    ::testing::Values(
        BadSubject{"NoCommonName", {{NID_organizationalUnitName, "dev"}}, "found 0"},
        BadSubject{"TwoCommonNames", {{NID_commonName, "a"}, {NID_commonName, "b"}}, "found 2"},
        BadSubject{"EmptyCommonName", {{NID_commonName, ""}}, "CN is empty"},
        BadSubject{
            "EmptyRole", {{NID_commonName, "a"}, {NID_organizationalUnitName, ""}}, "OU is empty"},
        BadSubject{"ControlCharacterInName", {{NID_commonName, "a\nb"}}, "control character"},
        BadSubject{"ControlCharacterInRole",
                   {{NID_commonName, "a"}, {NID_organizationalUnitName, std::string("x\0y", 3)}},
                   "control character"},
        BadSubject{"OversizedName", {{NID_commonName, std::string(300, 'a')}}, "longer than"}),
    [](const ::testing::TestParamInfo<BadSubject>& param_info) { return param_info.param.name; });

TEST(IdentityTest, NullCertificateIsAnError) {
  EXPECT_THAT(IdentityFromCertificate(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no peer certificate")));
}

}  // namespace
}  // namespace gatehouse::security
