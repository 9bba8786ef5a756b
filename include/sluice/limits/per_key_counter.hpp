// Counts what each key (a client IP) holds at once, e.g. open connections,
// and refuses more than a maximum per key (SPEC §3 Security: per-IP
// connection limits).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sluice/limits/string_hash.hpp"

namespace sluice::limits {

/// A count per key with a maximum. Memory is bounded by what is held: a
/// key's entry is erased when its count returns to zero, so there is one
/// entry per key holding at least one (e.g. per IP with an open connection).
///
/// Thread safety: every member function may be called from any thread at
/// once; the mutex is held only for the table update.
class PerKeyCounter {
 public:
  /// Holds one unit of a key until destroyed (or release()d); empty when the
  /// acquire was refused. Move-only; the counter must outlive it.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }
    /// True while it holds a unit.
    explicit operator bool() const noexcept { return counter_ != nullptr; }
    /// Gives the unit back now (idempotent).
    void release() noexcept;

   private:
    friend class PerKeyCounter;
    Lease(PerKeyCounter* counter, std::string key) : counter_(counter), key_(std::move(key)) {}
    PerKeyCounter* counter_ = nullptr;
    std::string key_;
  };

  /// `max_per_key`: units one key may hold at once; 0: no limit (units are
  /// still counted, so a limit set later by set_max_per_key() counts what is
  /// held already).
  explicit PerKeyCounter(std::size_t max_per_key) : max_(max_per_key) {}
  PerKeyCounter(const PerKeyCounter&) = delete;
  PerKeyCounter& operator=(const PerKeyCounter&) = delete;

  /// Takes one unit for `key` if it holds fewer than the maximum (or there
  /// is none); false (and counted as a refusal) otherwise. Thread-safe.
  bool try_acquire(std::string_view key);
  /// Gives back one unit taken by try_acquire(). A key holding none is left
  /// alone (a release never makes room it did not take). Thread-safe.
  void release(std::string_view key) noexcept;
  /// try_acquire() as a Lease that releases when it goes. Thread-safe.
  Lease lease(std::string_view key);

  /// Units `key` holds now. Thread-safe.
  std::size_t count(std::string_view key) const;
  /// Keys holding at least one unit now. Thread-safe.
  std::size_t keys() const;
  /// Thread-safe.
  std::size_t max_per_key() const noexcept { return max_.load(std::memory_order_relaxed); }
  /// A new maximum (a reload), for the next acquire; units held beyond it
  /// stay held. 0: no limit. Thread-safe.
  void set_max_per_key(std::size_t max_per_key) noexcept { max_.store(max_per_key, std::memory_order_relaxed); }
  /// Acquires refused so far (for metrics). Thread-safe.
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> max_;
  std::atomic<std::uint64_t> refused_{0};
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> counts_;
};

/// True for a loopback address in text form: 127.0.0.0/8, ::1, and
/// 127.x.y.z mapped into IPv6 (::ffff:127.x.y.z). Thread-safe.
bool is_loopback(std::string_view ip) noexcept;

}  // namespace sluice::limits
