#include "sluice/protocol/codec.hpp"

#include <algorithm>
#include <cstring>

#include "sluice/protocol/close_code.hpp"
#include "sluice/protocol/error.hpp"
#include "sluice/util/bytes.hpp"

namespace sluice::protocol {
namespace {

constexpr std::size_t kMaxControlPayload = 125;
constexpr std::size_t kMaxCloseReason = 123;
// A message buffer larger than this is released after delivery, so one big
// message does not pin memory for the connection's lifetime.
constexpr std::size_t kRetainedMessageCapacity = 1024 * 1024;

// Cuts `reason` to at most `limit` bytes without splitting a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view reason, std::size_t limit) noexcept {
  if (reason.size() <= limit) return reason;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) --end;
  return reason.substr(0, end);
}

}  // namespace

struct Codec::Deflate {
  Deflate(MessageDeflater d, MessageInflater i, std::uint32_t min_size)
      : deflater(std::move(d)), inflater(std::move(i)), min_compress_size(min_size) {}
  MessageDeflater deflater;
  MessageInflater inflater;
  std::uint32_t min_compress_size;
};

Codec::Codec(Role role, CodecSettings settings, std::optional<DeflateParams> deflate)
    : max_frame_size_(settings.max_frame_size),
      max_message_size_(settings.max_message_size),
      auto_pong_(settings.auto_pong),
      role_(role) {
  if (deflate) {
    const bool server = role_ == Role::server;
    const int our_bits = server ? deflate->server_max_window_bits : deflate->client_max_window_bits;
    const bool our_reset = server ? deflate->server_no_context_takeover : deflate->client_no_context_takeover;
    const bool peer_reset = server ? deflate->client_no_context_takeover : deflate->server_no_context_takeover;
    // zlib's raw deflate has no 8-bit window; 9 is the smallest it can honour.
    deflate_ = std::make_unique<Deflate>(
        MessageDeflater(std::clamp(our_bits, 9, 15), our_reset, settings.deflate.compression_level,
                        settings.deflate.mem_level),
        MessageInflater(peer_reset), settings.deflate.min_compress_size);
    takes_shared_deflate_ = server && our_reset && our_bits == 15;
  }
}

Codec::~Codec() = default;

const std::string& Codec::peer_close_reason() const noexcept {
  static const std::string none;
  return peer_close_reason_ ? *peer_close_reason_ : none;
}
Codec::Codec(Codec&&) noexcept = default;
Codec& Codec::operator=(Codec&&) noexcept = default;

std::error_code Codec::receive(std::span<std::uint8_t> data, CodecHandler& handler) {
  if (failure_) return failure();
  // This call's parsing state: a frame split across calls resumes from progress_.
  FrameProgress p = progress_ ? *progress_ : FrameProgress{};
  const auto keep_progress = [&]() -> std::error_code {
    if (p.in_frame || p.header_have != 0) {
      if (!progress_) progress_ = std::make_unique<FrameProgress>();
      *progress_ = p;
    } else {
      progress_.reset();
    }
    return {};
  };
  std::size_t pos = 0;
  const std::size_t size = data.size();
  while (pos < size && !close_received_) {
    if (!p.in_frame) {
      std::size_t header_size = 0;
      if (p.header_have == 0) header_size = decode_frame_header(data.subspan(pos), p.frame);
      if (header_size != 0) {
        pos += header_size;  // fast path: the whole header is in this buffer
      } else {
        // Slow path: collect a header split across calls, byte by byte.
        std::size_t need = p.header_have < 2 ? 2 : frame_header_size(p.header_buf[0], p.header_buf[1]);
        while (p.header_have < need && pos < size) {
          p.header_buf[p.header_have++] = data[pos++];
          if (p.header_have == 2) need = frame_header_size(p.header_buf[0], p.header_buf[1]);
        }
        if (p.header_have < need) return keep_progress();
        decode_frame_header({p.header_buf.data(), p.header_have}, p.frame);
        p.header_have = 0;
      }
      if (auto ec = check_header(p.frame)) return fail(ec);
      p.in_frame = true;
      p.remaining = p.frame.payload_length;
      p.mask_phase = 0;
    }
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(p.remaining, size - pos));
    const std::span<std::uint8_t> chunk = data.subspan(pos, take);
    if (p.frame.masked) p.mask_phase = static_cast<std::uint8_t>(apply_mask(chunk, p.frame.mask, p.mask_phase));
    pos += take;
    p.remaining -= take;
    const bool frame_done = p.remaining == 0;
    if (frame_done) p.in_frame = false;
    if (auto ec = on_payload(p.frame, chunk, frame_done, handler)) return fail(ec);
  }
  return keep_progress();
}

