// UTF-8 validation in two parts:
// - a "shift DFA": each input byte selects a 64-bit row in which the next
//   state for every current state sits at that state's bit offset, so one step
//   is a table load and a shift. It carries state across chunks and is the
//   portable fallback;
// - on x86-64 with AVX2, a block validator after Keiser & Lemire, "Validating
//   UTF-8 In Less Than One Instruction Per Byte" (2021), which checks 32 bytes
//   at a time with three nibble lookups per byte pair. It validates the part of
//   each chunk that ends on a code point boundary; the DFA handles a sequence
//   split across chunks.
#include "sluice/protocol/utf8.hpp"

#include <array>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SLUICE_UTF8_AVX2 1

// --- Keiser-Lemire block validation ----------------------------------------
//
// Every invalid UTF-8 text has a pair of adjacent bytes (previous, current)
// that no valid text has, except for runs of continuation bytes that are too
// long or too short, which need the bytes two and three back. Each kind of bad
// pair below is a product of a set of high nibbles of the previous byte, a set
// of its low nibbles and a set of high nibbles of the current byte, so ANDing
// three 16-entry lookups finds all of them at once, one bit per kind.

// A set of nibble values, as a 16-bit mask.
constexpr std::uint16_t nibbles(unsigned first, unsigned last) {
  std::uint16_t set = 0;
  for (unsigned n = first; n <= last; ++n) set = static_cast<std::uint16_t>(set | (1u << n));
  return set;
}
constexpr std::uint16_t kAnyNibble = nibbles(0x0, 0xF);
constexpr std::uint16_t kContinuationHigh = nibbles(0x8, 0xB);  // 80..BF

struct BadPair {
  std::uint16_t prev_high;
  std::uint16_t prev_low;
  std::uint16_t cur_high;
};
// Bit i of a lookup result stands for kBadPairs[i]. Bit 7 is special: two
// continuation bytes in a row, which is an error unless the byte two or three
// back started a 3- or 4-byte sequence (see check_block).
constexpr std::array<BadPair, 8> kBadPairs = {{
    // lead byte not followed by a continuation byte
    {nibbles(0xC, 0xF), kAnyNibble, static_cast<std::uint16_t>(nibbles(0x0, 0x7) | nibbles(0xC, 0xF))},
    // continuation byte after ASCII
    {nibbles(0x0, 0x7), kAnyNibble, kContinuationHigh},
    // E0 80..9F: overlong 3-byte form
    {nibbles(0xE, 0xE), nibbles(0x0, 0x0), nibbles(0x8, 0x9)},
    // F4 90..BF and F5..FF 90..BF: above U+10FFFF
    {nibbles(0xF, 0xF), nibbles(0x4, 0xF), nibbles(0x9, 0xB)},
    // ED A0..BF: UTF-16 surrogate
    {nibbles(0xE, 0xE), nibbles(0xD, 0xD), nibbles(0xA, 0xB)},
    // C0, C1 + continuation: overlong 2-byte form
    {nibbles(0xC, 0xC), nibbles(0x0, 0x1), kContinuationHigh},
    // F0 80..8F (overlong 4-byte form) and F5..FF 80..8F (too large)
    {nibbles(0xF, 0xF), static_cast<std::uint16_t>(nibbles(0x0, 0x0) | nibbles(0x5, 0xF)), nibbles(0x8, 0x8)},
    // two continuation bytes
    {kContinuationHigh, kAnyNibble, kContinuationHigh},
}};

enum class Nibble { prev_high, prev_low, cur_high };

// The 16-entry lookup table for one nibble, repeated for both 128-bit lanes.
constexpr std::array<std::uint8_t, 32> make_lookup(Nibble which) {
  std::array<std::uint8_t, 32> table{};
  for (unsigned n = 0; n < 16; ++n) {
    unsigned bits = 0;
    for (unsigned bit = 0; bit < kBadPairs.size(); ++bit) {
      const BadPair& pair = kBadPairs[bit];
      const std::uint16_t set = which == Nibble::prev_high  ? pair.prev_high
                                : which == Nibble::prev_low ? pair.prev_low
                                                            : pair.cur_high;
      if (set & (1u << n)) bits |= 1u << bit;
    }
    table[n] = table[n + 16] = static_cast<std::uint8_t>(bits);
  }
  return table;
}
constexpr std::array<std::uint8_t, 32> kPrevHighLookup = make_lookup(Nibble::prev_high);
constexpr std::array<std::uint8_t, 32> kPrevLowLookup = make_lookup(Nibble::prev_low);
constexpr std::array<std::uint8_t, 32> kCurHighLookup = make_lookup(Nibble::cur_high);

// A block whose last bytes start a sequence it does not finish is incomplete:
// a lead byte (C0+) last, a 3- or 4-byte lead (E0+) second to last, or a
// 4-byte lead (F0+) third to last. Bytes above these limits mark it.
constexpr std::array<std::uint8_t, 32> make_incomplete_limits() {
  std::array<std::uint8_t, 32> limits{};
  for (auto& limit : limits) limit = 0xFF;
  limits[29] = 0xEF;
  limits[30] = 0xDF;
  limits[31] = 0xBF;
  return limits;
}
constexpr std::array<std::uint8_t, 32> kIncompleteLimits = make_incomplete_limits();

#define SLUICE_AVX2 __attribute__((target("avx2")))

