// The sans-I/O WebSocket connection core: bytes in, events and bytes out.
//
// A Codec holds everything RFC 6455 (and RFC 7692) asks of one endpoint after
// the handshake: frame parsing at any split of the byte stream, the masking
// rules of its role, fragmentation and control-frame interleaving, incremental
// UTF-8 validation, size limits, permessage-deflate, and the close handshake.
// It never touches a socket: the transport feeds it received bytes and writes
// out what pending_output() holds.
//
// Thread safety: none. A Codec belongs to one connection and is used from that
// connection's thread (its event loop) only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/protocol/deflate.hpp"
#include "sluice/protocol/deflate_params.hpp"
#include "sluice/protocol/error.hpp"
#include "sluice/protocol/frame.hpp"
#include "sluice/protocol/role.hpp"
#include "sluice/protocol/utf8.hpp"

namespace sluice::protocol {

/// Behaviour of one codec, with documented defaults.
struct CodecSettings {
  /// Largest payload of a single received frame; larger is a 1009.
  std::size_t max_frame_size = 16 * 1024 * 1024;
  /// Largest received message after reassembly and inflation; larger is a 1009.
  std::size_t max_message_size = 16 * 1024 * 1024;
  /// Answer every ping with a pong carrying the same payload.
  bool auto_pong = true;
  /// Compression settings for our side (level, memory, threshold) when the
  /// handshake agreed on permessage-deflate.
  DeflateOptions deflate;
};

enum class MessageType : std::uint8_t { text, binary };

/// Receives the events of Codec::receive(), in stream order. Spans passed in
/// are valid only during the call. A handler may call the codec's send
/// functions (e.g. to echo), but must not call receive() re-entrantly.
class CodecHandler {
 public:
  virtual ~CodecHandler() = default;
  /// A complete, validated message.
  virtual void on_message(MessageType type, std::span<const std::uint8_t> payload) = 0;
  virtual void on_ping(std::span<const std::uint8_t> /*payload*/) {}
  virtual void on_pong(std::span<const std::uint8_t> /*payload*/) {}
  /// The peer's close frame (code 1005 when it carried none). Nothing else
  /// follows for this connection.
  virtual void on_close(std::uint16_t /*code*/, std::string_view /*reason*/) {}
};

enum class CodecState : std::uint8_t {
  open,     ///< messages flow both ways
  closing,  ///< we sent a close frame and wait for the peer's
  closed,   ///< the close handshake completed, or the connection failed
};

class Codec {
 public:
  /// `deflate`: the parameters the handshake agreed on, or none.
  explicit Codec(Role role, CodecSettings settings = {}, std::optional<DeflateParams> deflate = {});
  ~Codec();
  Codec(Codec&&) noexcept;
  Codec& operator=(Codec&&) noexcept;

  /// Parses received bytes and reports events to `handler` in order. `data`
  /// may be modified (payloads are unmasked in place). Any split of the
  /// stream works, down to one byte per call. On a protocol violation it
  /// stops, queues a close frame with the fitting code (1002, 1007, 1009),
  /// enters `closed`, and returns the error (also from every later call).
  /// Bytes after the peer's close frame are ignored.
  std::error_code receive(std::span<std::uint8_t> data, CodecHandler& handler);

  /// Queues one message as a single frame (compressed when permessage-deflate
  /// was agreed, `compress` is true and it is at least min_compress_size).
  /// Returns Error::connection_closed once a close frame was sent.
  std::error_code send(MessageType type, std::span<const std::uint8_t> payload, bool compress = true);
  std::error_code send_text(std::string_view text, bool compress = true);

  /// Queues one fragment of a message: `first` starts it with `type`, `fin`
  /// ends it. Fragments are never compressed.
  std::error_code send_fragment(MessageType type, std::span<const std::uint8_t> payload, bool first,
                                bool fin);

  /// Control frames; payloads over 125 bytes are cut to 125 (a close reason to 123).
  std::error_code ping(std::span<const std::uint8_t> payload = {});
  std::error_code pong(std::span<const std::uint8_t> payload = {});

  /// Starts the close handshake (or answers the peer's). `code` must be a valid
  /// wire code (is_valid_wire_close_code) or close_code::no_status (1005) to
  /// send a close frame without a code. Idempotent: a second call is a no-op
  /// that returns connection_closed.
  std::error_code close(std::uint16_t code = 1000, std::string_view reason = {});

