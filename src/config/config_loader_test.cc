#include "config/config_loader.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::string_view kFullConfig = R"yaml(
log:
  format: json
  level: debug
tls:
  ca: /etc/gatehouse/ca.pem
  cert: /etc/gatehouse/server.pem
  key: /etc/gatehouse/server.key
  crl: /etc/gatehouse/crl.pem
admin:
  listen: "[::1]:9902"
authorization:
  admin_role: operators
  apps:
    web: {users: [alice, "*"], roles: [dev]}
    db:
      users: [bob]
  jobs:
    start:
      users: [carol]
      roles: [admin, dev]
lb:
  apps:
    - {name: web, listen: 127.0.0.1:8443, upstreams: [127.0.0.1:8080]}
    - {name: db, listen: 127.0.0.1:5433, upstreams: [127.0.0.1:5432]}
)yaml";

TEST(ParseConfigTest, ParsesEveryField) {
  const absl::StatusOr<Config> config = ParseConfig(kFullConfig, "full.yaml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->log.format, base::LogFormat::kJson);
  EXPECT_EQ(config->log.level, "debug");
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->ca_file, "/etc/gatehouse/ca.pem");
  EXPECT_EQ(config->tls->cert_file, "/etc/gatehouse/server.pem");
  EXPECT_EQ(config->tls->key_file, "/etc/gatehouse/server.key");
  EXPECT_EQ(config->tls->crl_file, "/etc/gatehouse/crl.pem");
  EXPECT_FALSE(config->dev_pki.has_value());
  EXPECT_EQ(config->admin.listen.host, "::1");
  EXPECT_EQ(config->admin.listen.port, 9902);
  const security::PolicyRules& rules = config->authorization;
  EXPECT_EQ(rules.admin_role, "operators");
  ASSERT_EQ(rules.apps.size(), 2U);
  EXPECT_THAT(rules.apps.at("web").users, ElementsAre("alice", "*"));
  EXPECT_THAT(rules.apps.at("web").roles, ElementsAre("dev"));
  EXPECT_THAT(rules.apps.at("db").users, ElementsAre("bob"));
  EXPECT_THAT(rules.apps.at("db").roles, IsEmpty());
  EXPECT_THAT(rules.job_start.users, ElementsAre("carol"));
  EXPECT_THAT(rules.job_start.roles, ElementsAre("admin", "dev"));
}

