#include "config/config_loader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "config/internal/cluster_sections.h"
#include "config/internal/document_reader.h"
#include "config/internal/field_readers.h"
#include "config/internal/jobs_section.h"
#include "config/internal/launch_section.h"
#include "config/internal/lb_section.h"
#include "config/value_parsers.h"

namespace gatehouse::config {
namespace {

using internal::DocumentReader;
using internal::Field;
using internal::Quote;
using internal::ReadAddress;

constexpr std::array<absl::string_view, 9> kTopLevelKeys = {
    "log",  "tls",           "dev_pki",           "admin", "authorization", "lb",
    "jobs", "config_source", "global_rate_limits"};
// What a file that points at etcd may hold besides `config_source`.
constexpr std::array<absl::string_view, 2> kSourceFileKeys = {"config_source", "log"};
constexpr std::array<absl::string_view, 2> kLogKeys = {"format", "level"};
constexpr std::array<absl::string_view, 4> kTlsKeys = {"ca", "cert", "key", "crl"};
constexpr std::array<absl::string_view, 3> kTlsRequiredKeys = {"ca", "cert", "key"};
constexpr std::array<absl::string_view, 1> kDevPkiKeys = {"dir"};
constexpr std::array<absl::string_view, 1> kAdminKeys = {"listen"};
constexpr std::array<absl::string_view, 3> kAuthorizationKeys = {"admin_role", "apps", "jobs"};
constexpr std::array<absl::string_view, 1> kJobsKeys = {"start"};
constexpr std::array<absl::string_view, 2> kAccessRuleKeys = {"users", "roles"};

// Which TlsConfig member each `tls` key fills.
struct TlsFileKey {
  absl::string_view key;
  std::string TlsConfig::*member = nullptr;
};
constexpr std::array<TlsFileKey, 4> kTlsFileKeys = {{
    {"ca", &TlsConfig::ca_file},
    {"cert", &TlsConfig::cert_file},
    {"key", &TlsConfig::key_file},
    {"crl", &TlsConfig::crl_file},
}};

// "Any authenticated user" in a users list (security/policy.h).
constexpr absl::string_view kWildcard = "*";

absl::StatusOr<LogConfig> ParseLog(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kLogKeys));
  LogConfig log;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(std::string value, reader.ReadScalar(entry));
    // base's own messages name the setting differently, so they are replaced, not wrapped.
    if (entry.key == "format") {
      if (!base::ParseLogFormat(value, &log.format).ok()) {
        return reader.FieldError(entry, absl::StrCat(Quote(value), " is not one of: text, json"));
      }
    } else {
      if (!base::ValidateLogLevel(value).ok()) {
        return reader.FieldError(
            entry, absl::StrCat(Quote(value),
                                " is not one of: trace, debug, info, warn, error, critical, off"));
      }
      log.level = std::move(value);
    }
  }
  return log;
}

absl::StatusOr<TlsConfig> ParseTls(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kTlsKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kTlsRequiredKeys));
  TlsConfig tls;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(std::string path, reader.ReadString(entry));
    for (const TlsFileKey& file_key : kTlsFileKeys) {
      if (file_key.key == entry.key) {
        tls.*file_key.member = path;
      }
    }
  }
  return tls;
}

absl::StatusOr<DevPkiConfig> ParseDevPki(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kDevPkiKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kDevPkiKeys));
  DevPkiConfig dev_pki;
  GH_ASSIGN_OR_RETURN(dev_pki.dir, reader.ReadString(entries.front()));
  return dev_pki;
}

absl::StatusOr<AdminConfig> ParseAdmin(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kAdminKeys));
  AdminConfig admin;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(admin.listen, ReadAddress(reader, entry));
  }
  return admin;
}

absl::StatusOr<std::string> ReadUserName(const DocumentReader& reader, const Field& field) {
  return reader.ReadString(field);
}

// Roles are matched literally: "*" as a role would look like a wildcard and match nobody.
absl::StatusOr<std::string> ReadRoleName(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(std::string role, reader.ReadString(field));
  if (role == kWildcard) {
    return reader.FieldError(field, absl::StrCat(Quote(kWildcard), " is only allowed in users"));
  }
  return role;
}

using NameReader = absl::StatusOr<std::string> (*)(const DocumentReader&, const Field&);

absl::StatusOr<std::vector<std::string>> ReadNameList(const DocumentReader& reader,
                                                      const Field& field, NameReader read_name) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  std::vector<std::string> names;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(std::string name, read_name(reader, item));
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return reader.FieldError(item, absl::StrCat("duplicate entry ", Quote(name)));
    }
    names.push_back(std::move(name));
  }
  return names;
}

