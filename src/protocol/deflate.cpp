// permessage-deflate (RFC 7692 §7.2) on zlib: raw deflate streams, one
// Z_SYNC_FLUSH per message, the 00 00 ff ff tail removed on send and put back
// on receive.
//
// Not thread-safe: each object is owned by one connection's codec.
#include "sluice/protocol/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <limits>
#include <new>

#include "sluice/protocol/error.hpp"

namespace sluice::protocol {
namespace {

// The tail of every Z_SYNC_FLUSH (an empty stored block's LEN/NLEN), RFC 7692 §7.2.1.
constexpr std::array<std::uint8_t, 4> kTail{0x00, 0x00, 0xff, 0xff};

// Output grows by at least this much per zlib call, and at most doubles per call.
constexpr std::size_t kMinChunk = 16 * 1024;

// zlib counts bytes in uInt; larger spans are fed in pieces of at most this size.
constexpr std::size_t kMaxZlibChunk = std::numeric_limits<uInt>::max();

// Grows `out` to `new_size` bytes, never reserving beyond `cap_limit` (unless
// new_size itself is larger), so a bounded caller gets a bounded allocation.
void grow_to(std::vector<std::uint8_t>& out, std::size_t new_size, std::size_t cap_limit) {
  if (new_size > out.capacity()) {
    const std::size_t doubled =
        out.capacity() > cap_limit / 2 ? cap_limit : std::max(out.capacity() * 2, new_size);
    out.reserve(std::max(new_size, std::min(doubled, cap_limit)));
  }
  out.resize(new_size);
}

// zlib takes non-const input pointers but never writes through them.
Bytef* zlib_in(const std::uint8_t* p) noexcept { return const_cast<Bytef*>(p); }

}  // namespace

// ---------------------------------------------------------------------------
// MessageDeflater

struct MessageDeflater::Impl {
  z_stream strm{};
  bool initialized = false;
  bool failed = false;  // set on any zlib error; the stream state is unknown afterwards
  bool no_context_takeover = false;
  int window_bits = 15;
  int level = 6;
  int mem_level = 8;

  // zlib's state (about 256 KiB at 15 bits) is allocated by the first
  // message: a connection that only ever gets shared, already compressed
  // frames (protocol/shared_deflate.hpp) never pays for it.
  bool ready() {
    if (initialized || failed) return initialized;
    // Negative window bits select raw deflate (no zlib header or checksum), RFC 7692 §7.2.1.
    const int rc = deflateInit2(&strm, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY);
    initialized = rc == Z_OK;
    failed = !initialized;  // out of memory or out-of-range parameters
    return initialized;
  }

