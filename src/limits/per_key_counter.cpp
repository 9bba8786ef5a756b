#include "sluice/limits/per_key_counter.hpp"

#include <utility>

namespace sluice::limits {

PerKeyCounter::Lease::Lease(Lease&& other) noexcept
    : counter_(std::exchange(other.counter_, nullptr)), key_(std::move(other.key_)) {}

PerKeyCounter::Lease& PerKeyCounter::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    counter_ = std::exchange(other.counter_, nullptr);
    key_ = std::move(other.key_);
  }
  return *this;
}

void PerKeyCounter::Lease::release() noexcept {
  if (auto* counter = std::exchange(counter_, nullptr)) counter->release(key_);
}

bool PerKeyCounter::try_acquire(std::string_view key) {
  const std::size_t max = max_per_key();
  {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(key);
    if (it == counts_.end()) {
      counts_.emplace(std::string(key), 1);
      return true;
    }
    if (max == 0 || it->second < max) {
      ++it->second;
      return true;
    }
  }
  refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void PerKeyCounter::release(std::string_view key) noexcept {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);  // bounded memory: no entry for a key holding nothing
}

PerKeyCounter::Lease PerKeyCounter::lease(std::string_view key) {
  if (!try_acquire(key)) return {};
  return Lease(this, std::string(key));
}

std::size_t PerKeyCounter::count(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

std::size_t PerKeyCounter::keys() const {
  std::lock_guard lock(mutex_);
  return counts_.size();
}

namespace {
// "127." followed by anything: the text of an IPv4 address in 127.0.0.0/8
// (the caller's text comes from the socket's peer address, already valid).
bool loopback_v4(std::string_view ip) noexcept { return ip.starts_with("127."); }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool iequal_prefix(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(text[i]) != prefix[i]) return false;
  }
  return true;
}
}  // namespace

bool is_loopback(std::string_view ip) noexcept {
  if (ip == "::1" || ip == "0:0:0:0:0:0:0:1") return true;
  if (loopback_v4(ip)) return true;
  // IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4 peer).
  for (std::string_view mapped : {"::ffff:", "0:0:0:0:0:ffff:"}) {
    if (iequal_prefix(ip, mapped)) return loopback_v4(ip.substr(mapped.size()));
  }
  return false;
}

}  // namespace sluice::limits
