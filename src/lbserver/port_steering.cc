#include "lbserver/port_steering.h"

#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "spdlog/spdlog.h"

namespace gatehouse::lbserver {
namespace {

std::string GroupKey(const std::string& app, const asio::ip::address& address) {
  return absl::StrCat("sk_lookup:", app, address.is_v6() ? ":ipv6" : ":ipv4");
}

// Where a steered group's sockets are bound: never dialed by clients, only steered into.
config::Address GroupBindAddress(const asio::ip::address& address) {
  return config::Address{address.is_v6() ? "::1" : "127.0.0.1", 0};
}

}  // namespace

absl::Status PortSteering::EnsureAttached() {
  if (steering_ != nullptr) return absl::OkStatus();
  GH_ASSIGN_OR_RETURN(steering_, steer::SkLookupSteering::Attach());
  spdlog::info("lb: BPF sk_lookup steering attached to the network namespace");
  return absl::OkStatus();
}

absl::Status PortSteering::PlanRange(const std::string& app, const config::Address& range,
                                     bool allow_steering, ListenPlan& plan) {
  const uint32_t ports = uint32_t{range.LastPort()} - range.port + 1;
  const absl::Status steering =
      allow_steering ? EnsureAttached() : absl::FailedPreconditionError("it is turned off");
  if (steering.ok()) {
    std::error_code error;
    const asio::ip::address address = asio::ip::make_address(range.host, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("lb app ", app, " listen ", range.ToString(), ": ", error.message()));
    }
    const std::string key = GroupKey(app, address);
    plan.listeners[key] = ListenPlan::Listener{app, GroupBindAddress(address)};
    std::set<SteeredPort>& group = plan.steered[key];
    for (uint32_t port = range.port; port <= range.LastPort(); ++port) {
      group.insert(SteeredPort{address, static_cast<uint16_t>(port)});
    }
    return absl::OkStatus();
  }
  if (ports > kMaxPlainRangePorts) {
    return absl::FailedPreconditionError(absl::StrCat(
        "lb app ", app, " listen ", range.ToString(), ": a range of ", ports,
        " ports needs BPF sk_lookup steering, which is unavailable (", steering.message(),
        "); without it a range may have at most ", kMaxPlainRangePorts, " ports"));
  }
  spdlog::warn(
      "lb app {} listen {}: BPF sk_lookup steering is unavailable ({}); {} plain listener(s) per "
      "worker instead",
      app, range.ToString(), steering.message(), ports);
  for (uint32_t port = range.port; port <= range.LastPort(); ++port) {
    const config::Address single{range.host, static_cast<uint16_t>(port)};
    plan.listeners[single.ToString()] = ListenPlan::Listener{app, single};
  }
  return absl::OkStatus();
}

absl::StatusOr<ListenPlan> PortSteering::Plan(const config::LbConfig& lb, bool allow_steering) {
  ListenPlan plan;
  for (const config::LbAppConfig& app : lb.apps) {
    for (const config::Address& listen : app.listen) {
      if (listen.IsRange()) {
        GH_RETURN_IF_ERROR(PlanRange(app.name, listen, allow_steering, plan));
      } else {
        plan.listeners[listen.ToString()] = ListenPlan::Listener{app.name, listen};
      }
    }
  }
  size_t steered_ports = 0;
  for (const auto& [key, ports] : plan.steered) steered_ports += ports.size();
  if (steered_ports > steer::SkLookupSteering::kMaxPorts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lb: ", steered_ports, " ports to steer; at most ", steer::SkLookupSteering::kMaxPorts));
  }
  return plan;
}