std::error_code Codec::check_header(const FrameHeader& h) {
  if (h.rsv2 || h.rsv3) return Error::reserved_bits_set;
  if (!is_known_opcode(h.opcode)) return Error::reserved_opcode;
  if (role_ == Role::server && !h.masked) return Error::unmasked_client_frame;
  if (role_ == Role::client && h.masked) return Error::masked_server_frame;
  if (!h.minimal_length) return Error::non_minimal_length;
  if (h.payload_length >> 63) return Error::length_high_bit_set;

  const auto op = static_cast<Opcode>(h.opcode);
  if (is_control(op)) {
    if (h.rsv1) return Error::reserved_bits_set;
    if (!h.fin) return Error::fragmented_control_frame;
    if (h.payload_length > kMaxControlPayload) return Error::control_frame_too_long;
    if (assembly_) assembly_->control.clear();
    return {};
  }
  // A compressed frame is streamed through the (bounded) inflater, and
  // incompressible data grows a little under deflate: allow that slack.
  const bool compressed = op == Opcode::continuation ? message_compressed_ : h.rsv1;
  const std::uint64_t frame_limit =
      compressed ? max_frame_size_ + max_frame_size_ / 64 + 1024 : max_frame_size_;
  if (h.payload_length > frame_limit) return Error::frame_too_big;
  if (op == Opcode::continuation) {
    if (!in_message_) return Error::unexpected_continuation;
    if (h.rsv1) return Error::reserved_bits_set;  // RSV1 marks only a message's first frame
  } else {
    if (in_message_) return Error::expected_continuation;
    if (h.rsv1 && !deflate_) return Error::reserved_bits_set;
    in_message_ = true;
    message_type_ = op == Opcode::text ? MessageType::text : MessageType::binary;
    message_compressed_ = h.rsv1;
    if (assembly_) {
      assembly_->message.clear();
      assembly_->utf8.reset();
    }
  }
  // Compressed sizes say nothing of the inflated size; the inflater enforces that limit.
  if (!message_compressed_ && assembled_size() + h.payload_length > max_message_size_) {
    return Error::message_too_big;
  }
  return {};
}