absl::StatusOr<security::AccessRule> ParseAccessRule(const DocumentReader& reader,
                                                     const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kAccessRuleKeys));
  security::AccessRule rule;
  for (const Field& entry : entries) {
    if (entry.key == "users") {
      GH_ASSIGN_OR_RETURN(rule.users, ReadNameList(reader, entry, &ReadUserName));
    } else {
      GH_ASSIGN_OR_RETURN(rule.roles, ReadNameList(reader, entry, &ReadRoleName));
    }
  }
  return rule;
}

absl::StatusOr<std::map<std::string, security::AccessRule>> ParseApps(const DocumentReader& reader,
                                                                      const Field& field) {
  // App names are the user's own, so any distinct non-empty key is allowed.
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field));
  std::map<std::string, security::AccessRule> apps;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(security::AccessRule rule, ParseAccessRule(reader, entry));
    apps.emplace(entry.key, std::move(rule));
  }
  return apps;
}

absl::StatusOr<security::AccessRule> ParseJobs(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kJobsKeys));
  security::AccessRule job_start;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(job_start, ParseAccessRule(reader, entry));
  }
  return job_start;
}

absl::StatusOr<security::PolicyRules> ParseAuthorization(const DocumentReader& reader,
                                                         const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(field, kAuthorizationKeys));
  security::PolicyRules rules;
  for (const Field& entry : entries) {
    if (entry.key == "admin_role") {
      GH_ASSIGN_OR_RETURN(rules.admin_role, ReadRoleName(reader, entry));
    } else if (entry.key == "apps") {
      GH_ASSIGN_OR_RETURN(rules.apps, ParseApps(reader, entry));
    } else {
      GH_ASSIGN_OR_RETURN(rules.job_start, ParseJobs(reader, entry));
    }
  }
  return rules;
}

absl::Status ParseTopLevelEntry(const DocumentReader& reader, const Field& entry, Config& config) {
  if (entry.key == "log") {
    GH_ASSIGN_OR_RETURN(config.log, ParseLog(reader, entry));
  } else if (entry.key == "tls") {
    GH_ASSIGN_OR_RETURN(config.tls, ParseTls(reader, entry));
  } else if (entry.key == "dev_pki") {
    GH_ASSIGN_OR_RETURN(config.dev_pki, ParseDevPki(reader, entry));
  } else if (entry.key == "admin") {
    GH_ASSIGN_OR_RETURN(config.admin, ParseAdmin(reader, entry));
  } else if (entry.key == "lb") {
    GH_ASSIGN_OR_RETURN(config.lb, internal::ParseLbSection(reader, entry));
  } else if (entry.key == "jobs") {
    GH_ASSIGN_OR_RETURN(config.jobs, internal::ParseJobsSection(reader, entry));
  } else if (entry.key == "config_source") {
    GH_ASSIGN_OR_RETURN(config.etcd_source, internal::ParseConfigSourceSection(reader, entry));
  } else if (entry.key == "global_rate_limits") {
    GH_ASSIGN_OR_RETURN(config.global_rate_limits,
                        internal::ParseGlobalRateLimitsSection(reader, entry));
  } else {
    GH_ASSIGN_OR_RETURN(config.authorization, ParseAuthorization(reader, entry));
  }
  return absl::OkStatus();
}

// The daemon needs exactly one source of certificates. With both set, the error points at the
// second one; with neither, at the document.
absl::Status CheckOneCertificateSource(const DocumentReader& reader, const Field& document,
                                       const std::vector<Field>& entries) {
  std::vector<const Field*> sources;
  for (const Field& entry : entries) {
    if (entry.key == "tls" || entry.key == "dev_pki") {
      sources.push_back(&entry);
    }
  }
  if (sources.size() == 1) {
    return absl::OkStatus();
  }
  const YAML::Mark& mark = sources.empty() ? document.mark : sources[1]->key_mark;
  return reader.ErrorAt(mark, R"(exactly one of "tls" or "dev_pki" must be set)");
}

const LbAppConfig* FindLbApp(const Config& config, absl::string_view name) {
  if (!config.lb.has_value()) return nullptr;
  for (const LbAppConfig& app : config.lb->apps) {
    if (app.name == name) return &app;
  }
  return nullptr;
}

