#include "lb/upstream.h"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace gatehouse::lb {
namespace {

using std::chrono::nanoseconds;

// Ejection times are stored as raw `base::Clock` ticks in an std::atomic<int64_t>.
static_assert(std::is_signed_v<std::chrono::steady_clock::rep> &&
              sizeof(std::chrono::steady_clock::rep) == sizeof(int64_t));

// Re-ejections counted towards the backoff: more doublings than this reach any cap anyway, and
// the bound keeps BackoffAfter()'s loop short.
constexpr uint32_t kMaxEjectionsCounted = 64;

// The backoff of an ejection that follows `ejections` others without a success in between.
nanoseconds BackoffAfter(uint32_t ejections, const EjectionBackoff& backoff) {
  const nanoseconds cap = std::max(backoff.max, nanoseconds::zero());
  nanoseconds wait = std::clamp(backoff.initial, nanoseconds::zero(), cap);
  for (uint32_t i = 0; i < ejections && wait > nanoseconds::zero() && wait < cap; ++i) {
    wait = wait > cap / 2 ? cap : wait * 2;
  }
  return wait;
}

// `now` plus `delay` in clock ticks, saturating instead of overflowing, and never the "not
// ejected" value 0 (a clock may start at its epoch).
int64_t TicksAfter(int64_t now, nanoseconds delay) {
  const int64_t ticks = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::max(delay, nanoseconds::zero()))
                            .count();
  const int64_t headroom = std::numeric_limits<int64_t>::max() - std::max<int64_t>(now, 0);
  const int64_t until = ticks > headroom ? std::numeric_limits<int64_t>::max() : now + ticks;
  return std::max<int64_t>(until, 1);
}

}  // namespace

std::string EndpointName(const asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) return absl::StrCat("[", address, "]:", endpoint.port());
  return absl::StrCat(address, ":", endpoint.port());
}

Upstream::Upstream(asio::ip::tcp::endpoint endpoint, const base::Clock* clock)
    : endpoint_(std::move(endpoint)), name_(EndpointName(endpoint_)), clock_(clock) {}

int64_t Upstream::NowTicks() const { return clock_->Now().time_since_epoch().count(); }

void Upstream::SetHealthy(bool healthy) {
  base::MutexLock lock(&mu_);
  SetHealthyLocked(healthy);
}

void Upstream::SetHealthyLocked(bool healthy) {
  if (healthy) EndEjectionLocked();
  healthy_.store(healthy, std::memory_order_release);
}

void Upstream::ClaimActiveHealth(uint64_t checker) {
  base::MutexLock lock(&mu_);
  // The highest id wins whatever the order of the claims, so two checkers started at once agree
  // on which one governs.
  health_governor_ = std::max(health_governor_, checker);
}

bool Upstream::TryGovernActiveHealth(uint64_t checker) {
  base::MutexLock lock(&mu_);
  if (health_governor_ == 0) health_governor_ = checker;
  return health_governor_ == checker;
}

void Upstream::ReleaseActiveHealth(uint64_t checker) {
  base::MutexLock lock(&mu_);
  if (health_governor_ == checker) health_governor_ = 0;
}

bool Upstream::SetHealthyByChecker(uint64_t checker, bool healthy) {
  // One lock for the test and the store: a checker superseded between the two would otherwise
  // still overwrite the new checker's verdict.
  base::MutexLock lock(&mu_);
  if (health_governor_ != checker) return false;
  SetHealthyLocked(healthy);
  return true;
}

DialTicket Upstream::AdmitDial(nanoseconds trial_timeout) {
  // The common case, on every dial: not ejected; no lock, no clock.
  if (ejected_until_.load(std::memory_order_relaxed) == kNotEjected) return {.admitted = true};
  base::MutexLock lock(&mu_);
  const int64_t until = ejected_until_.load(std::memory_order_relaxed);
  if (until == kNotEjected) return {.admitted = true};
  const int64_t now = NowTicks();
  if (now < until) return {};
  // The backoff is over (or the previous trial lapsed): this dial is the trial. Moving the
  // ejection's end past the trial's own timeout keeps every other dial away until it reports, and
  // lets another dial try should it never report.
  current_trial_ = ++last_trial_;
  ejected_until_.store(TicksAfter(now, trial_timeout), std::memory_order_relaxed);
  return {.admitted = true, .trial = current_trial_};
}

bool Upstream::RecordDialSuccess(DialTicket ticket) {
  // Most dials succeed with nothing to reset: skip the store to a line every worker shares.
  if (consecutive_dial_failures_.load(std::memory_order_relaxed) != 0) {
    consecutive_dial_failures_.store(0, std::memory_order_relaxed);
  }
  if (!ticket.is_trial()) return false;
  base::MutexLock lock(&mu_);
  if (ticket.trial != current_trial_) return false;
  EndEjectionLocked();
  return true;
}

bool Upstream::RecordDialFailure(uint32_t eject_after, EjectionBackoff backoff, DialTicket ticket) {
  const uint32_t failures = consecutive_dial_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (ticket.is_trial()) {
    base::MutexLock lock(&mu_);
    if (ticket.trial == current_trial_) {
      if (eject_after == 0) {
        // Ejection was turned off (by a reload) since this upstream was ejected.
        EndEjectionLocked();
        return false;
      }
      EjectLocked(backoff);
      return true;
    }
    // A superseded trial: counted below like any other failure.
  }
  if (eject_after == 0 || failures < eject_after) return false;
  // Already ejected: dials admitted before the ejection that fail now do not extend it.
  if (ejected_until_.load(std::memory_order_relaxed) != kNotEjected) return false;
  base::MutexLock lock(&mu_);
  // Of several workers crossing the threshold together, one ejects and reports it.
  if (ejected_until_.load(std::memory_order_relaxed) != kNotEjected) return false;
  EjectLocked(backoff);
  return true;
}

void Upstream::EjectLocked(const EjectionBackoff& backoff) {
  const nanoseconds wait = BackoffAfter(ejections_, backoff);
  ejections_ = std::min(ejections_ + 1, kMaxEjectionsCounted);
  current_trial_ = 0;
  ejected_until_.store(TicksAfter(NowTicks(), wait), std::memory_order_relaxed);
}

void Upstream::EndEjectionLocked() {
  ejections_ = 0;
  current_trial_ = 0;
  consecutive_dial_failures_.store(0, std::memory_order_relaxed);
  ejected_until_.store(kNotEjected, std::memory_order_relaxed);
}

UpstreamLease::UpstreamLease(std::shared_ptr<Upstream> upstream) : upstream_(std::move(upstream)) {
  upstream_->open_connections_.fetch_add(1, std::memory_order_acq_rel);
}

UpstreamLease& UpstreamLease::operator=(UpstreamLease&& other) noexcept {
  if (this != &other) {
    Release();
    upstream_ = std::move(other.upstream_);
  }
  return *this;
}

UpstreamLease::~UpstreamLease() { Release(); }

void UpstreamLease::Release() {
  if (upstream_ != nullptr) {
    upstream_->open_connections_.fetch_sub(1, std::memory_order_acq_rel);
    upstream_.reset();
  }
}

}  // namespace gatehouse::lb
