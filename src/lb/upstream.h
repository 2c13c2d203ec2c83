// Upstream: one backend address of an app and the state every connection to it shares:
// active health (set by the one health checker that governs the upstream), passive ejection (set
// by the dialer after repeated dial failures, and bounded in time), and the exact number of open
// and pending connections (held by UpstreamLease).
//
// Passive ejection. After `eject_after` consecutive dial failures the upstream is ejected for a
// backoff: `EjectionBackoff::initial` the first time, doubled on each re-ejection without an
// intervening success, never more than `EjectionBackoff::max`. When the backoff is over the
// upstream is eligible again, for one trial dial (`AdmitDial()`): while the trial is in flight no
// other dial is admitted; a trial that connects ends the ejection and resets the backoff, one that
// fails ejects the upstream again for the doubled backoff. A passing active check ends an
// ejection at once and resets the backoff too. So an app without active health checks gets a
// recovered upstream back after at most `max` (plus one connect), instead of never.
//
// Active health. Several checkers may be handed one Upstream (two apps sharing it, or the old
// and the new checker of a reload, which overlap). Only one governs at a time: the newest that
// claimed it (`ClaimActiveHealth()`, highest checker id). Verdicts of a checker that does not
// govern are ignored, so an old checker's rise/fall counters cannot undo the new checker's
// verdict. A claim does not reset health: the new checker starts from the health the previous
// one left. When the governing checker stops it releases the upstream, and a checker still
// running over it takes it back at its next check.
//
// An Upstream is shared by all workers and balancers (std::shared_ptr; its lifetime is that of
// the longest holder: a balancer, a health checker or a lease). Thread-safe: the per-connection
// reads (`is_eligible()`, `is_healthy()`, `open_connections()`) and the common dial outcomes are
// lock-free atomics; state transitions (ejection, trials, health verdicts, claims) take `mu_`,
// which is never held across I/O or a callback.
#ifndef GATEHOUSE_LB_UPSTREAM_H_
#define GATEHOUSE_LB_UPSTREAM_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "asio/ip/tcp.hpp"
#include "base/clock.h"
#include "base/mutex.h"

namespace gatehouse::lb {

// How long a passive ejection lasts before the upstream gets a trial dial. 1 s first: a restart
// or a short outage costs an app little capacity, and a failed trial costs one refused connect
// that the dialer fails over. Doubled for each failed trial, up to 60 s: an upstream that stays
// down is tried about once a minute, and one that comes back gets traffic within a minute even
// with no active health checks. `max` below `initial` caps every backoff at `max`; negative
// durations count as zero (a trial at once).
struct EjectionBackoff {
  std::chrono::nanoseconds initial = std::chrono::seconds(1);
  std::chrono::nanoseconds max = std::chrono::seconds(60);
};

// What `Upstream::AdmitDial()` allows one dial to do; handed back with its outcome.
struct DialTicket {
  // False: the upstream is ejected (its backoff is not over, or another dial holds its trial).
  bool admitted = false;
  // Non-zero when this dial is the upstream's trial: identifies the trial, so that the outcome
  // of a trial that was superseded (it lapsed, or an active check ended the ejection meanwhile)
  // is not taken for the current one.
  uint64_t trial = 0;

  bool is_trial() const { return trial != 0; }
};

class Upstream {
 public:
  // `clock` is borrowed and must outlive the upstream; it times passive ejections.
  explicit Upstream(asio::ip::tcp::endpoint endpoint,
                    const base::Clock* clock = &base::SystemClock());
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  Upstream(Upstream&&) = delete;
  Upstream& operator=(Upstream&&) = delete;
  ~Upstream() = default;

  const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // "127.0.0.1:8080" or "[::1]:8080", for logs and metric labels.
  const std::string& name() const { return name_; }

  // May receive new connections: healthy by active checks, and not ejected or ejected with the
  // backoff over and no trial dial in flight. On every balancer pick, so the clock is read only
  // while an ejection is recorded.
  bool is_eligible() const {
    if (!is_healthy()) return false;
    const int64_t until = ejected_until_.load(std::memory_order_relaxed);
    return until == kNotEjected || clock_->Now().time_since_epoch().count() >= until;
  }
  // Upstreams start healthy: traffic flows at once and an upstream that is down is found by
  // the first `fall` checks, while the dialer's failover covers that gap.
  bool is_healthy() const { return healthy_.load(std::memory_order_acquire); }
  // Passively ejected and not yet readmitted (by a trial dial that connected or a passing active
  // check). Stays true after the backoff is over, until the trial succeeds.
  bool is_ejected() const { return ejected_until_.load(std::memory_order_relaxed) != kNotEjected; }

  // Connections counted by live UpstreamLeases: dials in progress plus open connections.
  uint32_t open_connections() const { return open_connections_.load(std::memory_order_acquire); }

