// gatehouse: the Gatehouse client. Flag parsing and output only; the work is in the libraries
// and, for the job commands, in gatehouse/job_commands.h.
//
// Exit codes: 0 success, 1 the operation failed (the message says why), 2 usage error, 3 the job
// service could not be reached or would not accept us, 130 Ctrl-C while following output;
// `run --follow` exits with the job's exit code (128 + signal when a signal ended it).
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "gatehouse/config_commands.h"
#include "gatehouse/job_commands.h"
#include "security/dev_pki.h"

namespace {

using gatehouse::apps::kExitFailure;
using gatehouse::apps::kExitUsage;
using gatehouse::cli::OutputFormat;

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

// The flags of the job commands; only one command is parsed, so they share one set.
struct JobFlags {
  gatehouse::cli::ConnectionFlags connection;
  gatehouse::cli::RunFlags run;
  std::string job_id;
  bool json = false;
};

OutputFormat FormatOf(const JobFlags& flags) {
  return flags.json ? OutputFormat::kJson : OutputFormat::kText;
}

void AddConnectionFlags(CLI::App* command, gatehouse::cli::ConnectionFlags* flags) {
  command
      ->add_option("--server", flags->server,
                   "Job service HOST:PORT (else $GATEHOUSE_SERVER, else 127.0.0.1:7443)")
      ->type_name("HOST:PORT");
  command
      ->add_option("--ca", flags->ca,
                   "CA certificate PEM file that the job service's certificate must chain to "
                   "(else $GATEHOUSE_CA, else ./.gatehouse/pki/ca.pem)")
      ->type_name("FILE");
  command
      ->add_option("--cert", flags->cert,
                   "Client certificate PEM file (else $GATEHOUSE_CERT, else "
                   "./.gatehouse/pki/admin.pem)")
      ->type_name("FILE");
  command
      ->add_option("--key", flags->key,
                   "Client private key PEM file (else $GATEHOUSE_KEY, else "
                   "./.gatehouse/pki/admin.key)")
      ->type_name("FILE");
}

void AddJobIdArgument(CLI::App* command, std::string* job_id) {
  command->add_option("id", *job_id, "Job id")->required()->type_name("ID");
}

CLI::App* AddRunCommand(CLI::App* app, JobFlags* flags) {
  CLI::App* run =
      app->add_subcommand("run", "Start a job: gatehouse run [OPTIONS] -- COMMAND [ARGS...]");
  gatehouse::cli::RunFlags& run_flags = flags->run;
  const std::string unset = " (unset or 0: the server's default)";
  run->add_option("--cpu", run_flags.limits.cpu, "CPU limit in cores, e.g. 0.5" + unset)
      ->type_name("N");
  run->add_option("--memory", run_flags.limits.memory,
                  "Memory limit: bytes, or with a unit, e.g. 256MiB or 1GB" + unset)
      ->type_name("SIZE");
  run->add_option("--io-read-bps", run_flags.limits.io_read_bps,
                  "Disk read limit in bytes per second, a size as for --memory" + unset)
      ->type_name("SIZE");
  run->add_option("--io-write-bps", run_flags.limits.io_write_bps,
                  "Disk write limit in bytes per second, a size as for --memory" + unset)
      ->type_name("SIZE");
  run->add_option("--pids", run_flags.limits.pids, "Most processes at once" + unset)
      ->type_name("N");
  run->add_option("--env", run_flags.env, "KEY=VALUE for the job's environment; repeat for more")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
  run->add_option("--workdir", run_flags.working_dir,
                  "Absolute working directory of the job (default: the server's)")
      ->type_name("DIR");
  run->add_flag("--follow", run_flags.follow,
                "Print the output as it comes until the job ends, then exit with its exit code "
                "(128 + signal if a signal ended it); Ctrl-C stops following, not the job");
  run->add_option("command", run_flags.command, "The command and its arguments, after --")
      ->required();
  AddConnectionFlags(run, &flags->connection);
  return run;
}

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

  JobFlags job_flags;
  CLI::App* run = AddRunCommand(&app, &job_flags);

  CLI::App* status = app.add_subcommand("status", "Show a job's state, exit and resource usage");
  AddJobIdArgument(status, &job_flags.job_id);
  status->add_flag("--json", job_flags.json, "Print one JSON object");
  AddConnectionFlags(status, &job_flags.connection);

  CLI::App* logs = app.add_subcommand("logs", "Print a job's output from its first byte");
  logs->footer(
      "On a running job, logs follows the output until the job ends, with or without -f: the job "
      "service always streams to the end of a job. Ctrl-C stops following, not the job.");
  AddJobIdArgument(logs, &job_flags.job_id);
  logs->add_flag("-f,--follow")
      ->description("Follow the output until the job ends (what logs always does)");
  AddConnectionFlags(logs, &job_flags.connection);

  CLI::App* stop = app.add_subcommand(
      "stop", "Stop a job: SIGTERM, then SIGKILL after the server's grace period");
  AddJobIdArgument(stop, &job_flags.job_id);
  AddConnectionFlags(stop, &job_flags.connection);

  CLI::App* list = app.add_subcommand("ls", "List your jobs (every job, for the admin role)");
  list->add_flag("--json", job_flags.json, "Print a JSON array of objects as status --json does");
  AddConnectionFlags(list, &job_flags.connection);

  gatehouse::cli::ConfigFlags config_flags;
  CLI::App* config =
      app.add_subcommand("config", "The config document nodes read from etcd (config_source)");
  config->require_subcommand(1);
  CLI::App* config_get = config->add_subcommand("get", "Print the document in etcd to stdout");
  config_get
      ->add_option("--source", config_flags.source_file,
                   "A file with config_source.etcd: endpoints, key and TLS files")
      ->required();
  CLI::App* config_push = config->add_subcommand(
      "push", "Check a config file and write it to etcd (compare-and-swap on its revision)");
  config_push
      ->add_option("--source", config_flags.source_file,
                   "A file with config_source.etcd: endpoints, key and TLS files")
      ->required();
  config_push->add_option("FILE", config_flags.document_file, "The config document")->required();
  config_push->add_option(
      "--expect-revision", config_flags.expect_revision,
      "Write only if the key is still at this revision (0: only if absent); default: the one "
      "read just before writing");

  if (std::optional<int> exit_code = gatehouse::apps::ParseCommandLine(app, argc, argv)) {
    return *exit_code;
  }

  if (init->parsed()) return RunCertsInit(init_flags);
  if (issue->parsed()) return RunCertsIssue(issue_flags);
  if (run->parsed()) return gatehouse::cli::RunJob(job_flags.connection, job_flags.run);
  if (status->parsed()) {
    return gatehouse::cli::ShowStatus(job_flags.connection, job_flags.job_id, FormatOf(job_flags));
  }
  if (logs->parsed()) return gatehouse::cli::ShowLogs(job_flags.connection, job_flags.job_id);
  if (stop->parsed()) return gatehouse::cli::StopJob(job_flags.connection, job_flags.job_id);
  if (list->parsed()) return gatehouse::cli::ListJobs(job_flags.connection, FormatOf(job_flags));
  if (config_get->parsed()) return gatehouse::cli::GetConfig(config_flags);
  if (config_push->parsed()) return gatehouse::cli::PushConfig(config_flags);
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
