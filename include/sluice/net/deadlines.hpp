// One timer per event loop for every connection's timeouts (handshake,
// keep-alive ping, pong, idle, close). Why: an Asio timer per connection is
// 72 bytes plus a pending wait operation (~100 bytes) for as long as it is
// armed, which with keep-alive pings is the whole life of an idle
// connection, and every re-arm (each keep-alive HTTP response, each ping) is
// a cancel and a new operation.
//
// Timeouts come in a few fixed durations (the configured ones), so entries
// are kept in one FIFO lane per duration: entries armed with the same
// duration expire in the order they were armed, each lane is sorted by
// construction, and arm/cancel are O(1) list operations. One Asio timer
// waits for the earliest lane head.
//
// Thread safety: one Deadlines per io_context (an Asio service); every member,
// and every Entry's arm/cancel, is used on the thread running that
// io_context. Lifetime: an armed Entry must be cancelled before it is
// destroyed (Entry's destructor does it); when the io_context shuts down,
// every entry is detached and never fires.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

namespace sluice::net {

class Deadlines : public boost::asio::io_context::service {
 public:
  using Clock = std::chrono::steady_clock;
  struct Lane;

  /// A deadline embedded in its owner (intrusive: no allocation per arm).
  class Entry {
   public:
    Entry() = default;
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    bool armed() const noexcept { return lane_ != nullptr; }

   protected:
    virtual ~Entry();
    /// The deadline passed. Called on the loop, with the entry already
    /// disarmed; may re-arm it. The owner keeps itself alive for the call.
    virtual void on_deadline() = 0;

   private:
    friend class Deadlines;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
    Lane* lane_ = nullptr;
    Clock::time_point at_{};
  };

  static boost::asio::io_context::id id;

  explicit Deadlines(boost::asio::io_context& io);
  ~Deadlines() override;

  /// The loop's deadlines, created on first use.
  static Deadlines& of(boost::asio::io_context& io) { return boost::asio::use_service<Deadlines>(io); }

  /// (Re-)arms `entry` to fire `after` from now (replacing an earlier arm).
  void arm(Entry& entry, std::chrono::milliseconds after);
  /// Disarms `entry`; harmless when it is not armed.
  static void cancel(Entry& entry) noexcept;

  /// Armed entries (for tests).
  std::size_t size() const noexcept { return armed_; }

  struct Lane {
    Deadlines* owner = nullptr;
    std::chrono::milliseconds duration{};
    Entry* head = nullptr;
    Entry* tail = nullptr;
  };

 private:
  void shutdown() override;
  Lane& lane_for(std::chrono::milliseconds duration);
  void schedule(Clock::time_point at);
  void expire();
  static void unlink(Entry& entry) noexcept;  // cancel() without stopping the shared wait
  Entry* earliest() const noexcept;

  boost::asio::steady_timer timer_;
  bool waiting_ = false;
  Clock::time_point waiting_until_{};
  std::size_t armed_ = 0;
  std::vector<std::unique_ptr<Lane>> lanes_;  // few: one per configured duration
};

}  // namespace sluice::net