absl::StatusOr<uint32_t> PortSteering::AllocateSlots(uint32_t count) {
  used_slots_.resize(steer::SkLookupSteering::kMaxSockets, false);
  uint32_t run = 0;
  for (uint32_t slot = 0; slot < used_slots_.size(); ++slot) {
    run = used_slots_[slot] ? 0 : run + 1;
    if (run == count) {
      const uint32_t first = slot + 1 - count;
      for (uint32_t i = first; i <= slot; ++i) used_slots_[i] = true;
      return first;
    }
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("lb: no ", count, " free sk_lookup socket slots (of ", used_slots_.size(), ")"));
}

void PortSteering::ReleaseGroup(const std::string& key) {
  const auto group = groups_.find(key);
  if (group == groups_.end()) return;
  for (uint32_t i = 0; i < group->second.slot_count; ++i) {
    const uint32_t slot = group->second.first_slot + i;
    // Best effort: the socket's own close takes it out of the map as well.
    const absl::Status cleared = steering_->ClearSocket(slot);
    if (!cleared.ok()) spdlog::warn("lb: {}", cleared.message());
    used_slots_[slot] = false;
  }
  groups_.erase(group);
}

absl::Status PortSteering::AddGroups(const std::map<std::string, std::vector<int>>& sockets) {
  std::map<std::string, std::vector<int>> added;
  for (const auto& [key, fds] : sockets) {
    absl::StatusOr<uint32_t> first = AllocateSlots(static_cast<uint32_t>(fds.size()));
    absl::Status status = first.status();
    if (first.ok()) {
      groups_[key] = Group{*first, static_cast<uint32_t>(fds.size())};
      added[key] = fds;
      for (size_t i = 0; i < fds.size() && status.ok(); ++i) {
        status = steering_->SetSocket(*first + static_cast<uint32_t>(i), fds[i]);
      }
    }
    if (!status.ok()) {
      AbandonGroups(added);
      return {status.code(), absl::StrCat(key, ": ", status.message())};
    }
  }
  return absl::OkStatus();
}

void PortSteering::AbandonGroups(const std::map<std::string, std::vector<int>>& sockets) {
  for (const auto& [key, fds] : sockets) ReleaseGroup(key);
}

void PortSteering::Commit(const ListenPlan& plan) {
  std::map<std::string, size_t> added;
  for (const auto& [key, ports] : plan.steered) {
    const Group& group = groups_.at(key);
    for (const SteeredPort& port : ports) {
      const auto owner = owner_.find(port);
      if (owner != owner_.end() && owner->second == key) continue;
      const absl::Status steered =
          steering_->SteerPort(port.address, port.port, group.first_slot, group.slot_count);
      if (!steered.ok()) {
        spdlog::error("lb {}: {}; that port refuses connections", key, steered.message());
        continue;
      }
      owner_[port] = key;
      ++added[key];
    }
  }
  size_t removed = 0;
  for (auto it = owner_.begin(); it != owner_.end();) {
    const auto group = plan.steered.find(it->second);
    if (group != plan.steered.end() && group->second.contains(it->first)) {
      ++it;
      continue;
    }
    const absl::Status unsteered = steering_->UnsteerPort(it->first.address, it->first.port);
    if (!unsteered.ok()) spdlog::warn("lb: {}", unsteered.message());
    it = owner_.erase(it);
    ++removed;
  }
  std::vector<std::string> gone;
  for (const auto& [key, group] : groups_) {
    if (!plan.steered.contains(key)) gone.push_back(key);
  }
  for (const std::string& key : gone) ReleaseGroup(key);
  for (const auto& [key, count] : added) {
    spdlog::info("lb {}: steering {} more port(s), {} in all", key, count,
                 plan.steered.at(key).size());
  }
  if (removed > 0) spdlog::info("lb: stopped steering {} port(s)", removed);
  if (steered_ports_ != nullptr) steered_ports_->Set(static_cast<int64_t>(owner_.size()));
}

void PortSteering::Detach() {
  steering_.reset();
  groups_.clear();
  owner_.clear();
  used_slots_.clear();
  if (steered_ports_ != nullptr) steered_ports_->Set(0);
}

}  // namespace gatehouse::lbserver
