// The per-connection send queue: ordered, bounded in bytes, with a control
// lane (ping/pong) that goes ahead of queued data so backpressure never
// starves it. Entries are whole frames; a published frame is shared (not
// copied) by every recipient's queue.
//
// Two ways to write it out: gather()/consume() for a non-blocking gather
// write straight on the socket (plain TCP: partial writes are normal), and
// start_write()/finish_write() for a write that completes whole or fails
// (Asio's async_write, used for TLS).
//
// Not thread-safe: owned by one connection, used on its loop only.
#pragma once

#include <boost/asio/buffer.hpp>

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sluice/metrics/registry.hpp"

namespace sluice::net {

/// Immutable bytes of one or more whole frames, kept alive by `owner`.
struct OutChunk {
  std::shared_ptr<const void> owner;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;

  /// Shares a frame built once for many recipients.
  static OutChunk shared(std::shared_ptr<const std::string> bytes);
  /// Takes ownership of bytes built for this connection only.
  static OutChunk owned(std::vector<std::uint8_t>&& bytes);
  static OutChunk owned(std::string&& bytes);  ///< no copy of an HTTP response
};

/// A FIFO of chunks in one power-of-two ring, allocated on the first push and
/// released when it empties: an idle connection's queue holds no heap memory
/// (a std::deque allocates 576 bytes even when empty).
class ChunkRing {
 public:
  ChunkRing() = default;
  ChunkRing(const ChunkRing&) = delete;
  ChunkRing& operator=(const ChunkRing&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  OutChunk& front() noexcept { return slots_[head_]; }
  const OutChunk& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & (capacity_ - 1)]; }
  void push_back(OutChunk chunk);
  /// Removes the first chunk; the storage goes when the last one does.
  void pop_front() noexcept;
  void clear() noexcept;

 private:
  std::unique_ptr<OutChunk[]> slots_;
  std::uint32_t head_ = 0;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;
};

class SendQueue {
 public:
  /// `limit_bytes`: data beyond it is refused (the caller applies its policy).
  /// Control frames may use `control_headroom` bytes beyond the limit. Both
  /// are kept in 32 bits (idle memory): larger values count as 4 GiB - 1.
  explicit SendQueue(std::size_t limit_bytes, std::size_t control_headroom = 64 * 1024)
      : limit_(clamp32(limit_bytes)), control_headroom_(clamp32(control_headroom)) {}
  ~SendQueue();
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  /// Mirrors bytes() into `gauge` (shared by many queues, null: none) from
  /// now on; the queue's bytes leave it when the queue is destroyed. The
  /// gauge must outlive the queue.
  void set_bytes_gauge(metrics::Gauge* gauge) noexcept;

  enum class Result { queued, over_limit };

  /// Appends a data frame unless bytes() + its size would exceed the limit;
  /// an empty queue accepts any one frame (a big message is not a slow consumer).
  Result push(OutChunk chunk);
  /// Whether push() would take a data frame of this size now.
  bool accepts(std::size_t size) const noexcept { return bytes_ == 0 || bytes_ + size <= limit_; }
  /// Appends a data frame regardless of the limit: for the few frames a
  /// connection must send whatever happens (the handshake response, the close
  /// frame after its queue was dropped). Callers keep these rare and small.
  void push_unbounded(OutChunk chunk);
  /// Queues a control frame ahead of data not yet being written. Refused only
  /// when even the headroom is used up (a peer that pings but never reads).
  Result push_control(OutChunk chunk);

  // --- non-blocking gather writes (plain TCP) ---

  /// Fills up to `max_buffers` iovecs with the next bytes to write, in order:
  /// the rest of a frame a previous write stopped inside, control frames, then
  /// data, up to kMaxWriteBytes (always at least one chunk). Returns how many
  /// it filled and their total in `total_bytes`. Changes nothing: follow with
  /// consume() before queueing anything else.
  std::size_t gather(iovec* out, std::size_t max_buffers, std::size_t& total_bytes) const;
  /// `n` bytes (at most what gather() offered) were written: releases the
  /// frames written whole and remembers where a frame was cut, so only that
  /// frame's rest goes before newer control frames.
  void consume(std::size_t n);

  // --- whole writes (Asio's async_write, TLS) ---

  /// Fills `out` with the next write: control frames first, then data, up to
  /// kMaxWriteBytes / kMaxWriteBuffers (always at least one chunk), and marks
  /// them in flight. Returns false if a write is in flight or nothing is queued.
  bool start_write(std::vector<boost::asio::const_buffer>& out);
  /// The in-flight write completed: releases its chunks.
  void finish_write();

  /// Drops queued data not yet in flight (a frame cut by a partial write
  /// stays: it must be finished); returns the bytes dropped.
  std::size_t drop_pending_data();

  /// Changes the limit; frames already queued stay.
  void set_limit(std::size_t limit_bytes) noexcept { limit_ = clamp32(limit_bytes); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t limit() const noexcept { return limit_; }
  bool writing() const noexcept { return lanes_ && !lanes_->in_flight.empty(); }
  bool has_pending() const noexcept {
    return lanes_ && (lanes_->partial.size != 0 || !lanes_->control.empty() || !lanes_->data.empty());
  }
  bool empty() const noexcept { return !writing() && !has_pending(); }
  /// Whether the queue holds its lanes (only while something is queued: an
  /// idle queue is a few words). For tests.
  bool holds_storage() const noexcept { return lanes_ != nullptr; }

  static constexpr std::size_t kMaxWriteBytes = 1024 * 1024;
  /// For start_write(); Asio hands at most 16 of them to one sendmsg anyway.
  static constexpr std::size_t kMaxWriteBuffers = 256;
  /// For gather(): Linux's IOV_MAX, the most one sendmsg takes.
  static constexpr std::size_t kMaxGatherBuffers = 1024;

 private:
  static std::uint32_t clamp32(std::size_t n) noexcept {
    return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
  }
  std::uint32_t limit_;
  std::uint32_t control_headroom_;
  void add_bytes(std::size_t n) noexcept {
    bytes_ += n;
    if (gauge_) gauge_->add(static_cast<std::int64_t>(n));
  }
  void sub_bytes(std::size_t n) noexcept {
    bytes_ -= n;
    if (gauge_) gauge_->add(-static_cast<std::int64_t>(n));
  }

  std::size_t bytes_ = 0;  // queued + in flight + the rest of a cut frame
  metrics::Gauge* gauge_ = nullptr;  // /metrics' send-queue bytes, or null

 public:
  /// What a queue holds while anything is queued or in flight.
  struct Lanes {
    ChunkRing control;
    ChunkRing data;
    ChunkRing in_flight;
    OutChunk partial;              // the frame a partial gather write stopped inside
    std::size_t partial_sent = 0;  // how much of it went out
  };

 private:
  struct LanesRelease {
    void operator()(Lanes* lanes) const noexcept;
  };
  Lanes& lanes();                    // allocates them (from the thread's cache) if needed
  void release_lanes_if_empty() noexcept;
  void consume_from_lanes(std::size_t n);
  // Behind a pointer, and returned to a per-thread cache when the queue
  // empties: an idle connection's queue costs 40 bytes instead of 144
  // (idle memory, docs/benchmarks.md) and fan-out allocates nothing new.
  std::unique_ptr<Lanes, LanesRelease> lanes_;
};

}  // namespace sluice::net
