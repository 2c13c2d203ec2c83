// gatehouse: the Gatehouse client. Flag parsing and output only; the work is in the libraries.
//
// Exit codes: 0 success, 1 the operation failed (the message says why), 2 usage error.
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "security/dev_pki.h"

namespace {

using gatehouse::apps::kExitFailure;
using gatehouse::apps::kExitUsage;

struct CertsInitFlags {
  std::string dir;
  bool force = false;
};

struct CertsIssueFlags {
  std::string dir;
  std::string name;
  std::vector<std::string> roles;
  int days = static_cast<int>(gatehouse::security::kDevLeafValidity.count() / 24);
  bool force = false;
};

int Fail(const absl::Status& status) {
  std::cerr << "gatehouse: " << status.message() << "\n";
  return kExitFailure;
}

int RunCertsInit(const CertsInitFlags& flags) {
  if (absl::Status status = gatehouse::security::InitDevPki(flags.dir, flags.force); !status.ok()) {
    return Fail(status);
  }
  const auto paths = gatehouse::security::DevPkiPathsIn(flags.dir);
  std::cout << "wrote " << paths.ca_cert << "\nwrote " << paths.ca_key << "\nwrote "
            << paths.server_cert << "\nwrote " << paths.server_key << "\n";
  return 0;
}

int RunCertsIssue(const CertsIssueFlags& flags) {
  // Checked before the multiplication: 24 * days overflows int above 89478485 days.
  if (flags.days < 1 || flags.days > gatehouse::security::kMaxDevValidityDays) {
    std::cerr << "gatehouse: --days must be between 1 and "
              << gatehouse::security::kMaxDevValidityDays << "\n";
    return kExitUsage;
  }
  const gatehouse::security::DevClientRequest request{
      .name = flags.name, .roles = flags.roles, .validity = std::chrono::hours(24) * flags.days};
  if (absl::Status status =
          gatehouse::security::IssueDevClientCertificate(flags.dir, request, flags.force);
      !status.ok()) {
    return Fail(status);
  }
  std::cout << "wrote " << flags.dir << "/" << flags.name << ".pem\nwrote " << flags.dir << "/"
            << flags.name << ".key\n";
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"gatehouse: client for the Gatehouse secure infrastructure node"};
  app.require_subcommand(1);

  CLI::App* certs = app.add_subcommand("certs", "Development PKI (production brings its own CA)");
  certs->require_subcommand(1);

  CertsInitFlags init_flags;
  CLI::App* init = certs->add_subcommand(
      "init", "Create a CA and a server certificate (localhost, 127.0.0.1, ::1) in --dir");
  init->add_option("--dir", init_flags.dir, "Directory for ca.pem, ca.key, server.pem, server.key")
      ->required();
  init->add_flag("--force", init_flags.force, "Replace existing files");

  CertsIssueFlags issue_flags;
  CLI::App* issue =
      certs->add_subcommand("issue", "Issue a client certificate signed by the CA in --dir");
  issue->add_option("--dir", issue_flags.dir, "Directory holding ca.pem and ca.key")->required();
  issue->add_option("--name", issue_flags.name, "User name (certificate CN); files NAME.pem/.key")
      ->required();
  issue->add_option("--role", issue_flags.roles, "Role (certificate OU); repeat for several");
  issue
      ->add_option(
          "--days", issue_flags.days,
          absl::StrCat("Validity in days, 1 to ", gatehouse::security::kMaxDevValidityDays))
      ->capture_default_str();
  issue->add_flag("--force", issue_flags.force, "Replace existing files");

  if (std::optional<int> exit_code = gatehouse::apps::ParseCommandLine(app, argc, argv)) {
    return *exit_code;
  }

  if (init->parsed()) return RunCertsInit(init_flags);
  if (issue->parsed()) return RunCertsIssue(issue_flags);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Our code throws nothing; this catches what a dependency might (CLI11, std::bad_alloc).
  try {
    return Main(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "gatehouse: fatal: " << error.what() << "\n";
  }
  return kExitFailure;
}
