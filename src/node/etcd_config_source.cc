#include "node/etcd_config_source.h"

#include <filesystem>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "config/config_loader.h"
#include "spdlog/spdlog.h"

namespace gatehouse::node {
namespace {

constexpr absl::string_view kCacheHeader = "# gatehouse config cache: etcd key ";
constexpr absl::string_view kCacheRevision = " mod_revision ";

// A document from etcd is a whole config, never another pointer to one.
absl::StatusOr<config::Config> ParseDocument(const std::string& yaml, const std::string& name) {
  absl::StatusOr<config::Config> config = config::ParseConfig(yaml, name);
  if (config.ok() && config->etcd_source.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": a document in etcd may not have config_source"));
  }
  if (config.ok()) GH_RETURN_IF_ERROR(config::RequireAbsolutePaths(*config, name));
  return config;
}

}  // namespace

std::string EtcdDocumentName(const std::string& key, int64_t mod_revision) {
  return absl::StrCat("<etcd ", key, " at revision ", mod_revision, ">");
}

std::string CacheFileText(const std::string& key, int64_t mod_revision, const std::string& yaml) {
  return absl::StrCat(kCacheHeader, key, kCacheRevision, mod_revision, "\n", yaml);
}

absl::StatusOr<CachedDocument> ReadCacheFile(const std::string& path, const std::string& key) {
  // The loader's bounded reader: a cache is a config file like any other.
  GH_ASSIGN_OR_RETURN(std::string text, config::ReadConfigFileText(path));
  const size_t line_end = text.find('\n');
  const std::string expected = absl::StrCat(kCacheHeader, key, kCacheRevision);
  CachedDocument cached;
  if (line_end == std::string::npos || !absl::StartsWith(text, expected) ||
      !absl::SimpleAtoi(absl::string_view(text).substr(expected.size(), line_end - expected.size()),
                        &cached.mod_revision) ||
      cached.mod_revision <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("config cache ", path, " is not a cache of etcd key ", key,
                     " (its first line should be \"", expected, "<revision>\")"));
  }
  cached.yaml = text.substr(line_end + 1);
  return cached;
}

absl::StatusOr<std::unique_ptr<EtcdConfigSource>> EtcdConfigSource::Create(
    const config::EtcdSourceConfig& source) {
  etcd::ClientOptions options;
  options.endpoints = source.endpoints;
  options.tls = {source.tls.ca_file, source.tls.cert_file, source.tls.key_file};
  GH_ASSIGN_OR_RETURN(std::unique_ptr<etcd::Client> client, etcd::Client::Create(options));
  return std::unique_ptr<EtcdConfigSource>(
      new EtcdConfigSource(source, std::shared_ptr<const etcd::Client>(std::move(client))));
}

EtcdConfigSource::EtcdConfigSource(config::EtcdSourceConfig source,
                                   std::shared_ptr<const etcd::Client> client)
    : source_(std::move(source)), client_(std::move(client)) {}

EtcdConfigSource::~EtcdConfigSource() { Stop(); }

absl::StatusOr<InitialDocument> EtcdConfigSource::Load() {
  absl::StatusOr<etcd::KeyValue> read = client_->Get(source_.key);
  absl::Status etcd_problem;
  if (read.ok() && read->found) {
    const std::string name = EtcdDocumentName(source_.key, read->mod_revision);
    absl::StatusOr<config::Config> config = ParseDocument(read->value, name);
    if (config.ok()) {
      spdlog::info("config: read {} from etcd", name);
      return InitialDocument{*std::move(config), read->value, read->revision, read->mod_revision,
                             false};
    }
    etcd_problem = config.status();
  } else if (read.ok()) {
    etcd_problem = absl::NotFoundError(
        absl::StrCat("etcd has no key ", source_.key, " (write one with gatehouse config push)"));
  } else {
    etcd_problem = read.status();
  }
  absl::StatusOr<CachedDocument> cached = ReadCacheFile(source_.cache_file, source_.key);
  if (!cached.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no config to start from: etcd: ", etcd_problem.message(),
                     "; cache: ", cached.status().message()));
  }
  const std::string name = absl::StrCat(source_.cache_file, " (cached ",
                                        EtcdDocumentName(source_.key, cached->mod_revision), ")");
  GH_ASSIGN_OR_RETURN(config::Config config, ParseDocument(cached->yaml, name));
  spdlog::warn("config: etcd unusable ({}); starting from the cached document {}",
               etcd_problem.message(), name);
  return InitialDocument{std::move(config), cached->yaml, cached->mod_revision,
                         cached->mod_revision, true};
}