TEST(ParseConfigTest, OmittedSectionsKeepDefaults) {
  const absl::StatusOr<Config> config = ParseConfig("dev_pki: {dir: /var/lib/pki}\n", "gh.yaml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->log.format, base::LogFormat::kText);
  EXPECT_EQ(config->log.level, "info");
  EXPECT_FALSE(config->tls.has_value());
  ASSERT_TRUE(config->dev_pki.has_value());
  EXPECT_EQ(config->dev_pki->dir, "/var/lib/pki");
  EXPECT_EQ(config->admin.listen.ToString(), "127.0.0.1:9901");
  EXPECT_EQ(config->authorization.admin_role, "admin");
  EXPECT_THAT(config->authorization.apps, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.users, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.roles, IsEmpty());
}

TEST(ParseConfigTest, AcceptsEmptyListsAndMappings) {
  const absl::StatusOr<Config> config = ParseConfig(
      "dev_pki: {dir: d}\nadmin: {}\nauthorization: {apps: {}, jobs: {start: {users: []}}}\n",
      "gh.yaml");
  ASSERT_THAT(config, IsOk());
  EXPECT_THAT(config->authorization.apps, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.users, IsEmpty());
}

struct MalformedCase {
  const char* name;
  const char* yaml;
  const char* error;
};

// Names the case in gtest output instead of dumping the struct's bytes.
void PrintTo(const MalformedCase& malformed, std::ostream* os) { *os << malformed.name; }

class MalformedConfigTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedConfigTest, FailsWithPositionedMessage) {
  EXPECT_THAT(ParseConfig(GetParam().yaml, "gh.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument, Eq(GetParam().error)));
}

// Every case but the certificate-source ones sets dev_pki, so the error shown is the one under
// test and not the missing certificate source.
const MalformedCase kMalformedCases[] = {
    {"UnknownTopLevelKey", "dev_pki: {dir: /pki}\nloggin: {}\n",
     R"(gh.yaml:2:1: unknown key "loggin" at the top level; expected one of: log, tls, dev_pki, )"
     R"(admin, authorization, lb, jobs, config_source, global_rate_limits)"},
    {"UnknownNestedKey", "dev_pki: {dir: /pki}\nadmin:\n  listn: 127.0.0.1:1\n",
     R"(gh.yaml:3:3: unknown key "listn" in admin; expected one of: listen)"},
    {"UnknownKeyInAppRule",
     "dev_pki: {dir: /pki}\nauthorization:\n  apps:\n    web: {user: [alice]}\n",
     R"(gh.yaml:4:11: unknown key "user" in authorization.apps.web; expected one of: users, )"
     R"(roles)"},
    {"UnknownJobAction", "dev_pki: {dir: /pki}\nauthorization:\n  jobs:\n    stop: {}\n",
     R"(gh.yaml:4:5: unknown key "stop" in authorization.jobs; expected one of: start)"},
    {"DuplicateKey", "dev_pki: {dir: /pki}\nlog: {level: info}\nlog: {level: debug}\n",
     R"(gh.yaml:3:1: duplicate key "log" at the top level)"},
    {"DuplicateAppName",
     "dev_pki: {dir: /pki}\nauthorization:\n  apps:\n    web: {}\n    web: {}\n",
     R"(gh.yaml:5:5: duplicate key "web" in authorization.apps)"},
    {"RuleForUnknownApp",
     "dev_pki: {dir: /pki}\nauthorization:\n  apps:\n    wbe: {users: [alice]}\n",
     R"(gh.yaml:4:5: authorization.apps.wbe: no lb app is named "wbe")"},
    {"EmptyAppName", "dev_pki: {dir: /pki}\nauthorization:\n  apps: {\"\": {}}\n",
     R"(gh.yaml:3:10: empty key in authorization.apps)"},
    {"NonStringKey", "dev_pki: {dir: /pki}\n? [a, b]\n: c\n",
     R"(gh.yaml:2:3: expected a string key at the top level, got a sequence)"},
    {"SequenceWhereMappingExpected", "dev_pki: {dir: /pki}\nlog: [text]\n",
     R"(gh.yaml:2:6: log: expected a mapping, got a sequence)"},
    {"ScalarWhereMappingExpected", "dev_pki: {dir: /pki}\nadmin: 127.0.0.1:9901\n",
     R"(gh.yaml:2:8: admin: expected a mapping, got a string)"},
    {"EmptyValueWhereMappingExpected", "dev_pki:\nlog: {}\n",
     R"(gh.yaml:1:1: dev_pki: expected a mapping, got an empty value)"},
    {"MappingWhereScalarExpected", "dev_pki:\n  dir: {path: /pki}\n",
     R"(gh.yaml:2:8: dev_pki.dir: expected a string, got a mapping)"},
    {"ScalarWhereSequenceExpected",
     "dev_pki: {dir: /pki}\nauthorization:\n  jobs:\n    start: {users: alice}\n",
     R"(gh.yaml:4:20: authorization.jobs.start.users: expected a sequence, got a string)"},
    {"BadLogFormat", "log:\n  format: xml\ndev_pki: {dir: /pki}\n",
     R"(gh.yaml:2:11: log.format: "xml" is not one of: text, json)"},
    {"BadLogLevel", "dev_pki: {dir: /pki}\nlog: {level: loud}\n",
     R"(gh.yaml:2:14: log.level: "loud" is not one of: trace, debug, info, warn, error, )"
     R"(critical, off)"},
    {"AddressWithHostName", "dev_pki: {dir: /pki}\nadmin:\n  listen: localhost:80\n",
     R"(gh.yaml:3:11: admin.listen: expected HOST:PORT with an IP address host, got )"
     R"("localhost:80")"},
    {"AddressWithoutPort", "dev_pki: {dir: /pki}\nadmin: {listen: \"[::1]\"}\n",
     R"(gh.yaml:2:17: admin.listen: expected HOST:PORT with an IP address host, got "[::1]")"},
    {"AddressWithPortOutOfRange", "dev_pki: {dir: /pki}\nadmin: {listen: 127.0.0.1:65536}\n",
     R"(gh.yaml:2:17: admin.listen: expected HOST:PORT with a port in 0-65535, got )"
     R"("127.0.0.1:65536")"},
    {"AddressAsSequence", "dev_pki: {dir: /pki}\nadmin: {listen: [127.0.0.1, 80]}\n",
     R"(gh.yaml:2:17: admin.listen: expected a string, got a sequence)"},
    {"BothTlsAndDevPki",
     "tls: {ca: ca.pem, cert: c.pem, key: k.pem}\nlog: {level: info}\ndev_pki: {dir: /pki}\n",
     R"(gh.yaml:3:1: exactly one of "tls" or "dev_pki" must be set)"},
    {"NeitherTlsNorDevPki", "log: {level: info}\n",
     R"(gh.yaml:1:1: exactly one of "tls" or "dev_pki" must be set)"},
    {"TlsMissingKey", "log: {level: info}\ntls:\n  ca: ca.pem\n  cert: c.pem\n",
     R"(gh.yaml:2:1: tls: missing required key "key")"},
    {"TlsEmptyCrl", "tls: {ca: ca.pem, cert: c.pem, key: k.pem, crl: \"\"}\n",
     R"(gh.yaml:1:49: tls.crl: must not be empty)"},
    {"DevPkiWithoutDir", "dev_pki: {}\n", R"(gh.yaml:1:1: dev_pki: missing required key "dir")"},
    {"DevPkiEmptyDir", "dev_pki:\n  dir: ''\n", R"(gh.yaml:2:8: dev_pki.dir: must not be empty)"},
    {"EmptyUserInList",
     "dev_pki: {dir: /pki}\nauthorization:\n  apps:\n    web: {users: [alice, \"\"], roles: "
     "[dev]}\n",
     R"(gh.yaml:4:26: authorization.apps.web.users[1]: must not be empty)"},
    {"DuplicateUserInList",
     "dev_pki: {dir: /pki}\nauthorization:\n  jobs:\n    start:\n      users:\n        - bob\n"
     "        - alice\n        - bob\n",
     R"(gh.yaml:8:11: authorization.jobs.start.users[2]: duplicate entry "bob")"},
    {"WildcardInRoles",
     "dev_pki: {dir: /pki}\nauthorization:\n  jobs:\n    start: {roles: [\"*\"]}\n",
     R"(gh.yaml:4:21: authorization.jobs.start.roles[0]: "*" is only allowed in users)"},
    {"WildcardAdminRole", "dev_pki: {dir: /pki}\nauthorization: {admin_role: \"*\"}\n",
     R"(gh.yaml:2:29: authorization.admin_role: "*" is only allowed in users)"},
    {"UnclosedBracket", "dev_pki: {dir: /pki}\nadmin: {listen: [1, 2\n",
     R"(gh.yaml:2:1: YAML syntax error: end of sequence flow not found)"},
    {"UnclosedQuoteBeforeEndOfFile", "dev_pki:\n  dir: \"/pki\n\n",
     R"(gh.yaml:2:13: YAML syntax error: illegal EOF in scalar)"},
    {"UnclosedQuoteBeforeNextKey", "dev_pki:\n  dir: '/pki\nadmin: {}\n",
     R"(gh.yaml:3:10: YAML syntax error: illegal EOF in scalar)"},
    {"UnclosedQuoteInFlowMapping", "dev_pki: {dir: \"/pki}\n",
     R"(gh.yaml:1:22: YAML syntax error: illegal EOF in scalar)"},
    {"BadIndentation", "dev_pki:\n  dir: /pki\n admin: {}\n",
     R"(gh.yaml:3:2: YAML syntax error: end of map not found)"},
    {"SequenceAtTopLevel", "- dev_pki\n- tls\n",
     R"(gh.yaml:1:1: expected the document to be a mapping, got a sequence)"},
    {"ScalarAtTopLevel", "# a comment\ndev_pki\n",
     R"(gh.yaml:2:1: expected the document to be a mapping, got a string)"},
    {"EmptyDocument", "", R"(gh.yaml:1:1: the document is empty; expected a mapping)"},
    {"OnlyComments", "# nothing here\n\n",
     R"(gh.yaml:1:1: the document is empty; expected a mapping)"},
    {"ExplicitNullDocument", "---\n~\n",
     R"(gh.yaml:1:1: the document is empty; expected a mapping)"},
    {"TwoDocuments", "dev_pki: {dir: /pki}\n---\ndev_pki: {dir: /other}\n",
     R"(gh.yaml:3:1: expected one YAML document, got 2)"},
};

std::string CaseName(const ::testing::TestParamInfo<MalformedCase>& param_info) {
  return param_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedConfigTest, ::testing::ValuesIn(kMalformedCases),
                         CaseName);

TEST(LoadConfigFileTest, LoadsFileAndUsesItsPathInErrors) {
  const TempDir dir;
  const std::string good = dir.WriteFile("good.yaml", {kFullConfig.data(), kFullConfig.size()});
  const absl::StatusOr<Config> config = LoadConfigFile(good);
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->admin.listen.ToString(), "[::1]:9902");

  const std::string bad = dir.WriteFile("bad.yaml", "dev_pki: {dir: /pki}\nadmin:\n  listn: x\n");
  EXPECT_THAT(LoadConfigFile(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Eq(absl::StrCat(bad, R"(:3:3: unknown key "listn" in admin; )",
                                       "expected one of: listen"))));
}

TEST(LoadConfigFileTest, ResolvesRelativePathsAgainstTheFilesDirectory) {
  const TempDir dir;
  const std::string path = dir.WriteFile(
      "gatehouse.yaml", "tls: {ca: pki/ca.pem, cert: ../server.pem, key: /abs/server.key}\n");
  const absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->tls->ca_file, (dir.path() / "pki/ca.pem").string());
  EXPECT_EQ(config->tls->cert_file, (dir.path().parent_path() / "server.pem").string());
  EXPECT_EQ(config->tls->key_file, "/abs/server.key");