  ~Impl() {
    if (initialized) deflateEnd(&strm);
  }
};

MessageDeflater::MessageDeflater(int window_bits, bool no_context_takeover, int level,
                                 int mem_level)
    : impl_(std::make_unique<Impl>()) {
  impl_->no_context_takeover = no_context_takeover;
  impl_->window_bits = window_bits;
  impl_->level = level;
  impl_->mem_level = mem_level;
}

MessageDeflater::~MessageDeflater() = default;
MessageDeflater::MessageDeflater(MessageDeflater&&) noexcept = default;
MessageDeflater& MessageDeflater::operator=(MessageDeflater&&) noexcept = default;

std::error_code MessageDeflater::compress(std::span<const std::uint8_t> message,
                                          std::vector<std::uint8_t>& out) {
  if (!impl_ || !impl_->ready()) return Error::deflate_failed;
  z_stream& strm = impl_->strm;
  const std::size_t start = out.size();
  const auto fail = [&]() -> std::error_code {
    impl_->failed = true;
    out.resize(start);
    strm.next_in = nullptr;
    strm.avail_in = 0;
    strm.next_out = nullptr;
    strm.avail_out = 0;
    return Error::deflate_failed;
  };

  // First guess at the output size: zlib's bound plus room for the flush markers.
  const uLong bound_input =
      message.size() > std::numeric_limits<uLong>::max() ? 0 : static_cast<uLong>(message.size());
  std::size_t chunk = std::max<std::size_t>(deflateBound(&strm, bound_input) + 16, 64);

  const std::uint8_t* next = message.data();
  std::size_t left = message.size();
  strm.avail_in = 0;
  for (;;) {
    if (strm.avail_in == 0 && left > 0) {
      const std::size_t take = std::min(left, kMaxZlibChunk);
      strm.next_in = zlib_in(next);
      strm.avail_in = static_cast<uInt>(take);
      next += take;
      left -= take;
    }
    // Only the last piece of input is flushed; earlier pieces just feed the stream.
    const int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;

    const std::size_t before = out.size();
    const std::size_t avail = std::min(chunk, kMaxZlibChunk);
    grow_to(out, before + avail, std::numeric_limits<std::size_t>::max());
    strm.next_out = out.data() + before;
    strm.avail_out = static_cast<uInt>(avail);
    const int rc = deflate(&strm, flush);
    out.resize(before + (avail - strm.avail_out));

    if (rc == Z_BUF_ERROR) {
      // No progress possible: only legitimate when all input is in and already
      // flushed (an empty message after a previous sync flush).
      if (strm.avail_in != 0 || left != 0) return fail();
      break;
    }
    if (rc != Z_OK) return fail();
    // A sync flush is complete once deflate returns with output space to spare.
    if (strm.avail_in == 0 && left == 0 && strm.avail_out != 0) break;
    chunk = std::max(chunk, out.size() - start);  // roughly double the output each round
  }
  strm.next_in = nullptr;
  strm.next_out = nullptr;
  strm.avail_out = 0;

  const std::size_t produced = out.size() - start;
  if (produced == 0) {
    // zlib emits nothing for an empty message after an earlier sync flush; the
    // empty stored block header 0x00 is what RFC 7692 §7.2.3.6 sends instead.
    out.push_back(0x00);
  } else if (produced >= kTail.size() && std::equal(kTail.begin(), kTail.end(), out.end() - 4)) {
    out.resize(out.size() - kTail.size());
  } else {
    return fail();  // a sync flush always ends with the tail; anything else is a zlib bug
  }

  if (impl_->no_context_takeover && deflateReset(&strm) != Z_OK) return fail();
  return {};
}

// ---------------------------------------------------------------------------
// MessageInflater

struct MessageInflater::Impl {
  z_stream strm{};
  bool initialized = false;
  bool failed = false;  // after an error the stream state is unknown
  bool no_context_takeover = false;
  bool stream_ended = false;  // the peer's deflate stream hit BFINAL during this message

  ~Impl() {
    if (initialized) inflateEnd(&strm);
  }

