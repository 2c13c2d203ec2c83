// EtcdConfigSource: a node whose config document lives in etcd (`config_source.etcd`), read at
// start and watched after (RFD 0001 section 10).
//
// Every new revision of the key goes through exactly the SIGHUP path: parse, validate, snapshot,
// swap (Node::Reload). A document that does not parse or validate is rejected, logged with its
// revision and counted; the running config stays. Each applied document is written atomically,
// 0600, to the cache file, so that a node whose etcd is down at start serves the last good
// document (and says so in its log and in /metrics). With neither etcd nor a cache, Load fails
// and the daemon refuses to start.
//
// Revisions apply in order and at most once: an update at or below the running revision is
// skipped. The watch resumes after the last revision it delivered across etcd restarts
// (etcd/watch.h). Thread-safe.
#ifndef GATEHOUSE_NODE_ETCD_CONFIG_SOURCE_H_
#define GATEHOUSE_NODE_ETCD_CONFIG_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "config/config.h"
#include "etcd/client.h"
#include "etcd/watch.h"
#include "node/node.h"

namespace gatehouse::node {

// The document a node starts from.
struct InitialDocument {
  config::Config config;
  // The document's text, cached by Watch once the node runs it.
  std::string yaml;
  // The etcd revision the watch starts after: the response's revision when read from etcd, the
  // document's mod_revision when read from the cache.
  int64_t revision = 0;
  int64_t mod_revision = 0;
  bool from_cache = false;
};

// "<etcd KEY at revision N>": the source name parse errors of a document start with.
std::string EtcdDocumentName(const std::string& key, int64_t mod_revision);

// The cache file's text: a comment line naming the key and mod_revision, then the document.
std::string CacheFileText(const std::string& key, int64_t mod_revision, const std::string& yaml);
// Reads the cache file back: the document and its mod_revision. NotFound when there is none;
// InvalidArgument when its first line is not what CacheFileText writes for `key`.
struct CachedDocument {
  std::string yaml;
  int64_t mod_revision = 0;
};
absl::StatusOr<CachedDocument> ReadCacheFile(const std::string& path, const std::string& key);

class EtcdConfigSource {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdConfigSource>> Create(
      const config::EtcdSourceConfig& source);

  EtcdConfigSource(const EtcdConfigSource&) = delete;
  EtcdConfigSource& operator=(const EtcdConfigSource&) = delete;
  EtcdConfigSource(EtcdConfigSource&&) = delete;
  EtcdConfigSource& operator=(EtcdConfigSource&&) = delete;
  ~EtcdConfigSource();

  // The document to start from: etcd's, else the cache's. The error says why neither works.
  absl::StatusOr<InitialDocument> Load();

  // Starts watching for revisions after `initial.revision` and applies them to `node`
  // (borrowed: it must outlive this source, or Stop must be called first). Registers this
  // source's metrics in node.metrics(). Call once.
  absl::Status Watch(Node& node, const InitialDocument& initial);

  // Reads the key now and applies it even at the running revision (SIGHUP: certificate files
  // on disk may have changed). With etcd unreachable, applies the running document again. The
  // error says what failed; the running config stays.
  absl::Status Resync();

  // Holds updates back (the newest is kept) until Resume, which applies it: a binary upgrade
  // hands over listening sockets that a reload must not close meanwhile. Stop ends a pause too.
  void Pause();
  void Resume();

  // Ends the watch; no update applies after it returns. Idempotent.
  void Stop();

 private:
  explicit EtcdConfigSource(config::EtcdSourceConfig source,
                            std::shared_ptr<const etcd::Client> client);

  // Parses and applies `yaml` at `mod_revision` unless an equal or newer one runs (and `force`
  // is false). Rejections are logged and counted here.
  absl::Status Apply(const std::string& yaml, int64_t mod_revision, bool force);
  void WriteCache(const std::string& yaml, int64_t mod_revision);
  // Apply with `apply_mu_` held.
  absl::Status ApplyLocked(const std::string& yaml, int64_t mod_revision, bool force)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);

  const config::EtcdSourceConfig source_;
  const std::shared_ptr<const etcd::Client> client_;

  // Orders applications (the watch thread's and Resync's) so revisions apply in order. Held
  // across Node::Reload on purpose: no connection waits on it, only the next reload does.
  base::Mutex apply_mu_;
  Node* node_ ABSL_GUARDED_BY(apply_mu_) = nullptr;
  int64_t running_revision_ ABSL_GUARDED_BY(apply_mu_) = 0;
  std::string running_yaml_ ABSL_GUARDED_BY(apply_mu_);
  bool paused_ ABSL_GUARDED_BY(apply_mu_) = false;
  // The newest update that arrived while paused; revision 0 = none.
  std::string held_yaml_ ABSL_GUARDED_BY(apply_mu_);
  int64_t held_revision_ ABSL_GUARDED_BY(apply_mu_) = 0;

  std::unique_ptr<etcd::Watch> watch_;
  base::Gauge* revision_gauge_ = nullptr;
  base::Gauge* from_cache_gauge_ = nullptr;
  base::Counter* applied_ = nullptr;
  base::Counter* rejected_ = nullptr;
  std::shared_ptr<const std::function<void()>> watch_collector_;
};

}  // namespace gatehouse::node

#endif  // GATEHOUSE_NODE_ETCD_CONFIG_SOURCE_H_