  const std::string pki =
      dir.WriteFile("pki.yaml", "dev_pki: {dir: ./state/pki}\njobs: {state_dir: state/jobs}\n");
  const absl::StatusOr<Config> dev = LoadConfigFile(pki);
  ASSERT_THAT(dev, IsOk());
  EXPECT_EQ(dev->dev_pki->dir, (dir.path() / "state/pki").string());
  EXPECT_EQ(dev->jobs->state_dir, (dir.path() / "state/jobs").string());
}

TEST(LoadConfigFileTest, MissingFileIsNotFoundNamingThePath) {
  const TempDir dir;
  const std::string path = dir.File("missing.yaml");
  EXPECT_THAT(LoadConfigFile(path),
              StatusIs(absl::StatusCode::kNotFound,
                       Eq(absl::StrCat("open \"", path, "\": No such file or directory"))));
}

TEST(LoadConfigFileTest, DirectoryIsAnErrorNamingThePath) {
  const TempDir dir;
  const std::string path = dir.path().string();
  const absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(absl::StrCat("\"", path, "\"")));
}

// A file of exactly the limit parses; one byte more is refused before parsing.
TEST(LoadConfigFileTest, RejectsFilesOverOneMebibyte) {
  const TempDir dir;
  const std::string head = "dev_pki: {dir: /pki}\n#";
  std::string contents = head + std::string(kMaxConfigFileBytes - head.size() - 1, 'x') + "\n";
  ASSERT_EQ(contents.size(), kMaxConfigFileBytes);
  EXPECT_THAT(LoadConfigFile(dir.WriteFile("limit.yaml", contents)), IsOk());

  contents.insert(contents.begin() + static_cast<std::ptrdiff_t>(head.size()), 'x');
  const std::string path = dir.WriteFile("big.yaml", contents);
  EXPECT_THAT(LoadConfigFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Eq(absl::StrCat("config file \"", path,
                                       "\" is larger than the limit of 1048576 bytes"))));
}

}  // namespace
}  // namespace gatehouse::config
