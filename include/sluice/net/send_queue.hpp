// The per-connection send queue: ordered, bounded in bytes, with a control
// lane (ping/pong) that goes ahead of queued data so backpressure never
// starves it. Entries are whole frames; a published frame is shared (not
// copied) by every recipient's queue.
//
// Not thread-safe: owned by one connection, used on its loop only.
#pragma once

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

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
};

class SendQueue {
 public:
  /// `limit_bytes`: data beyond it is refused (the caller applies its policy).
  /// Control frames may use `control_headroom` bytes beyond the limit.
  explicit SendQueue(std::size_t limit_bytes, std::size_t control_headroom = 64 * 1024)
      : limit_(limit_bytes), control_headroom_(control_headroom) {}

  enum class Result { queued, over_limit };

  /// Appends a data frame unless bytes() + its size would exceed the limit;
  /// an empty queue accepts any one frame (a big message is not a slow consumer).
  Result push(OutChunk chunk);
  /// Appends a data frame regardless of the limit: for the few frames a
  /// connection must send whatever happens (the handshake response, the close
  /// frame after its queue was dropped). Callers keep these rare and small.
  void push_unbounded(OutChunk chunk);
  /// Queues a control frame ahead of data not yet being written. Refused only
  /// when even the headroom is used up (a peer that pings but never reads).
  Result push_control(OutChunk chunk);

  /// Fills `out` with the next write: control frames first, then data, up to
  /// kMaxWriteBytes / kMaxWriteBuffers (always at least one chunk), and marks
  /// them in flight. Returns false if a write is in flight or nothing is queued.
  bool start_write(std::vector<boost::asio::const_buffer>& out);
  /// The in-flight write completed: releases its chunks.
  void finish_write();
  /// Drops queued data not yet in flight; returns the bytes dropped.
  std::size_t drop_pending_data();

  /// Changes the limit; frames already queued stay.
  void set_limit(std::size_t limit_bytes) noexcept { limit_ = limit_bytes; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t limit() const noexcept { return limit_; }
  bool writing() const noexcept { return !in_flight_.empty(); }
  bool has_pending() const noexcept { return !control_.empty() || !data_.empty(); }
  bool empty() const noexcept { return !writing() && !has_pending(); }

  static constexpr std::size_t kMaxWriteBytes = 1024 * 1024;
  static constexpr std::size_t kMaxWriteBuffers = 256;

 private:
  std::size_t limit_;
  std::size_t control_headroom_;
  std::size_t bytes_ = 0;  // queued + in flight
  std::deque<OutChunk> control_;
  std::deque<OutChunk> data_;
  std::vector<OutChunk> in_flight_;
};

}  // namespace sluice::net