std::error_code Codec::on_payload(const FrameHeader& frame, std::span<std::uint8_t> chunk, bool frame_done,
                                  CodecHandler& handler) {
  if (is_control(static_cast<Opcode>(frame.opcode))) {
    if (frame_done && chunk.size() == frame.payload_length) return on_control_frame(frame, chunk, handler);  // whole
    if (!assembly_) assembly_ = std::make_unique<Assembly>();
    auto& control = assembly_->control;
    control.insert(control.end(), chunk.begin(), chunk.end());
    if (!frame_done) return {};
    auto ec = on_control_frame(frame, control, handler);
    if (assembly_) {  // on_control_frame may have run a handler, never one that resets the codec
      assembly_->control = std::vector<std::uint8_t>();  // not `= {}`: that keeps the capacity
      release_assembly_if_unused();
    }
    return ec;
  }
  const bool message_done = frame_done && frame.fin;
  if (message_done && !message_compressed_ && assembled_size() == 0 && chunk.size() == frame.payload_length) {
    // Zero-copy: the whole message is this one frame, already in the caller's buffer.
    if (message_type_ == MessageType::text && !is_valid_utf8(chunk)) return Error::invalid_utf8;
    in_message_ = false;
    handler.on_message(message_type_, chunk);
    return {};
  }
  if (auto ec = append_message_bytes(chunk, message_done)) return ec;
  if (message_done) {
    if (message_type_ == MessageType::text && !assembly_->utf8.complete()) return Error::invalid_utf8;
    in_message_ = false;
    handler.on_message(message_type_, assembly_->message);
    assembly_->message.clear();
    // A server has many mostly idle connections: none keeps a message buffer
    // between messages. A client keeps one (bounded) to receive fast.
    if (role_ == Role::server || assembly_->message.capacity() > kRetainedMessageCapacity) {
      assembly_->message = std::vector<std::uint8_t>();
      release_assembly_if_unused();
    }
  }
  return {};
}

void Codec::release_assembly_if_unused() noexcept {
  if (assembly_ && assembly_->message.capacity() == 0 && assembly_->control.capacity() == 0) assembly_.reset();
}

std::error_code Codec::append_message_bytes(std::span<const std::uint8_t> chunk, bool last_chunk) {
  if (!assembly_) assembly_ = std::make_unique<Assembly>();
  auto& message = assembly_->message;
  const std::size_t before = message.size();
  if (message_compressed_) {
    if (auto ec = deflate_->inflater.decompress(chunk, last_chunk, message, max_message_size_)) return ec;
  } else {
    message.insert(message.end(), chunk.begin(), chunk.end());
  }
  // Validate only the new bytes, so invalid text fails as soon as it arrives.
  if (message_type_ == MessageType::text && !assembly_->utf8.feed({message.data() + before, message.size() - before})) {
    return Error::invalid_utf8;
  }
  return {};
}

std::error_code Codec::on_control_frame(const FrameHeader& frame, std::span<const std::uint8_t> control,
                                        CodecHandler& handler) {
  switch (static_cast<Opcode>(frame.opcode)) {
    case Opcode::ping:
      handler.on_ping(control);
      if (auto_pong_ && !close_sent_) {
        append_frame(output_, role_, Opcode::pong, control);
      }
      return {};
    case Opcode::pong:
      handler.on_pong(control);
      return {};
    case Opcode::close: {
      std::uint16_t code = close_code::no_status;
      std::string_view reason;
      if (control.size() == 1) return Error::bad_close_payload;
      if (control.size() >= 2) {
        code = static_cast<std::uint16_t>((control[0] << 8) | control[1]);
        if (!is_valid_wire_close_code(code)) return Error::bad_close_code;
        const std::span<const std::uint8_t> reason_bytes(control.data() + 2, control.size() - 2);
        if (!is_valid_utf8(reason_bytes)) return Error::invalid_close_reason;
        reason = {reinterpret_cast<const char*>(reason_bytes.data()), reason_bytes.size()};
      }
      close_received_ = true;
      peer_close_code_ = code;
      if (!reason.empty()) peer_close_reason_ = std::make_unique<std::string>(reason);
      if (!close_sent_) queue_close(code, {});  // echo the peer's code (RFC 6455 §5.5.1)
      state_ = CodecState::closed;
      handler.on_close(code, peer_close_reason());
      return {};
    }
    default:
      return Error::reserved_opcode;  // unreachable: check_header admits only known opcodes
  }
}

std::error_code Codec::fail(std::error_code ec) {
  // Every failure here is one of protocol::Error (a value that fits a byte).
  failure_ = &ec.category() == &protocol_category() ? static_cast<std::uint8_t>(ec.value())
                                                     : static_cast<std::uint8_t>(Error::deflate_failed);
  if (!close_sent_) queue_close(close_code_for(ec), ec.message());
  state_ = CodecState::closed;
  return ec;
}