  // Sets active health directly, whoever governs it: for code that runs no checker (tests,
  // benchmarks). `true` also ends a passive ejection and resets its backoff.
  void SetHealthy(bool healthy);

  // Active-health governance (see the file comment). `checker` identifies a checker: non-zero,
  // and higher for a newer checker.
  //
  // `checker` governs from now on, unless a newer checker already does.
  void ClaimActiveHealth(uint64_t checker);
  // True when `checker` governs; an upstream that no checker governs (its last one released it)
  // is taken over by `checker` first.
  bool TryGovernActiveHealth(uint64_t checker);
  // `checker` stops governing, if it did. Health stays as it is.
  void ReleaseActiveHealth(uint64_t checker);
  // A verdict of `checker`: sets health when `checker` governs, and then `true` also ends a
  // passive ejection and resets its backoff. Returns false, changing nothing, otherwise.
  bool SetHealthyByChecker(uint64_t checker, bool healthy);

  // Passive outlier detection. The dialer asks before each dial to an upstream a balancer picked:
  // a dial is admitted when the upstream is not ejected, or as its trial when the backoff is
  // over and no other trial is in flight. A trial holds the upstream for `trial_timeout` (the
  // dialer's connect timeout): should its outcome never be reported, another dial may take the
  // trial after that.
  DialTicket AdmitDial(std::chrono::nanoseconds trial_timeout);
  // The dialer reports each admitted dial with its ticket (a default ticket reports an ordinary
  // dial). Success resets the consecutive-failure count, and a current trial's success ends the
  // ejection and resets the backoff: returns true then.
  bool RecordDialSuccess(DialTicket ticket = {});
  // After `eject_after` consecutive failures (0 = never) the upstream is ejected for the next
  // backoff of `backoff`; a current trial's failure ejects it again at once (or, with
  // `eject_after` 0, ends the ejection). Returns true when this failure ejected the upstream.
  // Failures of dials admitted before the ejection do not extend it.
  bool RecordDialFailure(uint32_t eject_after, EjectionBackoff backoff = {},
                         DialTicket ticket = {});

 private:
  friend class UpstreamLease;

  static constexpr int64_t kNotEjected = 0;

  int64_t NowTicks() const;
  void EjectLocked(const EjectionBackoff& backoff) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndEjectionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetHealthyLocked(bool healthy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const asio::ip::tcp::endpoint endpoint_;
  const std::string name_;
  const base::Clock* const clock_;
  // acquire/release: a worker that sees the flag change also sees the log/metric state the
  // writer published before it. Counts use acq_rel for the same reason on the release path.
  std::atomic<bool> healthy_{true};
  // kNotEjected, or the `clock_` tick count from which the upstream may take a trial dial (while
  // a trial is in flight: when it lapses). Written under `mu_`; read without it. Relaxed: the
  // value is the whole message, nothing else is published with it, and every decision that
  // matters (admitting a trial, ending or extending an ejection) re-reads it under `mu_`. A stale
  // read on the pick path costs at most one pick whose dial `AdmitDial()` then refuses, or one
  // pick that skips an upstream just readmitted.
  std::atomic<int64_t> ejected_until_{kNotEjected};
  // Relaxed: a counter with no data attached; the ejection it triggers is decided under `mu_`.
  std::atomic<uint32_t> consecutive_dial_failures_{0};
  std::atomic<uint32_t> open_connections_{0};

  base::Mutex mu_;
  // Ejections since the last readmission by a success; the next backoff is initial * 2^this.
  uint32_t ejections_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t current_trial_ ABSL_GUARDED_BY(mu_) = 0;    // 0: no trial in flight
  uint64_t last_trial_ ABSL_GUARDED_BY(mu_) = 0;       // trial ids are never reused
  uint64_t health_governor_ ABSL_GUARDED_BY(mu_) = 0;  // the governing checker; 0: none
};

// UpstreamLease: one connection slot on an upstream, taken when a balancer picks it (so a
// pending dial already counts for least-connections) and given back when the lease is
// destroyed, on every exit path. Move-only. Thread-compatible (each lease has one owner).
class UpstreamLease {
 public:
  // Takes a slot on `upstream` (not null).
  explicit UpstreamLease(std::shared_ptr<Upstream> upstream);
  UpstreamLease(const UpstreamLease&) = delete;
  UpstreamLease& operator=(const UpstreamLease&) = delete;
  UpstreamLease(UpstreamLease&& other) noexcept = default;
  UpstreamLease& operator=(UpstreamLease&& other) noexcept;
  ~UpstreamLease();

  Upstream& upstream() const { return *upstream_; }
  const std::shared_ptr<Upstream>& shared_upstream() const { return upstream_; }

 private:
  void Release();

  std::shared_ptr<Upstream> upstream_;  // null once moved from
};

// "127.0.0.1:8080" / "[::1]:8080".
std::string EndpointName(const asio::ip::tcp::endpoint& endpoint);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_UPSTREAM_H_
