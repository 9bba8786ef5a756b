// permessage-deflate (RFC 7692) compression of whole messages, on zlib.
//
// Not thread-safe: each object belongs to one connection's codec and is used
// from that connection's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

namespace sluice::protocol {

/// Compresses outgoing messages for one connection.
class MessageDeflater {
 public:
  /// window_bits: 9..15 (the negotiated max_window_bits of our side);
  /// no_context_takeover: start every message with an empty dictionary;
  /// level: 0..9, mem_level: 1..9. zlib's state is allocated by the first
  /// compress(), which reports Error::deflate_failed if it cannot be.
  MessageDeflater(int window_bits, bool no_context_takeover, int level = 6, int mem_level = 8);
  ~MessageDeflater();
  MessageDeflater(MessageDeflater&&) noexcept;
  MessageDeflater& operator=(MessageDeflater&&) noexcept;
  MessageDeflater(const MessageDeflater&) = delete;
  MessageDeflater& operator=(const MessageDeflater&) = delete;

  /// Compresses one whole message and appends it to `out`, without the
  /// 00 00 ff ff tail that RFC 7692 §7.2.1 removes. An empty message compresses
  /// to the single byte 0x00. Returns Error::deflate_failed on a zlib error.
  std::error_code compress(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Decompresses incoming messages for one connection. Always inflates with a
/// 15-bit window, which decodes any window the peer may have used.
class MessageInflater {
 public:
  /// no_context_takeover: the peer resets its dictionary after each message,
  /// so we reset ours too. Throws std::bad_alloc if zlib cannot allocate.
  explicit MessageInflater(bool no_context_takeover);
  ~MessageInflater();
  MessageInflater(MessageInflater&&) noexcept;
  MessageInflater& operator=(MessageInflater&&) noexcept;
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  /// Decompresses the payload of one frame of a compressed message and appends
  /// the output to `out`. With `last_frame`, also feeds the 00 00 ff ff tail and
  /// ends the message. Never grows `out` beyond `limit` bytes: returns
  /// Error::message_too_big as soon as the output would exceed it (a
  /// compression bomb costs at most `limit` bytes). Returns Error::inflate_failed
  /// on corrupt data. After an error the object must not be used again.
  std::error_code decompress(std::span<const std::uint8_t> frame_payload, bool last_frame,
                             std::vector<std::uint8_t>& out, std::size_t limit);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::protocol