void Codec::queue_close(std::uint16_t code, std::string_view reason) {
  std::uint8_t payload[kMaxControlPayload];
  std::size_t size = 0;
  if (code != close_code::no_status) {
    payload[0] = static_cast<std::uint8_t>(code >> 8);
    payload[1] = static_cast<std::uint8_t>(code);
    reason = truncate_utf8(reason, kMaxCloseReason);
    if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());  // an empty view may be null
    size = 2 + reason.size();
  }
  append_frame(output_, role_, Opcode::close, {payload, size});
  close_sent_ = true;
  state_ = close_received_ ? CodecState::closed : CodecState::closing;
}

std::error_code Codec::send(MessageType type, std::span<const std::uint8_t> payload, bool compress) {
  if (close_sent_) return Error::connection_closed;
  if (sending_fragmented_) return Error::expected_continuation;
  const Opcode op = type == MessageType::text ? Opcode::text : Opcode::binary;
  if (deflate_ && compress && payload.size() >= deflate_->min_compress_size) {
    // Compressed output is built in a per-thread buffer, not one per codec
    // (idle memory); it is copied into output_ at once, so none is shared.
    thread_local std::vector<std::uint8_t> scratch;
    scratch.clear();
    if (auto ec = deflate_->deflater.compress(payload, scratch)) return ec;
    append_frame(output_, role_, op, scratch, true, true);
    if (scratch.capacity() > 1024 * 1024) scratch = {};  // a big message's buffer is not kept per thread
  } else {
    append_frame(output_, role_, op, payload);
  }
  return {};
}

std::error_code Codec::send_text(std::string_view text, bool compress) {
  return send(MessageType::text, bytes_of(text), compress);
}

std::error_code Codec::send_fragment(MessageType type, std::span<const std::uint8_t> payload, bool first,
                                     bool fin) {
  if (close_sent_) return Error::connection_closed;
  if (first && sending_fragmented_) return Error::expected_continuation;
  if (!first && !sending_fragmented_) return Error::unexpected_continuation;
  const Opcode op = !first ? Opcode::continuation : type == MessageType::text ? Opcode::text : Opcode::binary;
  append_frame(output_, role_, op, payload, fin);
  sending_fragmented_ = !fin;
  return {};
}

std::error_code Codec::ping(std::span<const std::uint8_t> payload) {
  if (close_sent_) return Error::connection_closed;
  append_frame(output_, role_, Opcode::ping, payload.first(std::min(payload.size(), kMaxControlPayload)));
  return {};
}

std::error_code Codec::pong(std::span<const std::uint8_t> payload) {
  if (close_sent_) return Error::connection_closed;
  append_frame(output_, role_, Opcode::pong, payload.first(std::min(payload.size(), kMaxControlPayload)));
  return {};
}

std::error_code Codec::close(std::uint16_t code, std::string_view reason) {
  if (close_sent_) return Error::connection_closed;
  if (code != close_code::no_status && !is_valid_wire_close_code(code)) return Error::bad_close_code;
  if (!is_valid_utf8(bytes_of(reason))) return Error::invalid_close_reason;
  queue_close(code, code == close_code::no_status ? std::string_view{} : reason);
  return {};
}

void Codec::consume_output(std::size_t n) noexcept {
  output_start_ += std::min(n, output_.size() - output_start_);
  if (output_start_ == output_.size()) {
    output_.clear();
    output_start_ = 0;
  }
}

void Codec::take_output(std::vector<std::uint8_t>& out) {
  out.clear();
  if (output_start_ == 0) {
    out.swap(output_);
  } else {
    out.assign(output_.begin() + static_cast<std::ptrdiff_t>(output_start_), output_.end());
    output_.clear();
    output_start_ = 0;
  }
}

}  // namespace sluice::protocol