SLUICE_AVX2 inline __m256i load32(const std::uint8_t* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The bytes of `input` moved up by N positions, the last N bytes of `prev` shifted in.
template <int N>
SLUICE_AVX2 inline __m256i previous_bytes(__m256i input, __m256i prev) noexcept {
  // alignr works per 128-bit lane, so pair each lane with the one before it.
  const __m256i before = _mm256_permute2x128_si256(prev, input, 0x21);
  return _mm256_alignr_epi8(input, before, 16 - N);
}

SLUICE_AVX2 inline __m256i high_nibbles(__m256i v) noexcept {
  return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

// Nonzero bytes where `input` (preceded by `prev`) breaks a rule.
SLUICE_AVX2 inline __m256i check_block(__m256i input, __m256i prev) noexcept {
  const __m256i prev1 = previous_bytes<1>(input, prev);
  const __m256i bad_pairs = _mm256_and_si256(
      _mm256_and_si256(_mm256_shuffle_epi8(load32(kPrevHighLookup.data()), high_nibbles(prev1)),
                       _mm256_shuffle_epi8(load32(kPrevLowLookup.data()),
                                           _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
      _mm256_shuffle_epi8(load32(kCurHighLookup.data()), high_nibbles(input)));
  // Two bytes after an E0+ lead or three after an F0+ lead, a continuation must
  // follow a continuation (bit 7 of bad_pairs); anywhere else that pair is an
  // error. The XOR leaves bit 7 set exactly where the two disagree.
  const __m256i third = _mm256_subs_epu8(previous_bytes<2>(input, prev), _mm256_set1_epi8(0x60));
  const __m256i fourth = _mm256_subs_epu8(previous_bytes<3>(input, prev), _mm256_set1_epi8(0x70));
  const __m256i must_continue =
      _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
  return _mm256_xor_si256(must_continue, bad_pairs);
}

// True if [p, p + n) is complete, valid UTF-8, given that a code point ended
// just before p. Stops at the first 32-byte block that holds an error.
SLUICE_AVX2 bool validate_avx2(const std::uint8_t* p, std::size_t n) noexcept {
  __m256i prev = _mm256_setzero_si256();
  __m256i prev_incomplete = _mm256_setzero_si256();
  const __m256i limits = load32(kIncompleteLimits.data());
  // Checks one block; false on an error.
  auto step = [&](__m256i input) SLUICE_AVX2 {
    __m256i error;
    if (_mm256_movemask_epi8(input) == 0) {
      error = prev_incomplete;  // all ASCII: only a sequence left open before it can fail
      prev_incomplete = _mm256_setzero_si256();
    } else {
      error = check_block(input, prev);
      prev_incomplete = _mm256_subs_epu8(input, limits);
    }
    prev = input;
    return _mm256_testz_si256(error, error) != 0;
  };
  for (; n >= 32; p += 32, n -= 32) {
    if (!step(load32(p))) return false;
  }
  if (n > 0) {
    // Zero padding is ASCII: harmless, and it fails a sequence the text leaves unfinished.
    alignas(32) std::uint8_t tail[32] = {};
    std::memcpy(tail, p, n);
    return step(load32(tail));
  }
  return _mm256_testz_si256(prev_incomplete, prev_incomplete) != 0;
}

bool cpu_has_avx2() noexcept {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif  // x86-64 with GCC or Clang

// True if [p, end) is complete, valid UTF-8, given that a code point ended just before p.
bool validate_complete(const std::uint8_t* p, const std::uint8_t* end) noexcept {
#ifdef SLUICE_UTF8_AVX2
  if (cpu_has_avx2()) return validate_avx2(p, static_cast<std::size_t>(end - p));
#endif
  return run(offset_of(kAccept), p, end) == offset_of(kAccept);
}

// Bytes at the end of [p, end) that start a sequence which later bytes may
// still finish (0..3). The text before them is complete or invalid, whatever follows.
std::size_t unfinished_tail(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  const auto size = static_cast<std::size_t>(end - p);
  for (std::size_t back = 1; back <= 3 && back <= size; ++back) {
    const std::uint8_t byte = p[size - back];
    if (byte < 0x80) return 0;                  // ASCII ends a code point
    if (byte < 0xC0) continue;                  // continuation: look further back
    const std::size_t length = byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4;
    return length > back ? back : 0;
  }
  return 0;  // three continuation bytes end a 4-byte sequence, or are an error
}

}  // namespace

bool Utf8Validator::feed(std::span<const std::uint8_t> chunk) noexcept {
  if (state_ == offset_of(kReject)) return false;
  const std::uint8_t* p = chunk.data();
  const std::uint8_t* const end = p + chunk.size();
  // Finish a sequence the previous chunk left open (at most 3 bytes).
  while (p < end && state_ != offset_of(kAccept)) {
    state_ = (kRows[*p++] >> state_) & 63;
    if (state_ == offset_of(kReject)) return false;
  }
  if (p == end) return true;
  // Validate up to the last code point boundary in bulk, then leave the DFA
  // in the state of the unfinished sequence after it (checked byte by byte, so
  // a bad prefix such as E0 80 fails now, not when the next chunk comes).
  const std::uint8_t* const boundary = end - unfinished_tail(p, end);
  if (!validate_complete(p, boundary)) {
    state_ = offset_of(kReject);
    return false;
  }
  state_ = run(offset_of(kAccept), boundary, end);
  return state_ != offset_of(kReject);
}

bool Utf8Validator::failed() const noexcept { return state_ == offset_of(kReject); }

bool is_valid_utf8(std::span<const std::uint8_t> text) noexcept {
  return validate_complete(text.data(), text.data() + text.size());
}

}  // namespace sluice::protocol