// A rule for an app that does not exist is a typo that would leave the real app denying
// everyone. A plain-TCP app has no client identity, so only users ["*"] can ever match it; any
// other rule there would look like protection and do nothing.
absl::Status CheckAppRules(const DocumentReader& reader, const std::vector<Field>& top_level,
                           const Config& config) {
  for (const Field& section : top_level) {
    if (section.key != "authorization") continue;
    GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(section));
    for (const Field& entry : entries) {
      if (entry.key != "apps") continue;
      GH_ASSIGN_OR_RETURN(const std::vector<Field> rules, reader.ReadEntries(entry));
      for (const Field& rule_field : rules) {
        const LbAppConfig* app = FindLbApp(config, rule_field.key);
        if (app == nullptr) {
          return reader.ErrorAt(
              rule_field.key_mark,
              absl::StrCat(rule_field.path, ": no lb app is named ", Quote(rule_field.key)));
        }
        if (app->tls == AppTls::kSni) {
          return reader.FieldError(
              rule_field, absl::StrCat("app ", Quote(app->name),
                                       " has tls: sni: it only routes, and the apps of its routes "
                                       "decide who may connect"));
        }
        const security::AccessRule& rule = config.authorization.apps.at(rule_field.key);
        const bool is_anyone =
            rule.roles.empty() && rule.users.size() == 1 && rule.users.front() == kWildcard;
        if (app->tls == AppTls::kNone && !is_anyone &&
            !(rule.users.empty() && rule.roles.empty())) {
          return reader.FieldError(
              rule_field, absl::StrCat("app ", Quote(app->name),
                                       " has tls: none, so its clients have no identity: only "
                                       "users: [\"*\"] can admit them"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// An app's launched server is a job of the job worker, so it needs the `jobs` section and runs
// under its limits.
absl::Status ApplyJobsToLaunches(const DocumentReader& reader, const std::vector<Field>& top_level,
                                 Config& config) {
  const Field* lb = internal::FindEntry(top_level, "lb");
  if (lb == nullptr) return absl::OkStatus();
  GH_ASSIGN_OR_RETURN(const std::vector<Field> lb_entries, reader.ReadEntries(*lb));
  const Field* apps = internal::FindEntry(lb_entries, "apps");
  if (apps == nullptr) return absl::OkStatus();
  GH_ASSIGN_OR_RETURN(const std::vector<Field> app_fields, reader.ReadSequence(*apps));
  // ParseLbSection made one app of each item, in order.
  for (size_t i = 0; i < app_fields.size(); ++i) {
    LbAppConfig& app = config.lb->apps[i];
    if (!app.launch.has_value()) continue;
    GH_ASSIGN_OR_RETURN(const std::vector<Field> app_entries, reader.ReadEntries(app_fields[i]));
    GH_RETURN_IF_ERROR(internal::ApplyJobsToLaunch(
        reader, *internal::FindEntry(app_entries, "launch"), app.name, config.jobs, *app.launch));
  }
  return absl::OkStatus();
}

// `scope: global` limits keep their buckets in the Redis that `global_rate_limits` names.
absl::Status CheckGlobalScopes(const DocumentReader& reader, const Field& document,
                               const Config& config) {
  if (config.global_rate_limits.has_value() || !config.lb.has_value()) return absl::OkStatus();
  for (const LbAppConfig& app : config.lb->apps) {
    if (app.rate_limit.scope == RateLimitScope::kGlobal) {
      return reader.ErrorAt(document.mark,
                            absl::StrCat("app ", Quote(app.name),
                                         " has rate_limit scope: global, which needs the "
                                         "global_rate_limits section"));
    }
  }
  return absl::OkStatus();
}

// A file with `config_source` only says where the document is: anything else in it would look
// like settings and be ignored.
absl::StatusOr<Config> ParseSourceFile(const DocumentReader& reader,
                                       const std::vector<Field>& entries) {
  Config config;
  for (const Field& entry : entries) {
    if (std::find(kSourceFileKeys.begin(), kSourceFileKeys.end(), entry.key) ==
        kSourceFileKeys.end()) {
      return reader.ErrorAt(entry.key_mark,
                            absl::StrCat(Quote(entry.key),
                                         " is not allowed next to config_source: the document "
                                         "in etcd holds the rest (only log may be set here)"));
    }
    GH_RETURN_IF_ERROR(ParseTopLevelEntry(reader, entry, config));
  }
  return config;
}

absl::StatusOr<Config> ParseDocument(const DocumentReader& reader, const YAML::Node& root) {
  const Field document = internal::DocumentField(root);
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(document, kTopLevelKeys));
  if (internal::FindEntry(entries, "config_source") != nullptr) {
    return ParseSourceFile(reader, entries);
  }
  Config config;
  for (const Field& entry : entries) {
    GH_RETURN_IF_ERROR(ParseTopLevelEntry(reader, entry, config));
  }
  GH_RETURN_IF_ERROR(CheckGlobalScopes(reader, document, config));
  GH_RETURN_IF_ERROR(CheckOneCertificateSource(reader, document, entries));
  GH_RETURN_IF_ERROR(CheckAppRules(reader, entries, config));
  GH_RETURN_IF_ERROR(ApplyJobsToLaunches(reader, entries, config));
  return config;
}

// A relative path in a file means "next to this file", as in nginx's and HAProxy's includes, so a
// config works wherever the daemon is started from.
// Calls `visit` with every file and directory path `config` holds (set or not), as a
// std::string& or const std::string&, following the constness of `config`.
template <typename ConfigType, typename Visit>
void ForEachPath(ConfigType& config, Visit visit) {
  if (config.tls.has_value()) {
    visit(config.tls->ca_file);
    visit(config.tls->cert_file);
    visit(config.tls->key_file);
    visit(config.tls->crl_file);
  }
  if (config.dev_pki.has_value()) visit(config.dev_pki->dir);
  if (config.etcd_source.has_value()) {
    visit(config.etcd_source->tls.ca_file);
    visit(config.etcd_source->tls.cert_file);
    visit(config.etcd_source->tls.key_file);
    visit(config.etcd_source->cache_file);
  }
  if (config.global_rate_limits.has_value()) visit(config.global_rate_limits->password_file);
  if (config.jobs.has_value()) visit(config.jobs->state_dir);
  if (config.lb.has_value()) {
    for (auto& app : config.lb->apps) {
      for (auto& route : app.routes) {
        if (!route.certificate.has_value()) continue;
        visit(route.certificate->cert_file);
        visit(route.certificate->key_file);
      }
    }
  }
}

void ResolvePathsAgainst(const std::filesystem::path& base, Config& config) {
  ForEachPath(config, [&base](std::string& path) {
    if (path.empty() || std::filesystem::path(path).is_absolute()) return;
    path = (base / path).lexically_normal().string();
  });
}

}  // namespace

absl::StatusOr<std::string> ReadConfigFileText(const std::string& path) {
  const base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_valid()) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("open ", Quote(path)));
  }
  std::string contents;
  std::array<char, size_t{64} * 1024> buffer{};
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      const int error = errno;
      if (error == EINTR) {
        continue;
      }
      return absl::ErrnoToStatus(error, absl::StrCat("read ", Quote(path)));
    }
    if (n == 0) {
      return contents;
    }
    contents.append(buffer.data(), static_cast<size_t>(n));
    // Checked while reading, not with fstat up front, so a pipe or a growing file is bounded too.
    if (contents.size() > kMaxConfigFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", Quote(path),
                                                     " is larger than the limit of ",
                                                     kMaxConfigFileBytes, " bytes"));
    }
  }
}

