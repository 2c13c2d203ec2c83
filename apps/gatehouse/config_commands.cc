#include "gatehouse/config_commands.h"

#include <iostream>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "etcd/client.h"
#include "gatehouse/exit_codes.h"

namespace gatehouse::cli {
namespace {

struct EtcdTarget {
  std::unique_ptr<etcd::Client> client;
  std::string key;
};

int Fail(int exit_code, absl::string_view message) {
  std::cerr << "gatehouse: " << message << "\n";
  return exit_code;
}

absl::StatusOr<EtcdTarget> OpenSource(const std::string& source_file) {
  absl::StatusOr<config::Config> source = config::LoadConfigFile(source_file);
  if (!source.ok()) return source.status();
  if (!source->etcd_source.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_file, " has no config_source.etcd section"));
  }
  const config::EtcdSourceConfig& etcd = *source->etcd_source;
  etcd::ClientOptions options;
  options.endpoints = etcd.endpoints;
  options.tls = {etcd.tls.ca_file, etcd.tls.cert_file, etcd.tls.key_file};
  absl::StatusOr<std::unique_ptr<etcd::Client>> client = etcd::Client::Create(options);
  if (!client.ok()) return client.status();
  return EtcdTarget{*std::move(client), etcd.key};
}

}  // namespace

int GetConfig(const ConfigFlags& flags) {
  absl::StatusOr<EtcdTarget> target = OpenSource(flags.source_file);
  if (!target.ok()) return Fail(kExitFailure, target.status().message());
  absl::StatusOr<etcd::KeyValue> read = target->client->Get(target->key);
  if (!read.ok()) return Fail(kExitConnection, read.status().message());
  if (!read->found) return Fail(kExitFailure, absl::StrCat("etcd has no key ", target->key));
  std::cout << read->value;
  // On stderr, so that stdout is the document exactly, ready to edit and push.
  std::cerr << "etcd key " << target->key << " at revision " << read->mod_revision << "\n";
  return 0;
}

int PushConfig(const ConfigFlags& flags) {
  absl::StatusOr<std::string> text = config::ReadConfigFileText(flags.document_file);
  if (!text.ok()) return Fail(kExitFailure, text.status().message());
  absl::StatusOr<config::Config> document = config::ParseConfig(*text, flags.document_file);
  if (!document.ok()) return Fail(kExitFailure, document.status().message());
  if (document->etcd_source.has_value()) {
    return Fail(kExitFailure, absl::StrCat(flags.document_file,
                                           ": a document for etcd may not have config_source"));
  }
  if (absl::Status status = config::RequireAbsolutePaths(*document, flags.document_file);
      !status.ok()) {
    return Fail(kExitFailure, status.message());
  }
  absl::StatusOr<EtcdTarget> target = OpenSource(flags.source_file);
  if (!target.ok()) return Fail(kExitFailure, target.status().message());
  int64_t expected = 0;
  if (flags.expect_revision.has_value()) {
    expected = *flags.expect_revision;
  } else {
    absl::StatusOr<etcd::KeyValue> read = target->client->Get(target->key);
    if (!read.ok()) return Fail(kExitConnection, read.status().message());
    expected = read->found ? read->mod_revision : 0;
  }
  absl::StatusOr<int64_t> written = target->client->CompareAndPut(target->key, *text, expected);
  if (!written.ok()) {
    const bool lost_race = written.status().code() == absl::StatusCode::kFailedPrecondition;
    return Fail(lost_race ? kExitFailure : kExitConnection,
                lost_race ? absl::StrCat("not written: ", written.status().message(),
                                         " (someone else changed it; read it again with "
                                         "gatehouse config get)")
                          : written.status().message());
  }
  std::cout << "wrote " << flags.document_file << " to etcd key " << target->key << " at revision "
            << *written << " (was " << expected << ")\n";
  return 0;
}

}  // namespace gatehouse::cli
