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
  EXPECT_EQ(identity->ToString(), R"x("alice" (roles: "dev", "admin"))x");
}

TEST(IdentityTest, NoRolesIsFine) {
  auto identity = IdentityFromCertificate(CertWithSubject({{NID_commonName, "bob"}}).get());
  ASSERT_TRUE(identity.ok());
  EXPECT_TRUE(identity->roles.empty());
  EXPECT_EQ(identity->ToString(), R"("bob")");
}

TEST(IdentityTest, UnicodeNamesArePreserved) {
  // Letters, a combining mark, CJK, an emoji and a no-break space are ordinary text.
  for (const std::string name : {"zo\xc3\xab", "zoe\xcc\x88", "\xe5\xb1\xb1\xe7\x94\xb0",
                                 "\xf0\x9f\x90\x88", "a\xc2\xa0z"}) {
    auto identity = IdentityFromCertificate(CertWithSubject({{NID_commonName, name}}).get());
    ASSERT_TRUE(identity.ok()) << identity.status();
    EXPECT_EQ(identity->user, name);
  }
}

TEST(IdentityTest, ThirtyTwoRolesAreAccepted) {
  std::vector<std::pair<int, std::string>> entries = {{NID_commonName, "a"}};
  for (size_t i = 0; i < kMaxIdentityRoles; ++i) {
    entries.emplace_back(NID_organizationalUnitName, "role" + std::to_string(i));
  }
  auto identity = IdentityFromCertificate(CertWithSubject(entries).get());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->roles.size(), 32U);
}

TEST(IdentityTest, ToStringEscapesAndQuotesSoNamesCannotForgeRolesOrLines) {
  Identity forged{"bob (roles: admin)", {}};
  EXPECT_EQ(forged.ToString(), R"x("bob (roles: admin)")x");
  Identity quoted{"x\" role=\"admin", {"a\", \"b"}};
  EXPECT_EQ(quoted.ToString(), R"x("x\" role=\"admin" (roles: "a\", \"b"))x");
  // IdentityFromCertificate refuses these; ToString must still be safe for any value.
  Identity raw{"eve\n\x1b[31m", {"zo\xc3\xab"}};
  EXPECT_EQ(raw.ToString(), R"x("eve\x0a\x1b[31m" (roles: "zo\xc3\xab"))x");
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
        BadSubject{"ControlCharacterInName",
                   {{NID_commonName, "a\nb"}},
                   "CN contains control character U+000A"},
        BadSubject{"ControlCharacterInRole",
                   {{NID_commonName, "a"}, {NID_organizationalUnitName, std::string("x\0y", 3)}},
                   "OU contains control character U+0000"},
        BadSubject{"OversizedName", {{NID_commonName, std::string(300, 'a')}}, "longer than"},
        BadSubject{"OversizedRole",
                   {{NID_commonName, "a"}, {NID_organizationalUnitName, std::string(257, 'r')}},
                   "OU is longer than 256 bytes"},
        BadSubject{"ThirtyThreeRoles",
                   [] {
                     std::vector<std::pair<int, std::string>> entries = {{NID_commonName, "a"}};
                     for (int i = 0; i < 33; ++i) {
                       entries.emplace_back(NID_organizationalUnitName, "r" + std::to_string(i));
                     }
                     return entries;
                   }(),
                   "more than 32 OUs (roles)"},
        BadSubject{"InvalidUtf8", {{NID_commonName, "a\xff"}}, "CN is not valid text"}),
    [](const ::testing::TestParamInfo<BadSubject>& param_info) { return param_info.param.name; });

// Every character class that must not appear in a user or role name, each in a CN and in an OU.
struct ForbiddenCharacter {
  std::string name;
  std::string utf8;
  std::string error;  // as the message names it
};

const ForbiddenCharacter kForbiddenCharacters[] = {
    {"C0Escape", "\x1b", "control character U+001B"},
    {"Delete", "\x7f", "control character U+007F"},
    {"C1First", "\xc2\x80", "control character U+0080"},
    {"C1NextLine", "\xc2\x85", "control character U+0085"},
    {"C1Csi", "\xc2\x9b", "control character U+009B"},
    {"C1Last", "\xc2\x9f", "control character U+009F"},
    {"ArabicLetterMark", "\xd8\x9c", "invisible or bidi character U+061C"},
    {"ZeroWidthSpace", "\xe2\x80\x8b", "invisible or bidi character U+200B"},
    {"ZeroWidthNonJoiner", "\xe2\x80\x8c", "invisible or bidi character U+200C"},
    {"ZeroWidthJoiner", "\xe2\x80\x8d", "invisible or bidi character U+200D"},
    {"LeftToRightMark", "\xe2\x80\x8e", "invisible or bidi character U+200E"},
    {"RightToLeftMark", "\xe2\x80\x8f", "invisible or bidi character U+200F"},
    {"LineSeparator", "\xe2\x80\xa8", "invisible or bidi character U+2028"},
    {"ParagraphSeparator", "\xe2\x80\xa9", "invisible or bidi character U+2029"},
    {"LeftToRightEmbedding", "\xe2\x80\xaa", "invisible or bidi character U+202A"},
    {"PopDirectionalFormatting", "\xe2\x80\xac", "invisible or bidi character U+202C"},
    {"RightToLeftOverride", "\xe2\x80\xae", "invisible or bidi character U+202E"},
    {"WordJoiner", "\xe2\x81\xa0", "invisible or bidi character U+2060"},
    {"LeftToRightIsolate", "\xe2\x81\xa6", "invisible or bidi character U+2066"},
    {"PopDirectionalIsolate", "\xe2\x81\xa9", "invisible or bidi character U+2069"},
    {"ByteOrderMark", "\xef\xbb\xbf", "invisible or bidi character U+FEFF"},
};

std::vector<BadSubject> ForbiddenCharacterCases() {
  std::vector<BadSubject> cases;
  for (const ForbiddenCharacter& c : kForbiddenCharacters) {
    const std::string value = "adm" + c.utf8 + "in";
    cases.push_back(
        {c.name + "InName", {{NID_commonName, value}}, "subject CN contains " + c.error});
    cases.push_back({c.name + "InRole",
                     {{NID_commonName, "a"}, {NID_organizationalUnitName, value}},
                     "subject OU contains " + c.error});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(ForbiddenCharacters, BadSubjectTest,
                         ::testing::ValuesIn(ForbiddenCharacterCases()),
                         [](const ::testing::TestParamInfo<BadSubject>& param_info) {
                           return param_info.param.name;
                         });

TEST(IdentityTest, NullCertificateIsAnError) {
  EXPECT_THAT(IdentityFromCertificate(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no peer certificate")));
}

}  // namespace
}  // namespace gatehouse::security
