#include "lb/upstream.h"

#include "absl/strings/str_cat.h"

namespace gatehouse::lb {

std::string EndpointName(const asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) return absl::StrCat("[", address, "]:", endpoint.port());
  return absl::StrCat(address, ":", endpoint.port());
}

Upstream::Upstream(asio::ip::tcp::endpoint endpoint)
    : endpoint_(std::move(endpoint)), name_(EndpointName(endpoint_)) {}

void Upstream::SetHealthy(bool healthy) {
  if (healthy) {
    consecutive_dial_failures_.store(0, std::memory_order_relaxed);
    ejected_.store(false, std::memory_order_release);
  }
  healthy_.store(healthy, std::memory_order_release);
}

void Upstream::RecordDialSuccess() {
  consecutive_dial_failures_.store(0, std::memory_order_relaxed);
}

bool Upstream::RecordDialFailure(uint32_t eject_after) {
  const uint32_t failures = consecutive_dial_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (eject_after == 0 || failures < eject_after) return false;
  // exchange: of several workers crossing the threshold together, one reports the ejection.
  return !ejected_.exchange(true, std::memory_order_acq_rel);
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