  /// Bytes to write to the transport, in order. Valid until the next non-const call.
  std::span<const std::uint8_t> pending_output() const noexcept {
    return {output_.data() + output_start_, output_.size() - output_start_};
  }
  bool has_output() const noexcept { return output_.size() > output_start_; }
  /// Drops the first `n` bytes of pending_output(), once written.
  void consume_output(std::size_t n) noexcept;
  /// Moves every pending output byte into `out` (replacing its contents), so a
  /// transport can write them while the codec keeps queueing into a fresh
  /// buffer. Cheap: a swap when nothing was consumed yet.
  void take_output(std::vector<std::uint8_t>& out);

  CodecState state() const noexcept { return state_; }
  Role role() const noexcept { return role_; }
  /// True once the transport should close after flushing pending_output():
  /// both close frames were exchanged, or the connection failed.
  bool should_close_transport() const noexcept { return state_ == CodecState::closed; }
  bool close_sent() const noexcept { return close_sent_; }
  bool close_received() const noexcept { return close_received_; }
  /// The peer's close code and reason (1006 / empty until a close frame arrived).
  std::uint16_t peer_close_code() const noexcept { return peer_close_code_; }
  const std::string& peer_close_reason() const noexcept;
  /// Whether the codec holds a buffer for a message or control frame split
  /// across receive() calls (none between messages on the server side). For tests.
  bool holds_assembly() const noexcept { return assembly_ != nullptr; }
  /// The error that failed the connection, if any.
  std::error_code failure() const noexcept {
    return failure_ ? make_error_code(static_cast<Error>(failure_)) : std::error_code{};
  }
  bool deflate_enabled() const noexcept { return deflate_ != nullptr; }
  /// Server: permessage-deflate agreed with server_no_context_takeover and a
  /// 15-bit server window, so frames from deflate_server_frames() (compressed
  /// once for many connections) may be sent as they are.
  bool takes_shared_deflate() const noexcept { return takes_shared_deflate_; }

 private:
  std::error_code fail(std::error_code ec);
  std::error_code check_header(const FrameHeader& h);
  std::error_code on_payload(const FrameHeader& frame, std::span<std::uint8_t> chunk, bool frame_done,
                             CodecHandler& handler);
  std::error_code on_control_frame(const FrameHeader& frame, std::span<const std::uint8_t> payload,
                                   CodecHandler& handler);
  std::error_code append_message_bytes(std::span<const std::uint8_t> chunk, bool last_chunk);
  std::size_t assembled_size() const noexcept { return assembly_ ? assembly_->message.size() : 0; }
  void release_assembly_if_unused() noexcept;
  void queue_close(std::uint16_t code, std::string_view reason);

  // Packed (idle memory: every open connection has a codec). Of the
  // settings only what is used after construction is kept.
  std::size_t max_frame_size_;
  std::size_t max_message_size_;
  bool auto_pong_ : 1;
  bool takes_shared_deflate_ : 1 = false;
  Role role_;
  CodecState state_ = CodecState::open;
  std::uint8_t failure_ = 0;  // an Error once failed (every failure is one; a byte, not an error_code)

  // Message being received (possibly fragmented, possibly compressed).
  MessageType message_type_ = MessageType::binary;
  bool in_message_ : 1 = false;
  bool message_compressed_ : 1 = false;
  bool close_sent_ : 1 = false;
  bool close_received_ : 1 = false;
  bool sending_fragmented_ : 1 = false;
  std::uint16_t peer_close_code_ = 1006;

  // A frame split across receive() calls: its header bytes so far, or its
  // header and what is left of its payload. Behind a pointer, held only
  // while a frame is split: most frames arrive whole, and an idle
  // connection should not pay for parsing state (docs/benchmarks.md).
  struct FrameProgress {
    std::array<std::uint8_t, kMaxFrameHeaderSize> header_buf{};
    std::uint8_t header_have = 0;  // bytes of a partial header in header_buf
    std::uint8_t mask_phase = 0;
    bool in_frame = false;         // header done, payload pending
    FrameHeader frame;
    std::uint64_t remaining = 0;   // payload bytes of `frame` still to come
  };
  std::unique_ptr<FrameProgress> progress_;

  // A message (or control frame) that did not arrive whole in one receive()
  // call is assembled here. Behind a pointer and released once delivered (on
  // the server side): most messages are delivered straight from the caller's
  // buffer, and an idle connection should hold no buffer (docs/benchmarks.md).
  struct Assembly {
    std::vector<std::uint8_t> message;
    Utf8Validator utf8;
    std::vector<std::uint8_t> control;  // payload of the control frame being received
  };
  std::unique_ptr<Assembly> assembly_;

  // permessage-deflate, both ways: one pointer, null without it.
  struct Deflate;
  std::unique_ptr<Deflate> deflate_;

  std::vector<std::uint8_t> output_;
  std::size_t output_start_ = 0;

  std::unique_ptr<std::string> peer_close_reason_;  // once a close frame with a reason arrived
};

}  // namespace sluice::protocol
