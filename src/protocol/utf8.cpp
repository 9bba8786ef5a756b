// UTF-8 validation with a "shift DFA": each input byte selects a 64-bit row in
// which the next state for every current state sits at that state's bit offset,
// so one step is a table load and a shift (no second table lookup on the
// critical path). ASCII runs are skipped 16 bytes at a time.
#include "sluice/protocol/utf8.hpp"

#include <array>
#include <cstring>

namespace sluice::protocol {
namespace {

// DFA states, per the well-formed byte sequences of RFC 3629 §4.
enum State : unsigned {
  kAccept,      // between code points
  kReject,      // invalid; absorbing
  kNeed1,       // one continuation byte (80..BF) left
  kNeed2,       // two left
  kNeed3,       // three left
  kAfterE0,     // E0: next must be A0..BF (no overlong 3-byte forms)
  kAfterED,     // ED: next must be 80..9F (no UTF-16 surrogates)
  kAfterF0,     // F0: next must be 90..BF (no overlong 4-byte forms)
  kAfterF4,     // F4: next must be 80..8F (nothing above U+10FFFF)
  kStateCount
};
constexpr unsigned kBitsPerState = 6;  // 9 states x 6 bits fit a 64-bit row
constexpr std::uint64_t offset_of(unsigned state) { return std::uint64_t{state} * kBitsPerState; }

constexpr unsigned next_state(unsigned state, unsigned byte) {
  const bool cont = byte >= 0x80 && byte <= 0xBF;
  switch (state) {
    case kAccept:
      if (byte <= 0x7F) return kAccept;
      if (byte >= 0xC2 && byte <= 0xDF) return kNeed1;
      if (byte == 0xE0) return kAfterE0;
      if (byte == 0xED) return kAfterED;
      if (byte >= 0xE1 && byte <= 0xEF) return kNeed2;
      if (byte == 0xF0) return kAfterF0;
      if (byte >= 0xF1 && byte <= 0xF3) return kNeed3;
      if (byte == 0xF4) return kAfterF4;
      return kReject;  // 80..C1 as a lead byte, F5..FF
    case kNeed1: return cont ? kAccept : kReject;
    case kNeed2: return cont ? kNeed1 : kReject;
    case kNeed3: return cont ? kNeed2 : kReject;
    case kAfterE0: return byte >= 0xA0 && byte <= 0xBF ? kNeed1 : kReject;
    case kAfterED: return byte >= 0x80 && byte <= 0x9F ? kNeed1 : kReject;
    case kAfterF0: return byte >= 0x90 && byte <= 0xBF ? kNeed2 : kReject;
    case kAfterF4: return byte >= 0x80 && byte <= 0x8F ? kNeed2 : kReject;
    default: return kReject;
  }
}

constexpr std::array<std::uint64_t, 256> make_rows() {
  std::array<std::uint64_t, 256> rows{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    std::uint64_t row = 0;
    for (unsigned state = 0; state < kStateCount; ++state) {
      row |= offset_of(next_state(state, byte)) << offset_of(state);
    }
    rows[byte] = row;
  }
  return rows;
}
constexpr std::array<std::uint64_t, 256> kRows = make_rows();

constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;

// Advances the DFA over `data`; returns the final state offset.
std::uint64_t run(std::uint64_t state, const std::uint8_t* p, const std::uint8_t* end) noexcept {
  while (p < end) {
    if (state == offset_of(kAccept)) {
      // Skip ASCII 16 bytes at a time; only at a code point boundary.
      while (end - p >= 16) {
        std::uint64_t a, b;
        std::memcpy(&a, p, 8);
        std::memcpy(&b, p + 8, 8);
        if ((a | b) & kHighBits) break;
        p += 16;
      }
      if (p == end) break;
    }
    // Run the DFA for a block, then re-check for ASCII or rejection.
    const std::uint8_t* block_end = end - p > 16 ? p + 16 : end;
    while (p < block_end) state = (kRows[*p++] >> state) & 63;
    if (state == offset_of(kReject)) return state;
  }
  return state;
}

}  // namespace

bool Utf8Validator::feed(std::span<const std::uint8_t> chunk) noexcept {
  if (state_ == offset_of(kReject)) return false;
  state_ = run(state_, chunk.data(), chunk.data() + chunk.size());
  return state_ != offset_of(kReject);
}

bool Utf8Validator::failed() const noexcept { return state_ == offset_of(kReject); }

bool is_valid_utf8(std::span<const std::uint8_t> text) noexcept {
  return run(offset_of(kAccept), text.data(), text.data() + text.size()) == offset_of(kAccept);
}

}  // namespace sluice::protocol