absl::Status RequireAbsolutePaths(const Config& config, absl::string_view source_name) {
  std::string relative;
  ForEachPath(config, [&relative](const std::string& path) {
    if (relative.empty() && !path.empty() && !std::filesystem::path(path).is_absolute()) {
      relative = path;
    }
  });
  if (relative.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(source_name, ": path ", Quote(relative),
                   " is relative; a document shared by several nodes needs absolute paths"));
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadConfigFileText(path));
  GH_ASSIGN_OR_RETURN(Config config, ParseConfig(contents, path));
  ResolvePathsAgainst(std::filesystem::path(path).parent_path(), config);
  return config;
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name) {
  const DocumentReader reader(source_name);
  std::vector<YAML::Node> documents;
  // yaml-cpp 0.7 silently accepts a quoted string left open at the end of the file when a line
  // break follows it (the string swallows the rest of the file), but reports "illegal EOF in
  // scalar" when the text ends inside it. Dropping trailing whitespace, which means nothing in
  // YAML, leaves every position unchanged and gets the error.
  const absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(yaml_text);
  try {
    documents = YAML::LoadAll(std::string(trimmed.data(), trimmed.size()));
  } catch (const YAML::Exception& e) {
    return reader.ErrorAt(e.mark, absl::StrCat("YAML syntax error: ", e.msg));
  }
  // No document at all (empty, or only comments) and an explicit null ("---", "~") alike.
  if (documents.empty() || documents.front().IsNull()) {
    return reader.ErrorAt(YAML::Mark(), "the document is empty; expected a mapping");
  }
  if (documents.size() > 1) {
    return reader.ErrorAt(documents[1].Mark(),
                          absl::StrCat("expected one YAML document, got ", documents.size()));
  }
  return ParseDocument(reader, documents.front());
}

}  // namespace gatehouse::config