absl::Status EtcdConfigSource::Watch(Node& node, const InitialDocument& initial) {
  base::MetricsRegistry& metrics = node.metrics();
  revision_gauge_ = metrics.GetGauge("gatehouse_config_source_revision",
                                     "etcd mod_revision of the running config document.");
  from_cache_gauge_ = metrics.GetGauge(
      "gatehouse_config_source_from_cache",
      "1 while the running config is the cached document (etcd was unusable at start).");
  const std::string updates_help = "Config documents from etcd, by result.";
  applied_ = metrics.GetCounter("gatehouse_config_source_updates_total", updates_help,
                                {{"result", "applied"}});
  rejected_ = metrics.GetCounter("gatehouse_config_source_updates_total", updates_help,
                                 {{"result", "rejected"}});
  revision_gauge_->Set(initial.mod_revision);
  from_cache_gauge_->Set(initial.from_cache ? 1 : 0);
  {
    base::MutexLock lock(&apply_mu_);
    node_ = &node;
    running_revision_ = initial.mod_revision;
    running_yaml_ = initial.yaml;
  }
  // Only now that the node runs it is the document "last good".
  if (!initial.from_cache) WriteCache(initial.yaml, initial.mod_revision);
  GH_ASSIGN_OR_RETURN(watch_, etcd::Watch::Start(client_, source_.key, initial.revision + 1,
                                                 [this](const etcd::KeyValue& update) {
                                                   // Logged and counted inside; the watch goes on
                                                   // either way.
                                                   (void)Apply(update.value, update.mod_revision,
                                                               false);
                                                 }));
  etcd::Watch* watch = watch_.get();
  base::Gauge* connected = metrics.GetGauge("gatehouse_config_source_watch_connected",
                                            "1 while the etcd watch stream is up.");
  base::Gauge* reconnects = metrics.GetGauge("gatehouse_config_source_watch_reconnects",
                                             "Times the etcd watch stream was re-opened.");
  base::Gauge* from_cache = from_cache_gauge_;
  watch_collector_ =
      std::make_shared<const std::function<void()>>([watch, connected, reconnects, from_cache] {
        const bool is_connected = watch->connected();
        connected->Set(is_connected ? 1 : 0);
        // Connected, the watch has delivered (or is delivering) anything newer than the cache: what
        // runs is etcd's document from then on, even when etcd had nothing newer to send.
        if (is_connected) from_cache->Set(0);
        reconnects->Set(static_cast<int64_t>(watch->reconnects()));
      });
  metrics.AddCollector(watch_collector_);
  return absl::OkStatus();
}

absl::Status EtcdConfigSource::Resync() {
  const absl::StatusOr<etcd::KeyValue> read = client_->Get(source_.key);
  if (read.ok() && read->found) return Apply(read->value, read->mod_revision, true);
  const absl::Status problem =
      read.ok() ? absl::NotFoundError(absl::StrCat("etcd has no key ", source_.key))
                : read.status();
  // The files the running document names may have changed on disk all the same.
  base::MutexLock lock(&apply_mu_);
  spdlog::warn("config: etcd unusable ({}); applying the running revision {} again",
               problem.message(), running_revision_);
  const std::string yaml = running_yaml_;
  return ApplyLocked(yaml, running_revision_, true);
}

void EtcdConfigSource::Pause() {
  base::MutexLock lock(&apply_mu_);
  paused_ = true;
}

void EtcdConfigSource::Resume() {
  base::MutexLock lock(&apply_mu_);
  paused_ = false;
  if (held_revision_ == 0) return;
  const std::string yaml = std::move(held_yaml_);
  const int64_t revision = held_revision_;
  held_revision_ = 0;
  // Logged and counted inside.
  (void)ApplyLocked(yaml, revision, false);
}

void EtcdConfigSource::Stop() {
  // Outside `apply_mu_`: the watch thread may be waiting for it inside its callback.
  if (watch_ != nullptr) watch_->Stop();
  base::MutexLock lock(&apply_mu_);
  node_ = nullptr;
}

absl::Status EtcdConfigSource::Apply(const std::string& yaml, int64_t mod_revision, bool force) {
  base::MutexLock lock(&apply_mu_);
  return ApplyLocked(yaml, mod_revision, force);
}

absl::Status EtcdConfigSource::ApplyLocked(const std::string& yaml, int64_t mod_revision,
                                           bool force) {
  const std::string name = EtcdDocumentName(source_.key, mod_revision);
  if (node_ == nullptr) return absl::CancelledError("the config source is stopped");
  if (mod_revision < running_revision_ || (mod_revision == running_revision_ && !force)) {
    if (force) {
      spdlog::warn("config: {} is older than the running revision {}; not applied", name,
                   running_revision_);
    }
    return absl::OkStatus();
  }
  if (paused_) {
    if (mod_revision > held_revision_) {
      held_yaml_ = yaml;
      held_revision_ = mod_revision;
    }
    spdlog::info("config: {} held back until the binary upgrade ends", name);
    return absl::OkStatus();
  }
  const absl::StatusOr<config::Config> config = ParseDocument(yaml, name);
  if (absl::Status status = node_->Reload(config); !status.ok()) {
    rejected_->Increment();
    spdlog::error("config: {} rejected, keeping revision {}: {}", name, running_revision_,
                  status.message());
    return status;
  }
  running_revision_ = mod_revision;
  running_yaml_ = yaml;
  applied_->Increment();
  revision_gauge_->Set(mod_revision);
  from_cache_gauge_->Set(0);
  if (absl::Status logging = base::ConfigureLogging(config->log.format, config->log.level);
      !logging.ok()) {
    spdlog::error("config: {}: {}", name, logging.message());
  }
  spdlog::info("config: applied {}", name);
  WriteCache(yaml, mod_revision);
  return absl::OkStatus();
}

void EtcdConfigSource::WriteCache(const std::string& yaml, int64_t mod_revision) {
  const std::string directory = std::filesystem::path(source_.cache_file).parent_path().string();
  absl::Status status =
      directory.empty() ? absl::OkStatus() : base::MakeDirectories(directory, 0700);
  if (status.ok()) {
    status = base::WriteFileAtomically(source_.cache_file,
                                       CacheFileText(source_.key, mod_revision, yaml), 0600,
                                       base::ExistingFile::kReplace);
  }
  // The running config is fine without a cache; only a later start with etcd down needs it.
  if (!status.ok()) spdlog::warn("config: could not cache revision {}: {}", mod_revision, status);
}

}  // namespace gatehouse::node