  // Feeds `input` through inflate, appending to `out` without exceeding `limit`.
  std::error_code feed(std::span<const std::uint8_t> input, std::vector<std::uint8_t>& out,
                       std::size_t limit);
};

std::error_code MessageInflater::Impl::feed(std::span<const std::uint8_t> input,
                                            std::vector<std::uint8_t>& out, std::size_t limit) {
  const std::size_t start = out.size();
  const std::uint8_t* next = input.data();
  std::size_t left = input.size();
  std::array<std::uint8_t, 1> probe{};  // output sink used once `out` has reached the limit
  strm.avail_in = 0;

  for (;;) {
    if (strm.avail_in == 0 && left > 0) {
      const std::size_t take = std::min(left, kMaxZlibChunk);
      strm.next_in = zlib_in(next);
      strm.avail_in = static_cast<uInt>(take);
      next += take;
      left -= take;
    }

    const std::size_t before = out.size();
    const std::size_t room = limit > before ? limit - before : 0;
    std::size_t avail = 0;
    if (room == 0) {
      // At the limit: any byte inflate still produces means the message is too big.
      strm.next_out = probe.data();
      strm.avail_out = static_cast<uInt>(probe.size());
    } else {
      // Check the limit before growing: never ask for more than `room` bytes.
      avail = std::min({room, kMaxZlibChunk, std::max(kMinChunk, before - start)});
      grow_to(out, before + avail, limit);
      strm.next_out = out.data() + before;
      strm.avail_out = static_cast<uInt>(avail);
    }

    const int rc = inflate(&strm, Z_SYNC_FLUSH);
    if (room == 0) {
      if (strm.avail_out == 0) return Error::message_too_big;
    } else {
      out.resize(before + (avail - strm.avail_out));
    }

    switch (rc) {
      case Z_OK:
        break;
      case Z_STREAM_END:
        // The peer ended its deflate stream (BFINAL, RFC 7692 §7.2.3.4): what
        // follows, if anything, is a fresh stream with an empty window.
        stream_ended = true;
        if (inflateReset(&strm) != Z_OK) return Error::inflate_failed;
        break;
      case Z_BUF_ERROR:
        // No progress: normal once all input is consumed and all output written.
        if (strm.avail_in != 0 || left != 0) return Error::inflate_failed;
        return {};
      default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR, Z_MEM_ERROR
        return Error::inflate_failed;
    }
    // Done when all input is in and inflate stopped with output space to spare.
    if (strm.avail_in == 0 && left == 0 && strm.avail_out != 0) return {};
  }
}

MessageInflater::MessageInflater(bool no_context_takeover) : impl_(std::make_unique<Impl>()) {
  impl_->no_context_takeover = no_context_takeover;
  // Raw deflate with the largest window decodes whatever window the peer chose.
  const int rc = inflateInit2(&impl_->strm, -15);
  if (rc == Z_MEM_ERROR) throw std::bad_alloc();
  if (rc != Z_OK) {
    impl_->failed = true;  // e.g. a zlib version mismatch: report inflate_failed later
    return;
  }
  impl_->initialized = true;
}

MessageInflater::~MessageInflater() = default;
MessageInflater::MessageInflater(MessageInflater&&) noexcept = default;
MessageInflater& MessageInflater::operator=(MessageInflater&&) noexcept = default;

std::error_code MessageInflater::decompress(std::span<const std::uint8_t> frame_payload,
                                            bool last_frame, std::vector<std::uint8_t>& out,
                                            std::size_t limit) {
  if (!impl_ || impl_->failed || !impl_->initialized) return Error::inflate_failed;
  Impl& impl = *impl_;

  std::error_code ec = impl.feed(frame_payload, out, limit);
  if (!ec && last_frame) ec = impl.feed(kTail, out, limit);
  // zlib keeps no pointer into the caller's buffers between calls.
  impl.strm.next_in = nullptr;
  impl.strm.avail_in = 0;
  impl.strm.next_out = nullptr;
  impl.strm.avail_out = 0;
  if (ec) {
    impl.failed = true;
    return ec;
  }

  if (last_frame) {
    // After BFINAL, a fresh stream that has produced nothing holds no context but
    // may hold a partial stored-block header made of the tail: start clean.
    const bool empty_fresh_stream = impl.stream_ended && impl.strm.total_out == 0;
    // A sender's data ends with an empty stored block minus its last four
    // bytes (RFC 7692 §7.2.1), so with the tail the inflater stands between
    // blocks (zlib: data_type bit 128). Anywhere else the message was cut short.
    if (!empty_fresh_stream && (impl.strm.data_type & 128) == 0) {
      impl.failed = true;
      return Error::inflate_failed;
    }
    if ((impl.no_context_takeover || empty_fresh_stream) && inflateReset(&impl.strm) != Z_OK) {
      impl.failed = true;
      return Error::inflate_failed;
    }
    impl.stream_ended = false;
  }
  return {};
}

}  // namespace sluice::protocol
